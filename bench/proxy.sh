#!/usr/bin/env bash
# bench/proxy.sh: barged as a pull-through cache (issue #12) against Debian's
# docker-registry in proxy mode (`proxy: remoteurl:`), side by side in one
# run, both in front of the same docker-registry upstream on 127.0.0.1
# holding a generated image of random layers.  Not a test: it prints figures
# and ratios and asserts nothing about time.  See bench/README.md.
#
# A pull is what a client does: GET the manifest by tag, then the config and
# every layer in turn (curl, HTTP/1.1, plain HTTP on loopback).  Figures,
# for both caches:
#   - cold pull (empty cache): time to the first byte of the first layer,
#     from the start of the pull, and throughput (image bytes / pull time);
#   - warm pull (cached);
#   - pull with the upstream stopped (connection refused);
#   - pull with the upstream hung (a listener that accepts and never
#     answers), bounded by BENCH_TIMEOUT: "> T s" where it did not complete,
#     then a second pull and one manifest GET (barged: in its back-off);
#   - BENCH_CONCURRENT (16) concurrent cold pulls on an empty cache: upstream
#     bytes fetched (from the upstream's access log) / image size;
#   - peak RSS (VmHWM) of each cache over its run, and barged's idle RSS
#     without and with a proxy upstream.
#
# Env: BARGED (default build/appliance/barged; build RelWithDebInfo),
# BENCH_IMAGE_MIB (default 1024), BENCH_LAYERS (default 4),
# BENCH_FAST=1 (a 64 MiB image, a 10 s timeout), BENCH_TIMEOUT (seconds,
# default 30), BENCH_CONCURRENT (default 16), BENCH_CONC_TIMEOUT (seconds a
# concurrent pull may take, default 900), BENCH_BACKOFF (seconds barged is
# left to end its back-off before the hung pull, default 31), BENCH_KEEP_TMP=1.
set -euo pipefail
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
if [ -n "${BENCH_FAST:-}" ]; then
	IMAGE_MIB=${BENCH_IMAGE_MIB:-64}
	TIMEOUT=${BENCH_TIMEOUT:-10}
else
	IMAGE_MIB=${BENCH_IMAGE_MIB:-1024}
	TIMEOUT=${BENCH_TIMEOUT:-30}
fi
LAYERS=${BENCH_LAYERS:-4}
CONCURRENT=${BENCH_CONCURRENT:-16}
# barged's default back-off (30 s) and a second.
BACKOFF=${BENCH_BACKOFF:-31}
# Concurrent cold pulls measure the upstream traffic, not a deadline.
CONC_TIMEOUT=${BENCH_CONC_TIMEOUT:-900}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

missing=()
for pair in curl:curl docker-registry:docker-registry skopeo:skopeo jq:jq openssl:openssl \
	python3:python3 bc:bc; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$BARGED" ] || it_die "missing $BARGED: build it first (cmake -S . -B build && make -C build)"
[ "$IMAGE_MIB" -ge "$LAYERS" ] || it_die "BENCH_IMAGE_MIB must be at least BENCH_LAYERS"

it_tmpdir
T=$IT_TMP
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
declare -A FIG

# --- the image: LAYERS layers of random bytes ----------------------------------

it_log "making a $IMAGE_MIB MiB image of $LAYERS random layers in $T"
UP=$T/layout
it_layout_init "$UP"
descs=()
for i in $(seq 1 "$LAYERS"); do
	it_random_file "$T/layer" $((IMAGE_MIB * 1048576 / LAYERS)) "barge-proxy-bench-$i"
	size=$(it_size "$T/layer")
	d=$(it_blob_add "$UP/blobs/sha256" "$T/layer")
	descs+=("application/vnd.oci.image.layer.v1.tar $d $size $d")
done
it_make_image "$UP" 1.0 linux/amd64 "${descs[@]}" >/dev/null
# What a pull fetches: the manifest, the config and the layers (the layout's
# index.json is no blob).
IMAGE_BYTES=$(find "$UP/blobs" -type f -printf '%s\n' | awk '{ n += $1 } END { printf "%.0f\n", n }')

# --- servers ---------------------------------------------------------------------

# answers URL: the server answers URL with any HTTP status.
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1")" != 000 ]; }

