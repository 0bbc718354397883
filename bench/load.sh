#!/usr/bin/env bash
# bench/load.sh: `barged load` against the floor, `zstd -dc BUNDLE | tar -x
# -C DIR` (decompress and unpack, no verification, no fsync), on the same
# bundle of at least 1 GiB in the same run.  Not a test: it prints figures
# and ratios and asserts nothing about time.
#
# The bundle: BENCH_IMAGES images of BENCH_LAYER_MIB MiB random layers,
# BENCH_LOAD_MIB MiB in all (default 4 x 64 MiB layers, 1024 MiB), pushed to a
# loopback docker-registry and built with `barge build`.  Each of
# BENCH_RUNS rounds (default 3) runs the floor, the floor followed by
# `sync -f` (what durability costs it), and `barged load` into an empty
# store (every digest verified, every blob fsynced), under /usr/bin/time -v
# for barged's peak RSS.  The best round of each is compared.
#
# Env: BARGE, BARGED (default build/...: build RelWithDebInfo, as
# scripts/check does; a sanitizer build measures the sanitizer),
# BENCH_LOAD_MIB, BENCH_LAYER_MIB, BENCH_IMAGES, BENCH_RUNS, BENCH_KEEP_TMP=1;
# BENCH_BUNDLE=FILE measures an existing bundle instead of making one.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
TOTAL_MIB=${BENCH_LOAD_MIB:-1024}
LAYER_MIB=${BENCH_LAYER_MIB:-64}
NIMAGES=${BENCH_IMAGES:-4}
RUNS=${BENCH_RUNS:-3}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in docker-registry:docker-registry skopeo:skopeo jq:jq openssl:openssl zstd:zstd \
	/usr/bin/time:time; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in "$BARGE" "$BARGED"; do
	[ -x "$tool" ] || it_die "missing $tool: build it first (cmake -S . -B build && make -C build)"
done

it_tmpdir
T=$IT_TMP
if [ -n "${BENCH_BUNDLE:-}" ]; then
	BUNDLE=$BENCH_BUNDLE
else
	PER_IMAGE=$(((TOTAL_MIB + NIMAGES * LAYER_MIB - 1) / (NIMAGES * LAYER_MIB)))
	it_log "making $NIMAGES images of $PER_IMAGE x $LAYER_MIB MiB random layers in $T"
	it_registry_start
	for i in $(seq 1 "$NIMAGES"); do
		layout=$T/images/img$i
		it_layout_init "$layout"
		layers=()
		for j in $(seq 1 "$PER_IMAGE"); do
			it_random_file "$T/layer" $((LAYER_MIB * 1048576)) "bench-$i-$j"
			d=$(it_blob_add "$layout/blobs/sha256" "$T/layer")
			layers+=("application/vnd.oci.image.layer.v1.tar $d $((LAYER_MIB * 1048576)) $d")
		done
		it_make_image "$layout" 1.0 linux/amd64 "${layers[@]}" >/dev/null
		it_push "$T/images" "img$i"
		rm -rf "$layout"
	done
	names=()
	for i in $(seq 1 "$NIMAGES"); do names+=("img$i"); done
	BUNDLE=$T/bench-1.0.0.tar.zst
	it_log "barge build"
	it_build_bundle "$BUNDLE" bench 1.0.0 "${names[@]}"
	rm -rf "$T/cache" "$T/registry"
fi
BYTES=$(stat -c %s "$BUNDLE")
BLOB_BYTES=$(zstd -dcq "$BUNDLE" | wc -c)
it_log "bundle: $BYTES bytes compressed, $BLOB_BYTES bytes of tar"

now() { date +%s%N; }
best_floor=0 best_sync=0 best_barged=0 rss_max=0
for r in $(seq 1 "$RUNS"); do
	rm -rf "$T/out" "$T/data"
	mkdir -p "$T/out"
	sync
	t0=$(now)
	zstd -dcq "$BUNDLE" | tar -x -C "$T/out"
	t1=$(now)
	sync -f "$T/out"
	t2=$(now)
	floor=$((t1 - t0))
	floor_sync=$((t2 - t0))
	rm -rf "$T/out"
	sync
	t0=$(now)
	/usr/bin/time -v -o "$T/time.txt" "$BARGED" load --data-dir "$T/data" "$BUNDLE" \
		>"$T/load.out" 2>&1 || it_die "barged load failed: $(cat "$T/load.out")"
	t1=$(now)
	barged=$((t1 - t0))
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$T/time.txt")
	printf 'round %d: floor %6.2f s   floor+sync %6.2f s   barged load %6.2f s   RSS %d KiB\n' \
		"$r" "$(bc -l <<<"$floor / 1000000000")" "$(bc -l <<<"$floor_sync / 1000000000")" \
		"$(bc -l <<<"$barged / 1000000000")" "$rss"
	[ "$best_floor" -ne 0 ] && [ "$floor" -ge "$best_floor" ] || best_floor=$floor
	[ "$best_sync" -ne 0 ] && [ "$floor_sync" -ge "$best_sync" ] || best_sync=$floor_sync
	[ "$best_barged" -ne 0 ] && [ "$barged" -ge "$best_barged" ] || best_barged=$barged
	[ "$rss" -le "$rss_max" ] || rss_max=$rss
done
mib() { bc -l <<<"$BLOB_BYTES / 1048576 / ($1 / 1000000000)"; }
echo
printf 'bundle: %d MiB compressed, %d MiB unpacked\n' $((BYTES / 1048576)) $((BLOB_BYTES / 1048576))
printf '%-44s %8.1f MiB/s\n' "floor: zstd -dc | tar -x (no verify, no fsync)" "$(mib "$best_floor")"
printf '%-44s %8.1f MiB/s\n' "floor + sync -f" "$(mib "$best_sync")"
printf '%-44s %8.1f MiB/s\n' "barged load (verified, fsynced)" "$(mib "$best_barged")"
printf 'throughput ratio barged / floor:        %.2f (goal >= 0.80)\n' \
	"$(bc -l <<<"$best_floor / $best_barged")"
printf 'throughput ratio barged / floor+sync:   %.2f\n' "$(bc -l <<<"$best_sync / $best_barged")"
printf 'barged load peak RSS: %d KiB (%.1f MiB; goal < 64 MiB)\n' "$rss_max" \
	"$(bc -l <<<"$rss_max / 1024")"
