#!/usr/bin/env bash
# bench/scale.sh: what the store's size costs (issue #18).  Not a test: it
# prints figures and ratios and never fails on a time.  See bench/README.md.
#
# Per size in BENCH_SIZES (tags; default 100,10000; 100000 works when asked),
# a store of that many small images (REPOS x TAGS: 1 x 100, 10 x 1000,
# 100 x 1000) built through the store API (bench/scale_driver.c, one
# transaction per repository), and the same content written straight into
# docker-registry's storage (bench/scale_dr_fill.py; the layout is checked
# once against what docker-registry writes for two images skopeo pushes,
# and docker-registry must serve a generated tag with the right digest).
# Then:
#   - pushes/s through the registry API (bench/scale_push.py, one keep-alive
#     connection) of BENCH_PUSH more images onto the full store ("push/..."
#     repositories), barged and docker-registry;
#   - manifest GET by tag: wrk -c64 (req/s, p99), barged and docker-registry;
#   - tags/list (n=100 pages through a repository) and _catalog (n=100);
#   - a bundle of min(size, 10000) images (scale_driver bundle): loaded into
#     a fresh store and into the full one (seconds, CPU, per image);
#   - a webhook review with the present check (bench/webhook_driver.c) of
#     images of that bundle, on the full store;
#   - barged ls, ls --output json: seconds, CPU and peak RSS (/usr/bin/time);
#   - barged gc --grace 0 with nothing to remove; manifest GET p99 while it
#     runs; then gc after untagging half of the tags;
#   - docker-registry garbage-collect on the same content, nothing to remove;
#   - barged fsck, and sha256sum of the same files on 4 processes;
#   - barged serve's RSS after the GETs.
# Env: BARGED, BENCH_SIZES, BENCH_PUSH (1000), BENCH_WRK_SECS (5),
# BENCH_REVIEWS (20000), BENCH_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
SIZES=${BENCH_SIZES:-100,10000}
PUSH=${BENCH_PUSH:-1000}
WRK_SECS=${BENCH_WRK_SECS:-5}
REVIEWS=${BENCH_REVIEWS:-20000}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in wrk:wrk curl:curl docker-registry:docker-registry jq:jq sqlite3:sqlite3 \
	skopeo:skopeo cc:gcc pkg-config:pkg-config python3:python3; do
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
	$(pkg-config --libs sqlite3 jansson openssl libarchive libzstd) -lpthread
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -O2 -std=gnu11 -I"$IT_REPO_ROOT/common" -I"$IT_REPO_ROOT/appliance/swap" \
	-I"$IT_REPO_ROOT/appliance/store" -I"$IT_REPO_ROOT/appliance/config" \
	"$IT_REPO_ROOT/bench/webhook_driver.c" -o "$T/webhook_driver" \
	"$BUILD/appliance/swap/libbarge-swap.a" "$BUILD/appliance/config/libbarge-config.a" \
	"$BUILD/appliance/store/libbarge-store.a" "$BUILD/common/libbarge-common.a" \
	$(pkg-config --libs sqlite3 jansson openssl yaml-0.1 libarchive libzstd libmicrohttpd) \
	-lpthread

# timed NAME CMD...: runs CMD, prints "NAME  secs S  cpu C  rss_mib M" (cpu:
# user + system seconds); output to $T/NAME.out.  R_NAME and C_NAME keep
# the seconds and CPU seconds.
timed() {
	local name=$1 secs usr sys kib cpu
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$T/$name.time" "$@" >"$T/$name.out" 2>"$T/$name.err" ||
		{ cat "$T/$name.err" >&2; it_log "$name failed"; }
	read -r secs usr sys kib < <(tail -n1 "$T/$name.time")
	cpu=$(echo "$usr + $sys" | bc)
	printf '%-28s secs %7s  cpu %6s  rss_mib %5d\n' "$name" "$secs" "$cpu" $((kib / 1024))
	eval "R_${name//[^a-zA-Z0-9]/_}=$secs C_${name//[^a-zA-Z0-9]/_}=$cpu"
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

# dr_layout_check: the layout scale_dr_fill.py writes is the one docker-registry
# writes itself.  Two images of a barged store are copied to a docker-registry
# by skopeo; the generator, fed the same store, must make the same files with
# the same links.
dr_layout_check() {
	local tag
	"$T/scale_driver" fill "$T/chk" 1 2 >/dev/null
	serve_start "$T/chk"
	dr_start "$T/chk-dr"
	for tag in t0 t1; do
		skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
			"docker://$EP/scale/r0000:$tag" "docker://$DR/scale/r0000:$tag"
	done
	it_stop "$SERVE_PID"
	it_stop "$DR_PID"
	python3 "$IT_REPO_ROOT/bench/scale_dr_fill.py" "$T/chk" "$T/chk-gen" >/dev/null
	(cd "$T/chk-dr" && find . -type f -exec sh -c 'printf "%s " "$1"; cat "$1"; echo' _ {} \; |
		grep -v '/data ' | sort) >"$T/chk-dr.list"
	(cd "$T/chk-gen" && find . -type f -exec sh -c 'printf "%s " "$1"; cat "$1"; echo' _ {} \; |
		grep -v '/data ' | sort) >"$T/chk-gen.list"
	diff "$T/chk-dr.list" "$T/chk-gen.list" >&2 ||
		it_die "scale_dr_fill.py's layout differs from docker-registry's (above)"
	diff <(cd "$T/chk-dr" && find . -type f | sort) <(cd "$T/chk-gen" && find . -type f | sort) >&2 ||
		it_die "scale_dr_fill.py's blob files differ from docker-registry's (above)"
	echo "docker-registry layout: scale_dr_fill.py writes the $(wc -l <"$T/chk-dr.list") links docker-registry wrote"
	rm -rf "$T/chk" "$T/chk-dr" "$T/chk-gen"
}

# review FILE IMAGE: an AdmissionReview of one pod whose one container runs IMAGE.
review() {
	jq --arg i "$2" '.request.object.spec.containers = [.request.object.spec.containers[0]
	  | .image = $i] | del(.request.object.spec.initContainers)' \
		"$IT_REPO_ROOT/tests/data/admission/create-present.json" >"$1"
}

