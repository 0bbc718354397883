#!/usr/bin/env bash
# bench/media.sh: `barge iso` against `xorriso -as mkisofs -R -J` on the same
# bundle files (at least 2 GiB in all), in the same run.  Not a test: it
# prints figures and ratios and asserts nothing about time.
#
# The bundles are real: BENCH_IMAGES images of BENCH_LAYER_MIB MiB random
# layers (BENCH_MEDIA_MIB / BENCH_COPIES MiB in all, default 1024) are pushed
# to a loopback docker-registry and built with `barge build` (barge iso reads
# each bundle's barge.json, so random files named *.tar.zst would not do);
# the bundle is then copied BENCH_COPIES times (default 2) under other names,
# so the image holds BENCH_MEDIA_MIB MiB (default 2048) of bundle files.
#
# Each of BENCH_RUNS rounds (default 3, page cache warm for both) times
# xorriso (no fsync of its output), xorriso followed by `sync -f` (what
# barge's fsync costs it), and `barge iso` (the image, each bundle read once
# and hashed on the way for BARGE.JSON; written with O_DIRECT where the file
# system allows, unnamed (O_TMPFILE) until fsynced and linked).  While barge
# runs, the bytes under the work directory, the unnamed image included, are
# sampled every 0.1 s: with no temporary copy of the payload, their peak
# growth is the image itself.
#
# Env: BARGE (default build/bundler/barge: build RelWithDebInfo, as
# scripts/check does), BENCH_MEDIA_MIB, BENCH_COPIES, BENCH_LAYER_MIB,
# BENCH_IMAGES, BENCH_RUNS, BENCH_KEEP_TMP=1; BENCH_BUNDLE=FILE uses an
# existing bundle instead of building one.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
TOTAL_MIB=${BENCH_MEDIA_MIB:-2048}
COPIES=${BENCH_COPIES:-2}
LAYER_MIB=${BENCH_LAYER_MIB:-64}
NIMAGES=${BENCH_IMAGES:-4}
RUNS=${BENCH_RUNS:-3}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in docker-registry:docker-registry skopeo:skopeo jq:jq openssl:openssl xorriso:xorriso \
	bc:bc; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$BARGE" ] || it_die "missing $BARGE: build it first (cmake -S . -B build && make -C build barge)"

it_tmpdir
T=$IT_TMP
mkdir -p "$T/media"
if [ -n "${BENCH_BUNDLE:-}" ]; then
	ONE=$BENCH_BUNDLE
else
	BUNDLE_MIB=$((TOTAL_MIB / COPIES))
	PER_IMAGE=$(((BUNDLE_MIB + NIMAGES * LAYER_MIB - 1) / (NIMAGES * LAYER_MIB)))
	it_log "making $NIMAGES images of $PER_IMAGE x $LAYER_MIB MiB random layers in $T"
	it_registry_start
	for i in $(seq 1 "$NIMAGES"); do
		layout=$T/images/img$i
		it_layout_init "$layout"
		layers=()
		for j in $(seq 1 "$PER_IMAGE"); do
			it_random_file "$T/layer" $((LAYER_MIB * 1048576)) "media-$i-$j"
			d=$(it_blob_add "$layout/blobs/sha256" "$T/layer")
			layers+=("application/vnd.oci.image.layer.v1.tar $d $((LAYER_MIB * 1048576)) $d")
		done
		it_make_image "$layout" 1.0 linux/amd64 "${layers[@]}" >/dev/null
		it_push "$T/images" "img$i"
		rm -rf "$layout"
	done
	names=()
	for i in $(seq 1 "$NIMAGES"); do names+=("img$i"); done
	ONE=$T/media/bench-1.0.0.tar.zst
	it_log "barge build"
	it_build_bundle "$ONE" bench 1.0.0 "${names[@]}"
	rm -rf "$T/cache" "$T/registry" "$T/images"
fi
FILES=()
for c in $(seq 1 "$COPIES"); do
	f=$T/media/copy$c-1.0.0.tar.zst
	cp "$ONE" "$f"
	FILES+=("$f")
done
[ -n "${BENCH_BUNDLE:-}" ] || rm -f "$ONE"
BYTES=0
for f in "${FILES[@]}"; do BYTES=$((BYTES + $(stat -c %s "$f"))); done
it_log "$COPIES bundle files, $((BYTES / 1048576)) MiB in all"

