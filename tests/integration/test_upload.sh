#!/usr/bin/env bash
# Upload: `curl -T BUNDLE -u admin:PASS --cacert DATA/ca.crt
# https://127.0.0.1:PORT/api/v1/bundles` loads the bundle streamed from the
# request body.  Checked: 201 with what was loaded and the image served
# with upstream's digest, 200 for the same bundle again; no credentials or a
# wrong password 401, a read-only token 403, and nothing loaded; a corrupt
# bundle 400 with the loader's error and the store unchanged; a client that
# goes away mid-body leaves the store unchanged; a second upload while one
# runs 409; over the size limit 413.  A big bundle (UPLOAD_BIG_MIB, default
# 256 MiB) goes through while barged's resident memory grows by less than
# 64 MiB.  Only 127.0.0.1.
#
# Env: BARGE, BARGED (default build/...).  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
BIG_MIB=${UPLOAD_BIG_MIB:-256}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl sha256sum sqlite3 ps; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
export IT_BIG_BYTES=$((BIG_MIB * 1024 * 1024))
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi big; do it_push "$UP" "$n"; done
it_log "building bundles"
B=$IT_TMP/bundles
mkdir -p "$B"
it_build_bundle "$B/one.tar.zst" one 1.0.0 app-a
it_build_bundle "$B/two.tar.zst" two 1.0.0 app-b
it_build_bundle "$B/three.tar.zst" three 1.0.0 multi
it_build_bundle "$B/big.tar.zst" big 1.0.0 big
cp "$B/three.tar.zst" "$B/bad.tar.zst"
it_flip_byte "$B/bad.tar.zst" $(($(it_size "$B/bad.tar.zst") * 3 / 4))

DATA=$IT_TMP/data
LOG=$IT_TMP/serve.log
PASS=upload-test-password
printf '%s\n' "$PASS" >"$IT_TMP/admin.password"
chmod 600 "$IT_TMP/admin.password"

# serve LOG DATA ARGS...: barged serve over TLS on a kernel-picked port; sets PORT and PID.
serve() {
	it_barged_serve "$1" "$2" --admin-password-file "$IT_TMP/admin.password" --no-import "${@:3}"
	PID=$IT_LAST_PID PORT=$IT_PORT
}

# upload FILE [CURL ARGS...]: PUT FILE; the body goes to IT_TMP/resp, the status to stdout.
upload() {
	local f=$1; shift
	curl -sS -o "$IT_TMP/resp" -w '%{http_code}' --cacert "$DATA/ca.crt" -T "$f" "$@" \
		"https://127.0.0.1:$PORT/api/v1/bundles" || true
}
resp() { jq -r "$1" "$IT_TMP/resp"; }
nbundles() { "$BARGED" ls bundles --data-dir "$DATA" --output json | jq length; }
# state: tags and blob files, which a refused upload must leave alone.
state() {
	sqlite3 "$DATA/barge.db" "SELECT r.name || ':' || t.name || '@' || t.digest FROM tags t
		JOIN repositories r ON r.id = t.repo_id ORDER BY 1"
	(cd "$DATA/blobs" && find . -type f | sort)
}
# served NAME: barged serves NAME:1.0 with upstream's digest.
served() {
	local got
	got=$(skopeo inspect --raw --tls-verify=false \
		"docker://127.0.0.1:$PORT/edge/docker.io/library/$1:1.0" | sha256sum | cut -d' ' -f1)
	[ "sha256:$got" = "$(it_top_digest "$UP" "$1")" ]
}
# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
# default) before reuse, which hides what the upload itself holds: that
# barged runs without it so that its RSS means the same as in a plain build.
if ldd "$BARGED" 2>/dev/null | grep -q libasan; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0
fi
# rss_kib: barged's resident set size.
rss_kib() { ps -o rss= -p "$PID" | tr -d ' '; }

serve "$LOG" "$DATA"

# --- with admin credentials ------------------------------------------------------
it_check_eq "upload with admin Basic auth: 201" 201 "$(upload "$B/one.tar.zst" -u "admin:$PASS")"
it_check_eq "the answer names the bundle" "one 1.0.0" "$(resp '.name + " " + .version')"
it_check_eq "the answer counts its images" 1 "$(resp .images)"
it_check "the answer counts new blobs" test "$(resp .blobsNew)" -gt 0
it_check "the image is served with upstream's digest" served app-a
it_check_eq "the same bundle again: 200" 200 "$(upload "$B/one.tar.zst" -u "admin:$PASS")"
it_check_eq "reported as reloaded" true "$(resp .reloaded)"
it_check_eq "one bundle in the store" 1 "$(nbundles)"
it_check_eq "GET lists the bundles, not without credentials: 401" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$DATA/ca.crt" \
		"https://127.0.0.1:$PORT/api/v1/bundles")"
it_check_eq "GET lists the bundles (docs/api.md)" 1 "$(curl -sS --cacert "$DATA/ca.crt" \
	-u "admin:$PASS" "https://127.0.0.1:$PORT/api/v1/bundles" | jq '.bundles | length')"
it_check_eq "POST works as PUT" 201 "$(upload "$B/three.tar.zst" -u "admin:$PASS" -X POST)"
it_check "its index is served" served multi

