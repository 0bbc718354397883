#!/usr/bin/env bash
# bench/scale.sh: what the store's size costs (issue #18).  Not a test: it
# prints figures and ratios and never fails on a time.  See bench/README.md.
#
# Per size in BENCH_SIZES (tags; default 100,10000; 100000 works when asked),
# a store of that many small images (REPOS x TAGS: 1 x 100, 10 x 1000,
# 100 x 1000) built through the store API (bench/scale_driver.c), then:
#   - pushes/s through the registry API (bench/scale_push.py, one keep-alive
#     connection) of BENCH_PUSH images, barged and docker-registry;
#   - manifest GET by tag: wrk -c64 (req/s, p99), barged and docker-registry;
#   - tags/list (n=100 pages through a repository) and _catalog (n=100);
#   - barged ls, ls --output json: seconds and peak RSS (/usr/bin/time);
#   - barged gc --grace 0 with nothing to remove; manifest GET p99 while it
#     runs; then gc after untagging half of the tags;
#   - barged fsck, and sha256sum of the same files on 4 processes;
#   - docker-registry garbage-collect on the same content (pushed to it
#     when the size is at most BENCH_DR_MAX, default 10000);
#   - barged serve's RSS after the GETs.
# Env: BARGED, BENCH_SIZES, BENCH_PUSH (2000), BENCH_WRK_SECS (5),
# BENCH_DR_MAX (10000), BENCH_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
SIZES=${BENCH_SIZES:-100,10000}
PUSH=${BENCH_PUSH:-2000}
WRK_SECS=${BENCH_WRK_SECS:-5}
DR_MAX=${BENCH_DR_MAX:-10000}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in wrk:wrk curl:curl docker-registry:docker-registry jq:jq sqlite3:sqlite3 \
	cc:gcc pkg-config:pkg-config python3:python3; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$BARGED" ] || it_die "missing $BARGED: build it first"
BUILD=$(cd "$(dirname "$BARGED")/.." && pwd)
it_tmpdir
T=$IT_TMP
it_log "temp dir $T; the machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# shellcheck disable=SC2046 # pkg-config prints several flags
cc -O2 -std=gnu11 -I"$IT_REPO_ROOT/common" -I"$IT_REPO_ROOT/appliance/store" \
	"$IT_REPO_ROOT/bench/scale_driver.c" -o "$T/scale_driver" \
	"$BUILD/appliance/store/libbarge-store.a" "$BUILD/common/libbarge-common.a" \
	$(pkg-config --libs sqlite3 jansson openssl) -lpthread

# timed NAME CMD...: runs CMD, prints "NAME  secs S  rss_mib M"; output to $T/NAME.out.
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err" ||
		{ cat "$T/$name.err" >&2; it_log "$name failed"; }
	read -r secs kib <"$T/$name.time"
	printf '%-28s secs %7s  rss_mib %5d\n' "$name" "$secs" $((kib / 1024))
	eval "R_${name//[^a-zA-Z0-9]/_}=$secs"
}

# p99 URL: wrk's requests/s and p99 latency for URL.
wrk_get() {
	wrk -t2 -c64 -d"${WRK_SECS}s" --latency \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' "$1" >"$T/wrk.out" 2>&1 || true
	printf 'req_s %s  p99 %s' "$(awk '/Requests\/sec/ {print $2}' "$T/wrk.out")" \
		"$(awk '$1 == "99%" {print $2}' "$T/wrk.out")"
}