# registry_cfg FILE PORT ROOT [REMOTE]: a docker-registry config; with
# REMOTE, proxy mode in front of it.  The access log (combined format, on
# stderr) says how many bytes each request sent.
registry_cfg() {
	{
		printf 'version: 0.1\nlog:\n  level: error\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$3"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$2"
		[ -z "${4:-}" ] || printf 'proxy:\n  remoteurl: %s\n' "$4"
	} >"$1"
}

UPORT=$(it_free_port)
UPSTREAM=http://127.0.0.1:$UPORT
registry_cfg "$T/upstream.yml" "$UPORT" "$T/upstream"
upstream_start() {
	UPSTREAM_LOG=$T/upstream.log.$1
	it_spawn "$UPSTREAM_LOG" docker-registry serve "$T/upstream.yml"
	UPSTREAM_PID=$IT_LAST_PID
	it_wait_for 30 answers "$UPSTREAM/v2/" || it_die "upstream docker-registry: $(cat "$T/upstream.log.$1")"
}
upstream_start 0
it_log "pushing the image to the upstream"
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$UP:1.0" \
	"docker://127.0.0.1:$UPORT/library/bench:1.0" >&2

# dr_start NAME: docker-registry in proxy mode, empty; DR (base URL), DR_PID.
dr_start() {
	local p
	p=$(it_free_port)
	registry_cfg "$T/$1.yml" "$p" "$T/$1" "$UPSTREAM"
	it_spawn "$T/$1.log" docker-registry serve "$T/$1.yml"
	DR_PID=$IT_LAST_PID
	DR=http://127.0.0.1:$p
	it_wait_for 30 answers "$DR/v2/" || it_die "docker-registry proxy: $(cat "$T/$1.log")"
}