# --- without the right to ----------------------------------------------------------
before=$(state)
it_check_eq "no credentials: 401" 401 "$(upload "$B/two.tar.zst")"
it_check "401 asks for Basic credentials" \
	grep -qi '^www-authenticate: Basic' <(curl -sS -D - -o /dev/null --cacert "$DATA/ca.crt" \
		-T "$B/two.tar.zst" "https://127.0.0.1:$PORT/api/v1/bundles")
it_check_eq "wrong password: 401" 401 "$(upload "$B/two.tar.zst" -u admin:wrong)"
RO=$("$BARGED" token create --name nodes --data-dir "$DATA" 2>/dev/null)
it_check_eq "read-only token as Basic: 403" 403 "$(upload "$B/two.tar.zst" -u "nodes:$RO")"
it_check_eq "read-only token as Bearer: 403" 403 \
	"$(upload "$B/two.tar.zst" -H "Authorization: Bearer $RO")"
it_check_eq "nothing loaded" 2 "$(nbundles)"
it_check "the store is unchanged" test "$before" = "$(state)"

# --- a corrupt bundle ------------------------------------------------------------
it_check_eq "a corrupt bundle: 400" 400 "$(upload "$B/bad.tar.zst" -u "admin:$PASS")"
it_check_eq "the answer says failed" failed "$(resp .status)"
it_check "the answer carries the loader's error" test -n "$(resp .error)"
it_check "the error is in the log" grep -q "upload refused: request body: corrupt" "$LOG"
it_check "the answer says what is wrong" grep -q "corrupt" "$IT_TMP/resp"
it_check "the store is unchanged" test "$before" = "$(state)"
it_check_eq "not a bundle at all: 400" 400 "$(upload "$IT_TMP/admin.password" -u "admin:$PASS")"
it_check "the store is still unchanged" test "$before" = "$(state)"

# --- a client going away mid-body --------------------------------------------------
curl -sS -o /dev/null --cacert "$DATA/ca.crt" -T "$B/big.tar.zst" -u "admin:$PASS" \
	--limit-rate 4M --max-time 2 "https://127.0.0.1:$PORT/api/v1/bundles" 2>/dev/null || true
it_check "a client gone mid-body: logged" it_wait_for 20 grep -q "client went away" "$LOG"
it_check "and the store unchanged" test "$before" = "$(state)"

# --- a big bundle, streamed: one at a time, memory flat ------------------------------
base=$(rss_kib)
# Paced to take about 5 s, so that the second upload below meets it running.
RATE=$(((BIG_MIB * 1024 + 4) / 5))K
curl -sS -o "$IT_TMP/big.resp" -w '%{http_code}' --cacert "$DATA/ca.crt" -T "$B/big.tar.zst" \
	-u "admin:$PASS" --limit-rate "$RATE" "https://127.0.0.1:$PORT/api/v1/bundles" \
	>"$IT_TMP/big.code" 2>"$IT_TMP/big.err" &
CURL=$!
sleep 1
it_check_eq "a second upload while one runs: 409" 409 "$(upload "$B/two.tar.zst" -u "admin:$PASS")"
peak=$base
while kill -0 "$CURL" 2>/dev/null; do
	r=$(rss_kib)
	[ "$r" -gt "$peak" ] && peak=$r
	sleep 0.2
done
wait "$CURL" || true
it_check_eq "the big bundle ($BIG_MIB MiB): 201" 201 "$(cat "$IT_TMP/big.code")"
it_check_eq "its bytes" "$(jq .bytes "$IT_TMP/big.resp")" \
	"$(jq '[.blobs[].size] | add' <(tar -xOf "$B/big.tar.zst" --zstd barge.json))"
it_check "its image is served" served big
grow=$(((peak - base) / 1024))
echo "barged RSS: $((base / 1024)) MiB before, $((peak / 1024)) MiB peak during a $BIG_MIB MiB upload"
it_check "RSS grows by less than 64 MiB during the upload (grew $grow MiB)" test "$grow" -lt 64
it_check_eq "after it, the next upload runs: 201" 201 "$(upload "$B/two.tar.zst" -u "admin:$PASS")"
it_check_eq "four bundles" 4 "$(nbundles)"
# Every load is counted by its result; the 409 loaded nothing and is not one.
curl -sS --cacert "$DATA/ca.crt" "https://127.0.0.1:$PORT/metrics" >"$IT_TMP/metrics"
loads() { sed -n "s/^barged_bundle_loads_total{source=\"upload\",result=\"$1\"} //p" "$IT_TMP/metrics"; }
it_check_eq "metrics: uploads loaded (one twice, three, big, two)" 5 "$(loads ok)"
it_check_eq "metrics: uploads failed (corrupt, not a bundle, cut short)" 3 "$(loads failed)"
it_stop "$PID"

# --- the size limit ------------------------------------------------------------------
DATA2=$IT_TMP/data2
serve "$IT_TMP/serve2.log" "$DATA2" --upload-max-size 1K
DATA=$DATA2
it_check_eq "over --upload-max-size: 413" 413 "$(upload "$B/one.tar.zst" -u "admin:$PASS")"
it_check_eq "over the limit, chunked: 413" 413 \
	"$(upload - -u "admin:$PASS" -H 'Transfer-Encoding: chunked' <"$B/one.tar.zst")"
it_check_eq "nothing loaded" 0 "$("$BARGED" ls bundles --data-dir "$DATA2" --output json | jq length)"
it_stop "$PID"

it_summary
