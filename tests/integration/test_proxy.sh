#!/usr/bin/env bash
# barged as a pull-through cache (issue #12), with real parts on 127.0.0.1:
# docker-registry upstreams (one anonymous behind tools/upstream_faults.py,
# whose mode the test switches; one with htpasswd Basic auth read from a
# docker config.json) and skopeo as the client.  Covers: cold pulls (digests
# equal upstream's), a Range on a blob not yet stored, 16 concurrent cold
# pulls (each blob fetched once), credentials kept out of logs and metrics,
# a hung upstream (served from the cache within the deadline + 1 s, then no
# upstream call during the back-off), 500 and 429 upstreams, an upstream
# that breaks mid layer (the client fails, nothing partial is stored, the
# next pull succeeds), a tag moved upstream, the upstream stopped, and
# kill -9 of barged during a proxied fetch (fsck clean, the pull succeeds).
# Peers are in test_proxy_peers.sh.
#
# Env: BARGED (path of the binary; default build/...).  IT_KEEP_TMP=1 keeps
# the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" curl jq skopeo docker-registry htpasswd python3 sha256sum; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
CURL=(curl -s --noproxy '*' --max-time 30)
MODE=$IT_TMP/mode
MT_INDEX=application/vnd.oci.image.index.v1+json
REVALIDATE_MS=1000
BACKOFF_S=2

# --- upstreams ------------------------------------------------------------------

IT_BIG_BYTES=$((24 * 1024 * 1024)) it_make_sample_images "$IT_TMP/images"
it_registry_start
UP=$IT_REGISTRY
for n in app-a app-b multi big docker2; do it_push "$IT_TMP/images" "$n"; done
FPORT=$(it_free_port)
it_spawn "$IT_TMP/faults.log" python3 "$IT_LIB_DIR/tools/upstream_faults.py" --port "$FPORT" \
	--upstream "$UP" --mode-file "$MODE"
FPID=$IT_LAST_PID
it_wait_for 30 "${CURL[@]}" -f "http://127.0.0.1:$FPORT/v2/"

# The authenticated upstream: htpasswd, and the credentials in a docker config.json.
htpasswd -Bbn robot 's3cret-Pa55' >"$IT_TMP/htpasswd"
it_registry_start_conf authreg "auth:
  htpasswd:
    realm: barge-test
    path: $IT_TMP/htpasswd"
AUTH=$IT_REG_ADDR
# Its access log counts the fetches: at level info.
sed -i 's/level: warn/level: info/' "$IT_REG_DIR/config.yml"
it_stop "$IT_REG_PID"
it_registry_restart_conf authreg
skopeo copy -q --dest-tls-verify=false --dest-creds robot:s3cret-Pa55 \
	"oci:$IT_TMP/images/app-b:1.0" "docker://$AUTH/team/app-b:1.0"
mkdir -p "$IT_TMP/docker"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$AUTH" \
	"$(printf robot:s3cret-Pa55 | base64)" >"$IT_TMP/docker/config.json"

# --- barged ---------------------------------------------------------------------

# serve NAME DATA [YAML]: barged serve with the proxy section (and YAML,
# more proxy keys); SRV_PID, BASE.
serve() {
	local port
	port=$(it_free_port)
	cat >"$IT_TMP/$1.yaml" <<EOF
data_dir: $2
plain_http: true
import:
  enabled: false
proxy:
  upstreams:
    - registry: upstream.test
      url: http://127.0.0.1:$FPORT
    - registry: $AUTH
      url: http://$AUTH
      docker_config: $IT_TMP/docker/config.json
  revalidate_timeout_ms: $REVALIDATE_MS
  backoff_s: $BACKOFF_S
${3:-}
EOF
	it_spawn "$IT_TMP/$1.log" "$BARGED" serve --config "$IT_TMP/$1.yaml" \
		--listen "127.0.0.1:$port"
	SRV_PID=$IT_LAST_PID
	BASE=127.0.0.1:$port
	it_wait_for 30 "${CURL[@]}" -f "http://$BASE/healthz" || {
		cat "$IT_TMP/$1.log" >&2
		it_die "barged serve $1 did not come up"
	}
}

