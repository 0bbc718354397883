#!/usr/bin/env bash
# bench/webhook.sh: the image-swap webhook, on a store loaded from a real
# bundle (policy present, so every reference costs a store lookup).  Not a
# test: it prints figures and asserts nothing about time.  See bench/README.md.
#
# Figures:
#   - in-process: webhook_review called back to back (bench/webhook_driver.c,
#     linked against the build's libraries): reviews/s, p50/p99 per review;
#   - over HTTPS, if this barged routes POST /webhook/mutate: wrk at a fixed
#     BENCH_RATE (default 500) reviews/s paced per connection (wrk's delay()),
#     p50/p99 latency; then unpaced, the most reviews/s.
# The review is tests/data/admission/create-present.json with its images
# made those of the bundle: two present (swapped), one absent, an image
# volume absent: four lookups, a patch of three operations.
#
# Env: BARGE, BARGED (default build/...: a release build measures what ships;
# a sanitizer build measures the sanitizer), BENCH_RATE (500), BENCH_SECS
# (15), BENCH_CONNS (10), BENCH_N (in-process reviews, 20000),
# BENCH_RULES (0: the default rule; N: webhook.rules of N-1 rules that match
# nothing, then a catch-all, so every reference is tested against all N),
# BENCH_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
RATE=${BENCH_RATE:-500}
SECS=${BENCH_SECS:-15}
CONNS=${BENCH_CONNS:-10}
N=${BENCH_N:-20000}
RULES=${BENCH_RULES:-0}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in wrk:wrk curl:curl docker-registry:docker-registry skopeo:skopeo jq:jq \
	zstd:zstd cc:gcc pkg-config:pkg-config; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in "$BARGE" "$BARGED"; do
	[ -x "$tool" ] || it_die "missing $tool: build it first (cmake -S . -B build && make -C build)"
done
BUILD=$(cd "$(dirname "$BARGED")/.." && pwd)

it_tmpdir
T=$IT_TMP

# --- a store loaded from a bundle -------------------------------------------

it_log "building and loading a bundle in $T"
export IT_BIG_BYTES=4096
it_make_sample_images "$T/images"
it_registry_start
it_push "$T/images" app-a
it_push "$T/images" multi
cat >"$T/profile.yaml" <<EOF
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: bench, version: 1.0.0}
spec:
  platforms: [linux/amd64]
  packs:
    - name: base
      images: [docker.io/library/app-a:1.0, docker.io/library/multi:1.0]
EOF
"$BARGE" build "$T/profile.yaml" --output-file "$T/bench.tar.zst" --cache-dir "$T/cache" \
	--registry-mirror "docker.io=http://$IT_REGISTRY" 2>"$T/build.err" ||
	{ cat "$T/build.err"; it_die "barge build failed"; }
"$BARGED" load --data-dir "$T/data" "$T/bench.tar.zst" 2>"$T/load.err" ||
	{ cat "$T/load.err"; it_die "barged load failed"; }

jq '.request.object.spec.containers[0].image = "docker.io/library/app-a:1.0"
  | .request.object.spec.containers[1].image = "redis:7"
  | .request.object.spec.containers[2].image = "multi:1.0"
  | .request.object.spec.containers |= .[0:3]
  | .request.object.spec.initContainers[0].image = "docker.io/library/app-a:1.0"
  | .request.object.spec.volumes |= .[0:2]' \
	"$IT_REPO_ROOT/tests/data/admission/create-present.json" >"$T/review.json"

# The configuration: BENCH_RULES rules, the last the only one that applies.
{
	echo "data_dir: $T/data"
	if [ "$RULES" -gt 0 ]; then
		echo "webhook:"
		echo "  rules:"
		for i in $(seq 1 $((RULES - 1))); do
			printf "    - name: r%d\n      match: ['^registry-%d\\\\.example\\\\.net/', 'team%d/']\n" "$i" "$i" "$i"
			printf "      exclude: ['^registry-%d\\\\.example\\\\.net/(library/)?ubuntu:.*$']\n" "$i"
			printf "      replace: harbor.example.net/cache%d\n      policy: always\n" "$i"
		done
		printf "    - name: everything else\n      match: ['.']\n"
	fi
} >"$T/barged.yaml"