now() { date +%s%N; }
# watch DIR OUT PID: samples every 0.1 s into OUT, until killed, the bytes
# under DIR (du -sb) plus those of the unnamed files (O_TMPFILE, which du
# does not see) in DIR that process PID holds open.
watch_du() {
	local s f l
	while :; do
		s=$(du -sb "$1" 2>/dev/null | cut -f1)
		for f in /proc/"$3"/fd/*; do
			l=$(readlink "$f" 2>/dev/null) || continue
			case $l in "$1"/*" (deleted)") s=$((s + $(stat -L -c %s "$f" 2>/dev/null || echo 0))) ;; esac
		done
		echo "$s" >>"$2"
		sleep 0.1
	done
}
mkdir -p "$T/out"
best_x=0 best_xs=0 best_b=0 peak_max=0
# Each round's barge / xorriso and barge / (xorriso+sync): the two ran back
# to back, under about the same load from whatever else shares the machine.
ratios_x=() ratios_xs=()
for r in $(seq 1 "$RUNS"); do
	rm -f "$T/out/"*
	sync
	t0=$(now)
	xorriso -as mkisofs -quiet -R -J -o "$T/out/x.iso" "${FILES[@]}" 2>"$T/xorriso.err" ||
		it_die "xorriso failed: $(cat "$T/xorriso.err")"
	t1=$(now)
	sync -f "$T/out/x.iso"
	t2=$(now)
	x=$((t1 - t0))
	xs=$((t2 - t0))
	xsize=$(stat -c %s "$T/out/x.iso")
	rm -f "$T/out/x.iso"
	sync
	: >"$T/du.txt"
	base_bytes=$(du -sb "$T" | cut -f1)
	t0=$(now)
	"$BARGE" iso -q "${FILES[@]}" --output-file "$T/out/b.iso" >"$T/barge.out" 2>&1 &
	bpid=$!
	watch_du "$T" "$T/du.txt" "$bpid" &
	wpid=$!
	wait "$bpid" || it_die "barge iso failed: $(cat "$T/barge.out")"
	t1=$(now)
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	b=$((t1 - t0))
	bsize=$(stat -c %s "$T/out/b.iso")
	peak=$(($(sort -n "$T/du.txt" | tail -1) - base_bytes))
	printf 'round %d: xorriso %6.2f s   xorriso+sync %6.2f s   barge iso %6.2f s   ratios %.2f %.2f   peak growth %d MiB (image %d MiB, xorriso image %d MiB)\n' \
		"$r" "$(bc -l <<<"$x / 1000000000")" "$(bc -l <<<"$xs / 1000000000")" \
		"$(bc -l <<<"$b / 1000000000")" "$(bc -l <<<"$b / $x")" "$(bc -l <<<"$b / $xs")" \
		$((peak / 1048576)) $((bsize / 1048576)) $((xsize / 1048576))
	ratios_x+=("$(bc -l <<<"$b / $x")")
	ratios_xs+=("$(bc -l <<<"$b / $xs")")
	[ "$best_x" -ne 0 ] && [ "$x" -ge "$best_x" ] || best_x=$x
	[ "$best_xs" -ne 0 ] && [ "$xs" -ge "$best_xs" ] || best_xs=$xs
	[ "$best_b" -ne 0 ] && [ "$b" -ge "$best_b" ] || best_b=$b
	[ "$peak" -le "$peak_max" ] || peak_max=$peak
done
rm -f "$T/out/"*
mib() { bc -l <<<"$BYTES / 1048576 / ($1 / 1000000000)"; }
echo
printf 'bundles: %d files, %d MiB\n' "$COPIES" $((BYTES / 1048576))
printf '%-46s %6.2f s %8.1f MiB/s\n' "xorriso -as mkisofs -R -J (no fsync)" \
	"$(bc -l <<<"$best_x / 1000000000")" "$(mib "$best_x")"
printf '%-46s %6.2f s %8.1f MiB/s\n' "xorriso + sync -f" \
	"$(bc -l <<<"$best_xs / 1000000000")" "$(mib "$best_xs")"
printf '%-46s %6.2f s %8.1f MiB/s\n' "barge iso (image + sha256 + fsync)" \
	"$(bc -l <<<"$best_b / 1000000000")" "$(mib "$best_b")"
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf 'time ratio barge / xorriso:        %.2f best of each, %.2f median of rounds (goal <= 1.00)\n' \
	"$(bc -l <<<"$best_b / $best_x")" "$(median "${ratios_x[@]}")"
printf 'time ratio barge / xorriso+sync:   %.2f best of each, %.2f median of rounds\n' \
	"$(bc -l <<<"$best_b / $best_xs")" "$(median "${ratios_xs[@]}")"
printf 'peak disk growth during barge iso: %d MiB for %d MiB of bundles (no temporary copy: about the image)\n' \
	$((peak_max / 1048576)) $((BYTES / 1048576))