REPO=edge/upstream.test/library
# pull NAME [OUT]: skopeo copy (every platform) of REPO/NAME:1.0 from barged into dir OUT.
pull() {
	local out=${2:-$IT_TMP/out-$1}
	rm -rf "$out"
	skopeo copy -q --all --src-tls-verify=false "docker://$BASE/$REPO/$1:1.0" "dir:$out" \
		>/dev/null 2>"$IT_TMP/skopeo.err"
}
# digest_of DIR: the digest of the manifest skopeo stored.
digest_of() { echo "sha256:$(sha256sum <"$1/manifest.json" | cut -d' ' -f1)"; }
ms() { date +%s%3N; }
# upstream_gets PATTERN: GETs the upstream answered whose path matches PATTERN.
upstream_gets() { grep -cE "^pass [0-9]+ GET $1\$" "$IT_TMP/faults.log" || true; }
metric() { "${CURL[@]}" "http://$BASE/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# maps_curl PID: how many mappings of libcurl the process has.
maps_curl() { grep -c libcurl "/proc/$1/maps" || true; }

it_check_eq "barged links no libcurl" "" "$(ldd "$BARGED" | grep curl || true)"
port=$(it_free_port)
it_spawn "$IT_TMP/plain.log" "$BARGED" serve --plain-http --no-import --data-dir "$IT_TMP/plain" \
	--listen "127.0.0.1:$port"
it_wait_for 30 "${CURL[@]}" -f "http://127.0.0.1:$port/healthz"
"${CURL[@]}" -o /dev/null "http://127.0.0.1:$port/v2/edge/upstream.test/library/app-a/manifests/1.0"
it_check_eq "barged without a proxy section never maps libcurl" 0 "$(maps_curl "$IT_LAST_PID")"
it_stop "$IT_LAST_PID"

echo pass >"$MODE"
serve main "$IT_TMP/data"
it_check "barged with a proxy section says where each registry pulls through from" \
	grep -q "pulls through from http://127.0.0.1:$FPORT" "$IT_TMP/main.log"
it_check_eq "barged with a proxy section maps libcurl only once a request needs it" 0 \
	"$(maps_curl "$SRV_PID")"

# --- cold pulls -----------------------------------------------------------------

for n in app-a multi; do
	if pull "$n"; then
		it_check_eq "cold pull of $n: the digest upstream serves" \
			"$(it_top_digest "$IT_TMP/images" "$n")" "$(digest_of "$IT_TMP/out-$n")"
	else
		it_fail "cold pull of $n: $(cat "$IT_TMP/skopeo.err")"
	fi
done
it_check "after a cold pull, the upstream module (and libcurl) is loaded" \
	test "$(maps_curl "$SRV_PID")" -gt 0
it_check_eq "multi: its top manifest was fetched upstream once" 1 \
	"$(upstream_gets "/v2/library/multi/manifests/1.0")"

# containerd's mirror form, /v2/<path>/...?ns=<registry>, reaches the same upstream.
dcd=$("${CURL[@]}" -D - -o /dev/null -H "Accept: $MT_INDEX" \
	"http://$BASE/v2/library/app-b/manifests/1.0?ns=upstream.test" |
	tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')
it_check_eq "?ns=upstream.test: a cold manifest, the upstream's digest" \
	"$(it_top_digest "$IT_TMP/images" app-b)" "$dcd"

# A HEAD of a blob the store does not hold: its size, and nothing fetched.
CFG=$(jq -r '.config.digest' "$IT_TMP/images/docker2/manifest.json")
len=$("${CURL[@]}" -I "http://$BASE/v2/$REPO/docker2/blobs/$CFG" | tr -d '\r' |
	awk 'tolower($1) == "content-length:" {print $2}')
it_check_eq "HEAD of a proxied blob not yet stored: its size" \
	"$(it_size "$(it_registry_blob_file "$IT_TMP/registry" "$CFG")")" "$len"
it_check_eq "HEAD of a proxied blob: not fetched" 0 "$(upstream_gets "/v2/library/docker2/blobs/$CFG")"

# A Range on a blob the store does not hold yet (no manifest asked first): 206, the right bytes.
LAYER=$(jq -r '.layers[-1].digest' "$IT_TMP/images/docker2/manifest.json")
code=$("${CURL[@]}" -o "$IT_TMP/range.bin" -w '%{http_code}' -r 10-29 \
	"http://$BASE/v2/$REPO/docker2/blobs/$LAYER")
it_check_eq "Range on a proxied blob not yet stored: 206" 206 "$code"
it_check "Range on a proxied blob: the upstream's bytes 10-29" \
	cmp "$IT_TMP/range.bin" <(tail -c +11 "$(it_registry_blob_file "$IT_TMP/registry" "$LAYER")" |
		head -c 20)

# --- 16 concurrent cold pulls of one image, through the authenticated upstream ----

echo slow:200000 >"$MODE"
pids=()
for i in $(seq 1 16); do
	skopeo copy -q --src-tls-verify=false "docker://$BASE/edge/${AUTH/:/_}/team/app-b:1.0" \
		"dir:$IT_TMP/conc-$i" >/dev/null 2>"$IT_TMP/conc-$i.err" &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
echo pass >"$MODE"
it_check_eq "16 concurrent cold pulls through the authenticated upstream: all succeed" 16 "$ok"
it_check_eq "16 concurrent cold pulls: the digest upstream serves" \
	"$(it_top_digest "$IT_TMP/images" app-b)" "$(digest_of "$IT_TMP/conc-1")"
fetched() { grep -c "\"GET /v2/team/app-b/$1 HTTP/1.1\" 200" "$IT_TMP/authreg/log" || true; }
it_check_eq "16 concurrent cold pulls: the manifest fetched once" 1 "$(fetched manifests/1.0)"
# The base layer is app-a's too, stored already: fetched at most once.
for b in $(jq -r '.layers[1:][].digest, .config.digest' "$IT_TMP/conc-1/manifest.json"); do
	it_check_eq "16 concurrent cold pulls: blob ${b:7:12} fetched once" 1 "$(fetched "blobs/$b")"
done
it_check "16 concurrent cold pulls: the shared base layer not fetched again" \
	test "$(fetched "blobs/$(jq -r '.layers[0].digest' "$IT_TMP/conc-1/manifest.json")")" -le 1

# Upstream credentials appear nowhere.
"${CURL[@]}" "http://$BASE/metrics" >"$IT_TMP/metrics.txt"
it_check "the upstream password is not in barged's log or metrics" \
	sh -c "! grep -qE 's3cret|$(printf robot:s3cret-Pa55 | base64)' '$IT_TMP/main.log' '$IT_TMP/metrics.txt'"

# --- a hung upstream: the cached copy within the deadline + 1 s -----------------

sleep "$BACKOFF_S"
echo hang >"$MODE"
t0=$(ms)
if timeout 20 skopeo copy -q --src-tls-verify=false "docker://$BASE/$REPO/app-a:1.0" \
	"dir:$IT_TMP/hung" >/dev/null 2>"$IT_TMP/skopeo.err"; then
	t=$(($(ms) - t0))
	it_check "hung upstream: pull from the cache in ${t} ms (<= $((REVALIDATE_MS + 1000)) + 1000 for skopeo)" \
		test "$t" -le $((REVALIDATE_MS + 2000))
else
	it_fail "hung upstream: pull failed: $(cat "$IT_TMP/skopeo.err")"
fi
it_check "hung upstream: logged as served stale" grep -q "app-a:1.0 served from the store (stale)" \
	"$IT_TMP/main.log"
hangs=$(grep -c '^hang' "$IT_TMP/faults.log")
t0=$(ms)
pull app-a "$IT_TMP/hung2" || it_fail "pull during the back-off: $(cat "$IT_TMP/skopeo.err")"
t=$(($(ms) - t0))
it_check_eq "during the back-off the upstream is not asked" "$hangs" \
	"$(grep -c '^hang' "$IT_TMP/faults.log")"
it_check "during the back-off the pull is local (${t} ms)" test "$t" -le 1000
it_check_eq "upstream down in the metrics" 0 \
	"$(metric 'barged_proxy_upstream_up{registry="upstream.test"}')"

# --- 500 and 429 ----------------------------------------------------------------

for fault in 500 429; do
	sleep "$BACKOFF_S"
	echo "$fault" >"$MODE"
	before=$(metric 'barged_proxy_requests_total{registry="upstream.test",result="stale"}')
	if pull multi "$IT_TMP/f$fault"; then
		it_check_eq "$fault upstream: the cached copy is served" \
			"$(it_top_digest "$IT_TMP/images" multi)" "$(digest_of "$IT_TMP/f$fault")"
	else
		it_fail "$fault upstream: $(cat "$IT_TMP/skopeo.err")"
	fi
	it_check "$fault upstream: counted as stale" test \
		"$(metric 'barged_proxy_requests_total{registry="upstream.test",result="stale"}')" -gt "$before"
done

# --- an upstream that breaks in the middle of a large layer ---------------------

sleep "$BACKOFF_S"
BIG_LAYER=$(jq -r '.layers[0].digest' "$IT_TMP/images/big/blobs/sha256/$(jq -r \
	'.manifests[0].digest' "$IT_TMP/images/big/index.json" | cut -d: -f2)")
echo cut:3000000 >"$MODE"
if pull big; then
	it_fail "upstream broken mid layer: the pull succeeded"
else
	it_pass "upstream broken mid layer: the client fails"
fi
it_check "upstream broken mid layer: nothing of the layer is stored" \
	test ! -e "$IT_TMP/data/blobs/sha256/${BIG_LAYER:7:2}/${BIG_LAYER:7}"
it_check_eq "upstream broken mid layer: no temporary file left" "" "$(ls -A "$IT_TMP/data/tmp")"
echo pass >"$MODE"
sleep "$BACKOFF_S"
if pull big; then
	it_check_eq "after the upstream returns, the pull succeeds" \
		"$(it_top_digest "$IT_TMP/images" big)" "$(digest_of "$IT_TMP/out-big")"
else
	it_fail "after the upstream returns: $(cat "$IT_TMP/skopeo.err")"
fi

# --- a tag moved upstream -------------------------------------------------------

skopeo copy -q --all --preserve-digests --dest-tls-verify=false \
	"oci:$IT_TMP/images/app-b:1.0" "docker://$UP/library/app-a:1.0"
if pull app-a "$IT_TMP/moved"; then
	it_check_eq "a tag moved upstream: the new digest is served" \
		"$(it_top_digest "$IT_TMP/images" app-b)" "$(digest_of "$IT_TMP/moved")"
else
	it_fail "a tag moved upstream: $(cat "$IT_TMP/skopeo.err")"
fi

# --- proxy.max_size evicts proxied content only -----------------------------------

it_build_bundle "$IT_TMP/pinned.tar.zst" pinned 1.0.0 app-b
"$BARGED" load --data-dir "$IT_TMP/data3" "$IT_TMP/pinned.tar.zst" >"$IT_TMP/load.out" 2>&1 ||
	it_die "barged load: $(cat "$IT_TMP/load.out")"
MAIN_PID=$SRV_PID MAIN_BASE=$BASE
serve evict "$IT_TMP/data3" "  max_size: 20M"
pull multi "$IT_TMP/ev-multi" || it_fail "max_size: pull multi: $(cat "$IT_TMP/skopeo.err")"
pull big "$IT_TMP/ev-big" || true # its layer alone is past the limit: it may go at once
pull multi "$IT_TMP/ev-multi" || it_fail "max_size: pull multi again: $(cat "$IT_TMP/skopeo.err")"
it_check "proxy.max_size: the proxied 24 MiB layer was evicted" \
	it_wait_for 10 test ! -e "$IT_TMP/data3/blobs/sha256/${BIG_LAYER:7:2}/${BIG_LAYER:7}"
it_check "proxy.max_size: logged what it evicted" grep -q "proxy.max_size: evicted" "$IT_TMP/evict.log"
rm -rf "$IT_TMP/ev-pinned"
if skopeo copy -q --src-tls-verify=false "docker://$BASE/edge/docker.io/library/app-b:1.0" \
	"dir:$IT_TMP/ev-pinned" >/dev/null 2>"$IT_TMP/skopeo.err"; then
	it_check_eq "proxy.max_size: the bundle's pinned image is whole" \
		"$(it_top_digest "$IT_TMP/images" app-b)" "$(digest_of "$IT_TMP/ev-pinned")"
else
	it_fail "proxy.max_size: the bundle's pinned image: $(cat "$IT_TMP/skopeo.err")"
fi
if "$BARGED" fsck --data-dir "$IT_TMP/data3" >"$IT_TMP/fsck3.out" 2>&1; then
	it_pass "proxy.max_size: fsck is clean after eviction"
else
	it_fail "proxy.max_size: fsck after eviction: $(head -3 "$IT_TMP/fsck3.out")"
fi
kill -TERM "$SRV_PID"
wait "$SRV_PID" || true
SRV_PID=$MAIN_PID BASE=$MAIN_BASE

# --- a tag deleted upstream: the cached copy stands, the upstream is not "down" --

code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X DELETE \
	"http://$UP/v2/library/multi/manifests/$(it_top_digest "$IT_TMP/images" multi)")
it_check_eq "upstream: multi deleted" 202 "$code"
if pull multi "$IT_TMP/deleted"; then
	it_check_eq "a tag deleted upstream: the cached copy is served" \
		"$(it_top_digest "$IT_TMP/images" multi)" "$(digest_of "$IT_TMP/deleted")"
else
	it_fail "a tag deleted upstream: $(cat "$IT_TMP/skopeo.err")"
fi
it_check_eq "a tag deleted upstream: the upstream is not backed off" 1 \
	"$(metric 'barged_proxy_upstream_up{registry="upstream.test"}')"

# --- the upstream stopped -------------------------------------------------------

it_stop "$FPID"
for n in app-a multi big; do
	if pull "$n" "$IT_TMP/off-$n"; then
		it_pass "upstream stopped: $n pulls from the cache"
	else
		it_fail "upstream stopped: $n: $(cat "$IT_TMP/skopeo.err")"
	fi
done
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' \
	"http://$BASE/v2/$REPO/app-a/manifests/$(it_top_digest "$IT_TMP/images" app-a)")
it_check_eq "upstream stopped: a stored digest is served" 200 "$code"

# --- kill -9 of barged during a proxied fetch -----------------------------------

it_spawn "$IT_TMP/faults.log" python3 "$IT_LIB_DIR/tools/upstream_faults.py" --port "$FPORT" \
	--upstream "$UP" --mode-file "$MODE"
it_wait_for 30 "${CURL[@]}" -f "http://127.0.0.1:$FPORT/v2/"
kill -TERM "$SRV_PID"
wait "$SRV_PID" || true
serve crash "$IT_TMP/data2"
echo slow:4000000 >"$MODE"
pull big "$IT_TMP/crash" &
puller=$!
it_wait_for 20 sh -c "find '$IT_TMP/data2/tmp' -size +1M 2>/dev/null | grep -q ."
kill -9 "$SRV_PID"
wait "$puller" 2>/dev/null || true
echo pass >"$MODE"
if "$BARGED" fsck --data-dir "$IT_TMP/data2" >"$IT_TMP/fsck.out" 2>&1; then
	it_pass "kill -9 during a proxied fetch: barged fsck is clean"
else
	it_fail "kill -9 during a proxied fetch: fsck: $(head -5 "$IT_TMP/fsck.out")"
fi
serve crash2 "$IT_TMP/data2"
if pull big "$IT_TMP/crash"; then
	it_check_eq "kill -9 during a proxied fetch: after a restart the pull succeeds" \
		"$(it_top_digest "$IT_TMP/images" big)" "$(digest_of "$IT_TMP/crash")"
else
	it_fail "after kill -9 and a restart: $(cat "$IT_TMP/skopeo.err")"
fi

kill -TERM "$SRV_PID"
rc=0
wait "$SRV_PID" || rc=$?
it_check_eq "SIGTERM: barged exits 0" 0 "$rc"
it_check "no sanitizer report in any barged log" \
	sh -c "! grep -lE 'Sanitizer|runtime error' '$IT_TMP'/*.log"

it_summary