dr_layout_check
IFS=, read -r -a sizes <<<"$SIZES"
for size in "${sizes[@]}"; do
	if [ "$size" -le 1000 ]; then repos=1 tags=$size; else repos=$((size / 1000)) tags=1000; fi
	D=$T/store-$size
	echo
	echo "=== $size tags ($repos repositories x $tags) ==="
	"$T/scale_driver" fill "$D" "$repos" "$tags" | sed 's/^/store API fill: /'
	echo "docker-registry fill: $(python3 "$IT_REPO_ROOT/bench/scale_dr_fill.py" "$D" "$T/dr-$size")"
	want=$(sqlite3 "$D/barge.db" "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = 'scale/r0000' AND t.name = 't1'")

	# Pushes through the API onto the full stores: the same new images to both.
	np=$((PUSH < size ? PUSH : size))
	pr=$(((np + 999) / 1000)) pt=$((np < 1000 ? np : 1000))
	serve_start "$D"
	pw=$(cat "$D/admin.password")
	echo "push barged          $(SCALE_PUSH_PREFIX=push python3 "$IT_REPO_ROOT/bench/scale_push.py" \
		"$EP" "$pr" "$pt" "admin:$pw")"
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
	it_stop "$SERVE_PID"

	dr_start "$T/dr-$size"
	got=$(curl -sf -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$DR/v2/scale/r0000/manifests/t1" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p' | tr -d '\r')
	[ "$got" = "$want" ] || it_die "docker-registry serves scale/r0000:t1 as '$got', barged as $want"
	echo "push docker-registry $(SCALE_PUSH_PREFIX=push python3 "$IT_REPO_ROOT/bench/scale_push.py" \
		"$DR" "$pr" "$pt")"
	echo "GET manifest docker-registry $(wrk_get "http://$DR/v2/scale/r0000/manifests/t1")"
	echo "tags/list docker-registry    $(pages "http://$DR/v2/scale/r0000/tags/list?n=100")"
	it_stop "$DR_PID"
	timed "dr-gc-nothing-$size" docker-registry garbage-collect "$T/dr-$size.yml"
	echo "  docker-registry: $(grep 'blobs marked' "$T/dr-gc-nothing-$size.out")"
	v=R_gc_nothing_$size d=R_dr_gc_nothing_$size cv=C_gc_nothing_$size cd=C_dr_gc_nothing_$size
	printf 'gc nothing: barged / docker-registry = %.2f (CPU %.2f)\n' \
		"$(echo "${!v} / ${!d}" | bc -l)" "$(echo "${!cv} / ${!cd}" | bc -l)"

	# A bundle of up to 10,000 images: into a fresh store, then the full one.
	nb=$((size < 10000 ? size : 10000))
	"$T/scale_driver" bundle "$T/bundle-$nb.tar.zst" "$nb"
	timed "load-fresh-$nb" "$BARGED" load --data-dir "$T/fresh-$size" "$T/bundle-$nb.tar.zst"
	timed "load-full-$size" "$BARGED" load --data-dir "$D" "$T/bundle-$nb.tar.zst"
	c=C_load_fresh_$nb f=C_load_full_$size
	printf 'load per image: fresh %.2f ms CPU, full store %.2f ms CPU\n' \
		"$(echo "${!c} * 1000 / $nb" | bc -l)" "$(echo "${!f} * 1000 / $nb" | bc -l)"
	review "$T/review.json" "docker.io/scale/b0000:t1"
	echo "webhook present      $("$T/webhook_driver" "$D" "$T/review.json" "$REVIEWS" present)"

	timed "fsck-$size" "$BARGED" fsck --data-dir "$D"
	timed "sha256sum-P4-$size" sh -c "find '$D/blobs' -type f -print0 | xargs -0 -P4 -n 512 sha256sum"
	f=R_fsck_$size h=R_sha256sum_P4_$size
	printf 'fsck / sha256sum -P4 = %.2f\n' "$(echo "${!f} / ${!h}" | bc -l)"
	# Untag half (odd t<N>), then a GC that removes their manifests and configs.
	sqlite3 "$D/barge.db" "DELETE FROM tags WHERE CAST(substr(name, 2) AS INTEGER) % 2 = 1"
	timed "gc-half-$size" "$BARGED" gc --data-dir "$D" --grace 0
	sed 's/^/  /' "$T/gc-half-$size.out"
	rm -rf "$D" "$T/dr-$size" "$T/fresh-$size" "$T/bundle-$nb.tar.zst"
done