# pages URL KEY: follows Link: <...>; rel="next" from URL; prints pages and seconds.
pages() {
	local url=$1 n=0 start end next
	start=$(date +%s.%N)
	while [ -n "$url" ]; do
		next=$(curl -s -D - -o /dev/null "$url" |
			sed -n 's/^[Ll]ink: <\([^>]*\)>.*/\1/p' | tr -d '\r')
		n=$((n + 1))
		url=${next:+http://$EP$next}
	done
	end=$(date +%s.%N)
	printf 'pages %d  secs %.2f' "$n" "$(echo "$end - $start" | bc)"
}

serve_start() {
	local port
	port=$(it_free_port)
	it_spawn "$T/serve.log" "$BARGED" serve --data-dir "$1" --listen "127.0.0.1:$port" \
		--plain-http --access-log off --no-import
	SERVE_PID=$IT_LAST_PID
	EP=127.0.0.1:$port
	it_wait_for 30 curl -sf "http://$EP/healthz" || it_die "barged serve did not start: $(cat "$T/serve.log")"
}

dr_start() {
	local port
	port=$(it_free_port)
	mkdir -p "$1"
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$1" "$port" >"$1.yml"
	it_spawn "$T/dr.log" docker-registry serve "$1.yml"
	DR_PID=$IT_LAST_PID
	DR=127.0.0.1:$port
	it_wait_for 30 curl -sf "http://$DR/v2/" || it_die "docker-registry did not start"
}

IFS=, read -r -a sizes <<<"$SIZES"
for size in "${sizes[@]}"; do
	if [ "$size" -le 1000 ]; then repos=1 tags=$size; else repos=$((size / 1000)) tags=1000; fi
	D=$T/store-$size
	echo
	echo "=== $size tags ($repos repositories x $tags) ==="
	"$T/scale_driver" fill "$D" "$repos" "$tags" | sed 's/^/store API fill: /'

	# Pushes through the API, on a fresh store of each server.
	np=$((PUSH < size ? PUSH : size))
	pr=$(((np + 999) / 1000)) pt=$((np < 1000 ? np : 1000))
	serve_start "$T/push-$size"
	pw=$(cat "$T/push-$size/admin.password")
	echo "push barged          $(python3 "$IT_REPO_ROOT/bench/scale_push.py" "$EP" "$pr" "$pt" "admin:$pw")"
	it_stop "$SERVE_PID"
	dr_start "$T/dr-push-$size"
	echo "push docker-registry $(python3 "$IT_REPO_ROOT/bench/scale_push.py" "$DR" "$pr" "$pt")"
	it_stop "$DR_PID"

	serve_start "$D"
	echo "GET manifest idle    $(wrk_get "http://$EP/v2/scale/r0000/manifests/t1")"
	echo "tags/list n=100      $(pages "http://$EP/v2/scale/r0000/tags/list?n=100")"
	echo "_catalog n=100       $(pages "http://$EP/v2/_catalog?n=100")"
	echo "barged rss_kib       $(ps -o rss= -p "$SERVE_PID")"

	timed "ls-$size" "$BARGED" ls --data-dir "$D"
	timed "ls-json-$size" "$BARGED" ls --data-dir "$D" --output json
	timed "gc-nothing-$size" "$BARGED" gc --data-dir "$D" --grace 0
	# The same GC again with wrk running: pull latency while GC marks and walks.
	( sleep 1; "$BARGED" gc --data-dir "$D" --grace 0 >"$T/gc-live.out" 2>&1 ) &
	echo "GET manifest in gc   $(wrk_get "http://$EP/v2/scale/r0000/manifests/t1")"
	wait $! || true
	timed "fsck-$size" "$BARGED" fsck --data-dir "$D"
	timed "sha256sum-P4-$size" sh -c "find '$D/blobs' -type f -print0 | xargs -0 -P4 -n 512 sha256sum"
	# Untag half (odd t<N>), then a GC that removes their manifests and configs.
	sqlite3 "$D/barge.db" "DELETE FROM tags WHERE CAST(substr(name, 2) AS INTEGER) % 2 = 1"
	timed "gc-half-$size" "$BARGED" gc --data-dir "$D" --grace 0
	sed 's/^/  /' "$T/gc-half-$size.out"
	it_stop "$SERVE_PID"

	if [ "$size" -le "$DR_MAX" ]; then
		dr_start "$T/dr-$size"
		python3 "$IT_REPO_ROOT/bench/scale_push.py" "$DR" "$repos" "$tags" >/dev/null
		echo "GET manifest docker-registry $(wrk_get "http://$DR/v2/scale/r0000/manifests/t1")"
		echo "tags/list docker-registry    $(pages "http://$DR/v2/scale/r0000/tags/list?n=100")"
		it_stop "$DR_PID"
		timed "dr-gc-nothing-$size" docker-registry garbage-collect "$T/dr-$size.yml"
		v=R_gc_nothing_$size d=R_dr_gc_nothing_$size
		printf 'gc nothing: barged / docker-registry = %.2f\n' "$(echo "${!v} / ${!d}" | bc -l)"
	fi
	f=R_fsck_$size h=R_sha256sum_P4_$size
	printf 'fsck / sha256sum -P4 = %.2f\n' "$(echo "${!f} / ${!h}" | bc -l)"
	rm -rf "$D" "$T/push-$size" "$T/dr-push-$size" "$T/dr-$size"
done
