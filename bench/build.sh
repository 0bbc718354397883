#!/usr/bin/env bash
# bench/build.sh: `barge build` against the by-hand pipeline a user would
# script, on the same images from the same docker-registry on 127.0.0.1, in
# the same run.  Not a test: it prints figures and the ratio and asserts
# nothing about time.  See bench/README.md.
#
# The images: BENCH_IMAGES (default 6) linux/amd64 images of uncompressed
# layers of deterministic pseudo-random bytes (incompressible, like real
# compressed layers), BENCH_GIB (default 2) GiB of distinct layer bytes in
# all: a base layer (1/8) shared by every image, a runtime layer (1/8)
# shared by the first half, and one layer of its own per image.
#
# Timed, each from a cold cache and an empty output directory:
#   barge:    barge build PROFILE --output-file OUT --level 3 --cache-dir EMPTY
#   pipeline: skopeo copy docker://... oci:LAYOUT:imgN for every image, then
#             tar -C LAYOUT -cf - . | zstd -T0 -3 -o OUT
# and barge's peak RSS (/usr/bin/time -v).  Goals: barge <= 0.5x the
# pipeline's wall time, peak RSS < 64 MiB.
#
# Env: BARGE (default build/bundler/barge: build it RelWithDebInfo),
# BENCH_BARGE_OTHERS (space-separated other barge binaries to time too),
# BENCH_GIB, BENCH_MIB (overrides BENCH_GIB), BENCH_IMAGES, BENCH_JOBS (barge --jobs, default barge's own),
# BENCH_KEEP_TMP=1 keeps the temp dir.  Needs about 7x BENCH_GIB of disk.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
GIB=${BENCH_GIB:-2}
NIMG=${BENCH_IMAGES:-6}
JOBS=${BENCH_JOBS:-}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in docker-registry:docker-registry skopeo:skopeo jq:jq openssl:openssl zstd:zstd \
	curl:curl /usr/bin/time:time; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$BARGE" ] || it_die "missing $BARGE: build it first (cmake -S . -B build && make -C build)"
[ "$GIB" -ge 1 ] && [ "$NIMG" -ge 2 ] || it_die "BENCH_GIB >= 1 and BENCH_IMAGES >= 2, please"

it_tmpdir
T=$IT_TMP
export DOCKER_CONFIG=$T/docker # no credentials from the machine
mkdir -p "$DOCKER_CONFIG"
# BENCH_MIB, when set, overrides BENCH_GIB (for a quick try of the script itself).
total=$((${BENCH_MIB:-$((GIB * 1024))} * 1024 * 1024))
base_bytes=$((total / 8))
runtime_bytes=$((total / 8))
own_bytes=$(((total - base_bytes - runtime_bytes) / NIMG))

# --- images -----------------------------------------------------------------

it_log "generating $NIMG images, $((total >> 20)) MiB of distinct layers, in $T"
L=$T/layout
it_layout_init "$L"
# layer NAME BYTES: a one-file uncompressed layer of pseudo-random bytes.
layer() {
	local src=$T/src/$1
	mkdir -p "$src/data"
	it_random_file "$src/data/$1.bin" "$2" "barge-bench-$1"
	it_layer "$L/blobs/sha256" "$src" tar
	rm -rf "$src"
}
base=$(layer base "$base_bytes")
runtime=$(layer runtime "$runtime_bytes")
for i in $(seq 0 $((NIMG - 1))); do
	own=$(layer "own$i" "$own_bytes")
	if [ "$i" -lt $((NIMG / 2)) ]; then
		it_make_image "$L" "img$i" linux/amd64 "$base" "$runtime" "$own" >/dev/null
	else
		it_make_image "$L" "img$i" linux/amd64 "$base" "$own" >/dev/null
	fi
done

it_registry_start
it_log "pushing to docker-registry at $IT_REGISTRY"
for i in $(seq 0 $((NIMG - 1))); do
	skopeo copy -q --preserve-digests --dest-tls-verify=false \
		"oci:$L:img$i" "docker://$IT_REGISTRY/library/img$i:1.0" >&2