# barged_start NAME [ARGS...]: barged serve on an empty store; BG (base
# URL), BG_PID.  Fails (logged) when it does not start: a barged without
# the proxy refuses --proxy, and its figures are then left "not run".
barged_start() {
	local name=$1 log=$T/$1.log p deadline=$((SECONDS + 30)); shift
	it_spawn "$log" "$BARGED" serve --data-dir "$T/$name" --listen 127.0.0.1:0 --plain-http \
		--no-import --access-log off "$@"
	BG_PID=$IT_LAST_PID
	until p=$(sed -n 's/.*serving https* on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" 2>/dev/null) && [ -n "$p" ]; do
		if ! kill -0 "$BG_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			it_log "barged serve $* did not start: $(head -5 "$log")"
			return 1
		fi
		sleep 0.1
	done
	BG=http://127.0.0.1:$p
}

# --- a pull ----------------------------------------------------------------------

now() { date +%s.%N; }
# pull BASE REPO [LIMIT]: prints "TTFB TOTAL BYTES" in seconds and bytes,
# or "fail TOTAL" when a request failed or the whole pull passed LIMIT
# seconds (default TIMEOUT).
pull() {
	local base=$1 repo=$2 limit=${3:-$TIMEOUT} out start t0 r d ttfb="" bytes=0 left
	out=$(mktemp "$T/pull.XXXXXX")
	start=$(now)
	if ! curl -sf --max-time "$limit" -H "Accept: $MT_MANIFEST" -o "$out" \
		"$base/v2/$repo/manifests/1.0"; then
		echo "fail $(echo "$(now) - $start" | bc)"
		rm -f "$out"
		return
	fi
	for d in $(jq -r '.config.digest, .layers[].digest' "$out"); do
		left=$(echo "$limit - ($(now) - $start)" | bc)
		t0=$(now)
		if [ "$(echo "$left <= 0" | bc)" = 1 ] ||
			! r=$(curl -sf --max-time "$left" -o /dev/null \
				-w '%{time_starttransfer} %{size_download}' "$base/v2/$repo/blobs/$d"); then
			echo "fail $(echo "$(now) - $start" | bc)"
			rm -f "$out"
			return
		fi
		bytes=$((bytes + ${r#* }))
		if [ -z "$ttfb" ] && [ "$d" != "$(jq -r .config.digest "$out")" ]; then
			ttfb=$(echo "$t0 - $start + ${r% *}" | bc)
		fi
	done
	bytes=$((bytes + $(it_size "$out")))
	echo "$ttfb $(echo "$(now) - $start" | bc) $bytes"
	rm -f "$out"
}

# record KEY RESULT: FIG[KEY.ttfb], FIG[KEY.s], FIG[KEY.mibs]; "> T s" when it failed.
record() {
	local key=$1 ttfb s bytes
	read -r ttfb s bytes <<<"$2"
	if [ "$ttfb" = fail ]; then
		if [ "$(echo "$s >= $TIMEOUT - 0.5" | bc)" = 1 ]; then
			FIG[$key.s]="> $TIMEOUT s"
		else
			FIG[$key.s]="failed after $(printf %.2f "$s") s"
		fi
		FIG[$key.ttfb]=-
		FIG[$key.mibs]=-
		return
	fi
	FIG[$key.s]=$(printf '%.3f s' "$s")
	FIG[$key.ttfb]=$(printf '%.3f s' "$ttfb")
	FIG[$key.mibs]=$(echo "$bytes / 1048576 / $s" | bc -l | xargs printf %.0f)
	FIG[$key.raw]=$s
	[ "$bytes" = "$IMAGE_BYTES" ] || FIG[$key.s]="${FIG[$key.s]} (got $bytes of $IMAGE_BYTES bytes)"
}

# hung: a listener on the upstream's port that accepts and never answers.
hung_start() {
	it_spawn "$T/hung.log" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$UPORT"
	HUNG_PID=$IT_LAST_PID
	it_wait_for 10 it_port_busy "$UPORT" || it_die "the hung listener did not start"
}

# upstream_blob_bytes LOG: bytes the upstream sent for blob GETs, by its access log.
upstream_blob_bytes() {
	awk '$6 == "\"GET" && $7 ~ /\/blobs\// && $9 ~ /^2/ { n += $10 } END { printf "%.0f\n", n }' "$1"
}

rss_peak() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_now() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- idle RSS of barged without and with a proxy upstream ----------------------------

barged_start idle-plain || it_die "barged serve does not start"
sleep 1
FIG[rss.barged.idle]=$(rss_now "$BG_PID")
it_stop "$BG_PID"
if barged_start idle-proxy --proxy "docker.io=$UPSTREAM"; then
	sleep 1
	FIG[rss.barged.idle_proxy]=$(rss_now "$BG_PID")
	it_stop "$BG_PID"
fi

# --- one cache at a time: cold, warm, upstream stopped, upstream hung ----------------

# scenario NAME BASE REPO PID [WAIT]: the pulls against one cache: cold,
# warm, upstream stopped (refused), then, WAIT seconds later (barged: past
# the back-off the refusal started, so that the hung pull meets the
# revalidation deadline and not the back-off), upstream hung, a second
# pull and one manifest GET while it still hangs.
scenario() {
	local name=$1 base=$2 repo=$3 pid=$4 wait=${5:-0} r
	it_log "$name: cold pull"
	record "$name.cold" "$(pull "$base" "$repo")"
	it_log "$name: warm pull"
	record "$name.warm" "$(pull "$base" "$repo")"
	it_stop "$UPSTREAM_PID"
	it_log "$name: upstream stopped"
	record "$name.stopped" "$(pull "$base" "$repo")"
	hung_start
	[ "$wait" -eq 0 ] || { it_log "$name: waiting $wait s for the back-off to end"; sleep "$wait"; }
	it_log "$name: upstream hung"
	record "$name.hung" "$(pull "$base" "$repo")"
	record "$name.hung2" "$(pull "$base" "$repo")"
	if r=$(curl -sf -o /dev/null --max-time "$TIMEOUT" -w '%{time_total}' \
		-H "Accept: $MT_MANIFEST" "$base/v2/$repo/manifests/1.0"); then
		FIG[$name.hung_req]=$(printf '%.3f' "$r")
	else
		FIG[$name.hung_req]="> $TIMEOUT"
	fi
	it_stop "$HUNG_PID"
	FIG[rss.$name.peak]=$(rss_peak "$pid")
	it_stop "$pid"
	upstream_start "$name"
}

dr_start dr
scenario dr "$DR" library/bench "$DR_PID"
if barged_start barged --proxy "docker.io=$UPSTREAM"; then
	scenario barged "$BG" edge/docker.io/library/bench "$BG_PID" "$BACKOFF"
fi

# --- CONCURRENT cold pulls on an empty cache ---------------------------------------

# concurrent NAME BASE REPO PID: FIG[NAME.fanin] = upstream blob bytes / image.
concurrent() {
	local name=$1 base=$2 repo=$3 pid=$4 before after i pids=() ok=0
	before=$(upstream_blob_bytes "$UPSTREAM_LOG")
	it_log "$name: $CONCURRENT concurrent cold pulls"
	for i in $(seq 1 "$CONCURRENT"); do
		pull "$base" "$repo" "$CONC_TIMEOUT" >"$T/conc.$name.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	for i in $(seq 1 "$CONCURRENT"); do
		grep -qv '^fail' "$T/conc.$name.$i" && ok=$((ok + 1))
	done
	after=$(upstream_blob_bytes "$UPSTREAM_LOG")
	FIG[$name.conc_ok]=$ok
	FIG[$name.fanin]=$(echo "($after - $before) / $IMAGE_BYTES" | bc -l | xargs printf %.2f)
	FIG[rss.$name.conc_peak]=$(rss_peak "$pid")
	it_stop "$pid"
}
dr_start dr2
concurrent dr "$DR" library/bench "$DR_PID"
if barged_start barged2 --proxy "docker.io=$UPSTREAM"; then
	concurrent barged "$BG" edge/docker.io/library/bench "$BG_PID"
fi

# --- the figures ----------------------------------------------------------------------

ratio() { # ratio A B: A/B with two decimals, or "-"
	if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ]; then
		echo "$1 / $2" | bc -l | xargs printf '%.2fx'
	else
		echo -
	fi
}
kib() { [ -z "$1" ] || echo "$(($1 / 1024)) MiB"; }
secs() { [ -z "$1" ] || echo "$1 s"; }

printf '\nbench/proxy.sh: %s MiB image in %s layers, timeout %s s, %s concurrent pulls\n' \
	"$IMAGE_MIB" "$LAYERS" "$TIMEOUT" "$CONCURRENT"
printf '%-34s %-22s %-22s %s\n' "" "barged --proxy" "docker-registry proxy" "barged / docker-registry"
row() { printf '%-34s %-22s %-22s %s\n' "$1" "${2:-not run}" "${3:-not run}" "${4:-}"; }
row "cold pull: first layer byte" "${FIG[barged.cold.ttfb]:-}" "${FIG[dr.cold.ttfb]:-}"
row "cold pull: time" "${FIG[barged.cold.s]:-}" "${FIG[dr.cold.s]:-}"
row "cold pull: MiB/s" "${FIG[barged.cold.mibs]:-}" "${FIG[dr.cold.mibs]:-}" \
	"$(ratio "${FIG[barged.cold.mibs]:-}" "${FIG[dr.cold.mibs]:-}")"
row "warm pull: time" "${FIG[barged.warm.s]:-}" "${FIG[dr.warm.s]:-}"
row "warm pull: MiB/s" "${FIG[barged.warm.mibs]:-}" "${FIG[dr.warm.mibs]:-}" \
	"$(ratio "${FIG[barged.warm.mibs]:-}" "${FIG[dr.warm.mibs]:-}")"
row "upstream stopped: pull" "${FIG[barged.stopped.s]:-}" "${FIG[dr.stopped.s]:-}"
row "upstream hung: pull" "${FIG[barged.hung.s]:-}" "${FIG[dr.hung.s]:-}"
row "upstream hung: next pull" "${FIG[barged.hung2.s]:-}" "${FIG[dr.hung2.s]:-}"
row "upstream hung: next manifest GET" "$(secs "${FIG[barged.hung_req]:-}")" "$(secs "${FIG[dr.hung_req]:-}")"
row "$CONCURRENT cold pulls: completed" "${FIG[barged.conc_ok]:-}" "${FIG[dr.conc_ok]:-}"
row "$CONCURRENT cold pulls: upstream/image" "${FIG[barged.fanin]:-}" "${FIG[dr.fanin]:-}" \
	"$(ratio "${FIG[barged.fanin]:-}" "${FIG[dr.fanin]:-}")"
row "peak RSS (pulls)" "$(kib "${FIG[rss.barged.peak]:-}")" "$(kib "${FIG[rss.dr.peak]:-}")"
row "peak RSS ($CONCURRENT concurrent)" "$(kib "${FIG[rss.barged.conc_peak]:-}")" \
	"$(kib "${FIG[rss.dr.conc_peak]:-}")"
row "barged idle RSS, no proxy" "$(kib "${FIG[rss.barged.idle]:-}")" ""
row "barged idle RSS, --proxy" "$(kib "${FIG[rss.barged.idle_proxy]:-}")" ""