# --- in-process ---------------------------------------------------------------

it_log "in-process: $N reviews"
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -O2 -std=gnu11 -I"$IT_REPO_ROOT/common" -I"$IT_REPO_ROOT/appliance/swap" \
	-I"$IT_REPO_ROOT/appliance/store" -I"$IT_REPO_ROOT/appliance/config" \
	"$IT_REPO_ROOT/bench/webhook_driver.c" -o "$T/webhook_driver" \
	"$BUILD/appliance/swap/libbarge-swap.a" "$BUILD/appliance/config/libbarge-config.a" \
	"$BUILD/appliance/store/libbarge-store.a" "$BUILD/common/libbarge-common.a" \
	$(pkg-config --libs sqlite3 jansson openssl yaml-0.1 libarchive libzstd libmicrohttpd) \
	-lpthread
it_log "in-process: $RULES rules"
"$T/webhook_driver" "$T/data" "$T/review.json" "$N" present "$T/barged.yaml" | tee "$T/inproc.txt"

# --- over HTTPS -----------------------------------------------------------------

# answers URL CURLARGS...: the server answers with any HTTP status (/v2/ may ask for a token).
answers() {
	local url=$1 code
	shift
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url") || return 1
	[ "$code" != 000 ]
}
PORT=$(it_free_port)
EP=127.0.0.1:$PORT
it_spawn "$T/serve.log" "$BARGED" serve --config "$T/barged.yaml" --data-dir "$T/data" --listen "$EP"
it_wait_for 30 answers "https://$EP/v2/" --cacert "$T/data/ca.crt" ||
	{ cat "$T/serve.log"; it_die "barged serve does not answer"; }
code=$(curl -s -o "$T/answer.json" -w '%{http_code}' --cacert "$T/data/ca.crt" \
	-H 'Content-Type: application/json' --data-binary "@$T/review.json" \
	"https://$EP/webhook/mutate" || true)
if [ "$code" != 200 ] || [ "$(jq -r '.response.patchType // empty' "$T/answer.json" 2>/dev/null)" != JSONPatch ]; then
	printf 'HTTP: POST /webhook/mutate answered %s without a patch: this barged does not route the webhook yet; in-process figures only\n' "$code"
	exit 0
fi

cat >"$T/review.lua" <<'EOF'
local f = assert(io.open(os.getenv("BENCH_REVIEW"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
	function delay() return pause end
end
EOF
export BENCH_REVIEW=$T/review.json
# Each connection sends one review every CONNS/RATE seconds.
BENCH_DELAY_MS=$((1000 * CONNS / RATE)) wrk -t2 -c"$CONNS" -d"${SECS}s" --latency \
	-s "$T/review.lua" "https://$EP/webhook/mutate" >"$T/paced.txt"
BENCH_DELAY_MS=0 wrk -t2 -c16 -d"${SECS}s" --latency \
	-s "$T/review.lua" "https://$EP/webhook/mutate" >"$T/max.txt"

pct() { awk -v p="$1" '$1 == p {print $2}' "$2"; }
rps() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$1"; }
errs() { awk '/Non-2xx|Socket errors/ {print}' "$1"; }
printf 'HTTPS, paced at %s/s over %s connections for %ss: %s reviews/s, p50 %s, p99 %s %s\n' \
	"$RATE" "$CONNS" "$SECS" "$(rps "$T/paced.txt")" "$(pct 50% "$T/paced.txt")" \
	"$(pct 99% "$T/paced.txt")" "$(errs "$T/paced.txt")"
printf 'HTTPS, unpaced, 16 connections: %s reviews/s, p50 %s, p99 %s %s\n' \
	"$(rps "$T/max.txt")" "$(pct 50% "$T/max.txt")" "$(pct 99% "$T/max.txt")" \
	"$(errs "$T/max.txt")"