done
# The generated layout is no longer needed: free its disk for the outputs.
rm -rf "$L"

{
	printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\n'
	printf 'metadata: {name: bench, version: 1.0.0}\n'
	printf 'spec:\n  platforms: [linux/amd64]\n  packs:\n    - name: all\n      images:\n'
	for i in $(seq 0 $((NIMG - 1))); do
		printf '        - %s/library/img%s:1.0\n' "$IT_REGISTRY" "$i"
	done
} >"$T/profile.yaml"

# --- timing -----------------------------------------------------------------

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# time_barge BINARY: a cold-cache build; sets barge_s, rss_kib, barge_bytes.
time_barge() {
	local args t0 t1
	sync
	args=(build "$T/profile.yaml" --output-file "$T/barge.tar.zst" --level 3 --cache-dir "$T/cache" -q)
	[ -z "$JOBS" ] || args+=(--jobs "$JOBS")
	t0=$(now)
	SOURCE_DATE_EPOCH=0 /usr/bin/time -v -o "$T/barge.time" "$1" "${args[@]}"
	t1=$(now)
	barge_s=$(elapsed "$t0" "$t1")
	rss_kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/barge.time")
	barge_bytes=$(it_size "$T/barge.tar.zst")
	rm -rf "$T/cache" "$T/barge.tar.zst"
}

# Other barge binaries (variants under study) timed the same way, first.
others=()
for other in ${BENCH_BARGE_OTHERS:-}; do
	it_log "barge build (cold cache): $other"
	time_barge "$other"
	others+=("$(printf '    %s: %.1f s, ratio %s, peak RSS %s MiB' "$other" "$barge_s" \
		"RATIO" "$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')")")
done
it_log "barge build (cold cache)"
time_barge "$BARGE"

it_log "pipeline: skopeo copy of every image into one OCI layout, tar | zstd -T0 -3"
sync
t0=$(now)
for i in $(seq 0 $((NIMG - 1))); do
	skopeo copy -q --src-tls-verify=false \
		"docker://$IT_REGISTRY/library/img$i:1.0" "oci:$T/pipe:img$i" >&2
done
t1=$(now)
tar -C "$T/pipe" -cf - . | zstd -q -T0 -3 -o "$T/pipe.tar.zst"
t2=$(now)
copy_s=$(elapsed "$t0" "$t1")
pipe_s=$(elapsed "$t0" "$t2")
pipe_bytes=$(it_size "$T/pipe.tar.zst")

# --- figures ----------------------------------------------------------------

mib() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1048576 }'; }
printf '\nbench/build.sh: %d images, %d MiB of distinct layer bytes, docker-registry on loopback, %d cores\n' \
	"$NIMG" "$((total >> 20))" "$(nproc)"
printf '  %-34s %8.1f s   output %8s MiB\n' "barge build" "$barge_s" "$(mib "$barge_bytes")"
printf '  %-34s %8.1f s   output %8s MiB\n' "pipeline (skopeo + tar | zstd)" "$pipe_s" \
	"$(mib "$pipe_bytes")"
printf '  %-34s %8.1f s\n' "  of which skopeo copy" "$copy_s"
printf '  ratio barge / pipeline: %s   (goal <= 0.50)\n' \
	"$(awk -v a="$barge_s" -v b="$pipe_s" 'BEGIN { printf "%.2f", a / b }')"
printf '  barge peak RSS: %s MiB   (goal < 64 MiB)\n' \
	"$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')"
if [ "${#others[@]}" -gt 0 ]; then
	printf '  other barge binaries (BENCH_BARGE_OTHERS):\n'
	for line in "${others[@]}"; do
		# The ratio is known only now that the pipeline has run.
		t=$(sed 's/.*: \([0-9.]*\) s,.*/\1/' <<<"$line")
		printf '%s\n' "${line/RATIO/$(awk -v a="$t" -v b="$pipe_s" 'BEGIN { printf "%.2f", a / b }')}"
	done
fi
