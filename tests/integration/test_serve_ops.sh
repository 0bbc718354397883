#!/usr/bin/env bash
# barged serve as an operator runs it: a configuration file with flags over
# it, /healthz /readyz /metrics and the status page, the generated admin
# password (0600, never logged), the Docker token dance with curl, read-only
# tokens that pull but never push, anonymous pull on and off, the JSON access
# log, the metrics an operator scrapes (latency histograms, process_*, the
# webhook's decisions, also in the log), barged passwd and a SIGHUP that
# makes the new admin password the only one, a SIGHUP that makes new TLS
# connections see a new certificate, and SIGTERM exiting 0.  Only 127.0.0.1;
# no other tool than curl, openssl and jq.
#
# Env: BARGED (path of the binary; default build/...).  IT_KEEP_TMP=1 keeps
# the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGED" curl openssl jq sha256sum; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
DATA=$IT_TMP/data
REPO=edge/ops/hello
CURL=(curl -s --noproxy '*' --max-time 30)

# status METHOD URL CURLARGS...: the HTTP status only.
status() {
	local m=$1 url=$2; shift 2
	"${CURL[@]}" -o /dev/null -w '%{http_code}' -X "$m" "$@" "$url" || true
}

# serve NAME ARGS...: start barged serve with ARGS, wait for /healthz; SRV_PID, BASE.
serve() {
	local name=$1 port scheme=http; shift
	port=$(it_free_port)
	it_spawn "$IT_TMP/$name.log" "$BARGED" serve --listen "127.0.0.1:$port" "$@"
	SRV_PID=$IT_LAST_PID
	case " $* " in *" --plain-http "*) ;; *) scheme=https ;; esac
	BASE=$scheme://127.0.0.1:$port
	PORT=$port
	it_wait_for 30 "${CURL[@]}" -f -k "$BASE/healthz" || {
		cat "$IT_TMP/$name.log" >&2
		it_die "barged serve ($name) did not come up"
	}
}

# stop_ok NAME: SIGTERM; the exit status must be 0 and the log free of sanitizer reports.
stop_ok() {
	local rc=0
	kill -TERM "$SRV_PID"
	wait "$SRV_PID" || rc=$?
	it_check_eq "$1: SIGTERM exits 0" 0 "$rc"
	it_check "$1: no sanitizer report" \
		sh -c "! grep -qE 'Sanitizer|runtime error' '$IT_TMP/$1.log'"
}

# --- the configuration file ---------------------------------------------------

cat >"$IT_TMP/barged.yaml" <<EOF
# barged test configuration
data_dir: $DATA
plain_http: true
auth:
  anonymous_pull: true
log:
  access: $IT_TMP/access.log
  format: json
EOF

# A misspelt key stops barged before it serves, naming file, line and column.
printf 'auth:\n  anonymous_pul: true\n' >"$IT_TMP/bad.yaml"
rc=0
"$BARGED" serve --config "$IT_TMP/bad.yaml" --listen 127.0.0.1:1 >"$IT_TMP/bad.out" 2>&1 || rc=$?
it_check_eq "unknown key: exit status 2" 2 "$rc"
it_check "unknown key: message names file:line:col and suggests the key" \
	grep -qF "bad.yaml:2:3: unknown key \"anonymous_pul\" in auth; did you mean \"anonymous_pull\"?" \
	"$IT_TMP/bad.out"
rc=0
"$BARGED" serve --config "$IT_TMP/nonexistent.yaml" >"$IT_TMP/bad.out" 2>&1 || rc=$?
it_check_eq "a named config file that is missing: exit status 1" 1 "$rc"

# A read-only data directory is named as such, with the system's reason,
# before anything tries to write there (it was blamed on the certificate:
# "TLS certificate: mkdir DIR/tls: Read-only file system").  chmod does not
# stop root; a read-only tmpfs does, where this test may mount one.
RO=$IT_TMP/ro
mkdir -p "$RO"
if mount -t tmpfs -o ro,size=1m tmpfs "$RO" 2>/dev/null; then
	for mode in https plain-http; do
		args=(--data-dir "$RO" --listen 127.0.0.1:0)
		if [ $mode = plain-http ]; then args+=(--plain-http); fi
		rc=0
		timeout 30 "$BARGED" serve "${args[@]}" >"$IT_TMP/ro-$mode.out" 2>&1 || rc=$?
		it_check_eq "read-only data dir ($mode): exit status 1" 1 "$rc"
		it_check "read-only data dir ($mode): the message names the directory and the reason" \
			grep -qF "data directory $RO is not writable: Read-only file system" "$IT_TMP/ro-$mode.out"
		it_check "read-only data dir ($mode): nothing else is blamed" \
			test "$(grep -c 'error' "$IT_TMP/ro-$mode.out")" = 1
	done
	rc=0
	timeout 30 "$BARGED" serve --data-dir "$RO/data" --listen 127.0.0.1:0 >"$IT_TMP/ro-sub.out" 2>&1 || rc=$?
	it_check_eq "data dir under a read-only mount: exit status 1" 1 "$rc"
	it_check "data dir under a read-only mount: the message says it cannot be created, and why" \
		grep -qF "data directory $RO/data cannot be created: mkdir $RO/data: Read-only file system" "$IT_TMP/ro-sub.out"
	sed 's/^/  stderr: /' "$IT_TMP/ro-https.out"
	umount "$RO"
else
	it_log "skipped: mounting a read-only tmpfs is not allowed here"
fi

# --- plain HTTP, anonymous pull on ------------------------------------------

serve plain --config "$IT_TMP/barged.yaml" --plain-http --log-level debug
it_check "admin.password generated with mode 0600" \
	test "$(stat -c %a "$DATA/admin.password")" = 600
PW=$(cat "$DATA/admin.password")
it_check_eq "admin password is 24 characters" 24 "${#PW}"
it_check "the log names the password file" grep -qF "$DATA/admin.password" "$IT_TMP/plain.log"

it_check_eq "/healthz 200" 200 "$(status GET "$BASE/healthz")"
it_check_eq "/readyz 200" 200 "$(status GET "$BASE/readyz")"
it_check_eq "/nope 404" 404 "$(status GET "$BASE/nope")"

# The token dance: 401 with a Bearer challenge, /token with Basic, then Bearer.
"${CURL[@]}" -D "$IT_TMP/h" -o /dev/null "$BASE/v2/"
it_check "GET /v2/ without credentials: 401" grep -q '^HTTP/1.1 401' "$IT_TMP/h"
it_check "challenge names the realm on the Host used and the service" \
	grep -qF "WWW-Authenticate: Bearer realm=\"$BASE/token\",service=\"barged\"" "$IT_TMP/h"
realm=$(sed -n 's/^WWW-Authenticate: Bearer realm="\([^"]*\)".*/\1/p' "$IT_TMP/h" | tr -d '\r')
tok=$("${CURL[@]}" -u "admin:$PW" "$realm?service=barged&scope=repository:$REPO:pull,push" |
	jq -r .token)
it_check "/token with admin credentials gives a token" test -n "$tok" -a "$tok" != null
it_check_eq "GET /v2/ with the Bearer token: 200" 200 \
	"$(status GET "$BASE/v2/" -H "Authorization: Bearer $tok")"
it_check_eq "wrong password at /token: 401" 401 \
	"$(status GET "$realm?service=barged&scope=repository:$REPO:pull" -u admin:wrong)"
it_check_eq "wrong password on /v2/: 401" 401 "$(status GET "$BASE/v2/" -u admin:wrong)"

# Push an image (config blob and manifest) with the token, monolithic.
printf '{}' >"$IT_TMP/config.json"
cfg=sha256:$(sha256sum "$IT_TMP/config.json" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' \
	"$cfg" >"$IT_TMP/manifest.json"
man=sha256:$(sha256sum "$IT_TMP/manifest.json" | cut -d' ' -f1)
it_check_eq "anonymous push of a blob: 401" 401 \
	"$(status POST "$BASE/v2/$REPO/blobs/uploads/?digest=$cfg" --data-binary @"$IT_TMP/config.json")"
# push_image REPO TOKEN WHAT: the config blob and the manifest as 1.0, each 201.
push_image() {
	it_check_eq "admin push of the config blob$3: 201" 201 \
		"$(status POST "$BASE/v2/$1/blobs/uploads/?digest=$cfg" -H "Authorization: Bearer $2" \
			-H 'Content-Type: application/octet-stream' --data-binary @"$IT_TMP/config.json")"
	it_check_eq "admin push of the manifest$3: 201" 201 \
		"$(status PUT "$BASE/v2/$1/manifests/1.0" -H "Authorization: Bearer $2" \
			-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
			--data-binary @"$IT_TMP/manifest.json")"
}
push_image "$REPO" "$tok" ""
got=$("${CURL[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"$BASE/v2/$REPO/manifests/1.0" | sha256sum | cut -d' ' -f1)
it_check_eq "anonymous pull: the manifest's bytes" "$man" "sha256:$got"

# Read-only tokens: made while barged runs, they pull and never push.
RO=$("$BARGED" token create --name ci --data-dir "$DATA" 2>/dev/null)
it_check "barged token create prints a token" test "${RO#barge_}" != "$RO"
it_check "barged token ls lists it" sh -c "'$BARGED' token ls --data-dir '$DATA' | grep -q '^ci '"
it_check "barged token ls -o json lists it with its creation time" jq -e \
	'any(.[]; .name == "ci" and (.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")))' \
	<("$BARGED" token ls --data-dir "$DATA" -o json)
it_check "tokens.json keeps no token" sh -c "! grep -qF '$RO' '$DATA/tokens.json'"
it_check_eq "read-only token pulls (Basic)" 200 \
	"$(status GET "$BASE/v2/$REPO/manifests/1.0" -u "ci:$RO")"
it_check_eq "read-only token pushes (Basic): 403" 403 \
	"$(status POST "$BASE/v2/$REPO/blobs/uploads/" -u "ci:$RO")"
rotok=$("${CURL[@]}" -u "ci:$RO" "$BASE/token?service=barged&scope=repository:$REPO:pull,push" |
	jq -r .token)
it_check_eq "read-only token's Bearer token pushes: 403" 403 \
	"$(status PUT "$BASE/v2/$REPO/manifests/2.0" -H "Authorization: Bearer $rotok" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @"$IT_TMP/manifest.json")"

# Metrics and the status page count what happened.
"${CURL[@]}" "$BASE/metrics" >"$IT_TMP/metrics"
it_check "metrics: build info" grep -q '^barged_build_info{version="[^"]*"} 1$' "$IT_TMP/metrics"
it_check "metrics: manifest pulls by status" \
	grep -q '^barged_http_requests_total{route="manifest",method="GET",status="200"} [1-9]' \
	"$IT_TMP/metrics"
it_check "metrics: 403 pushes counted" \
	grep -q '^barged_http_requests_total{route="upload",method="POST",status="403"} 1$' \
	"$IT_TMP/metrics"
it_check "metrics: store blobs" grep -q '^barged_store_blobs 2$' "$IT_TMP/metrics"
it_check "metrics: store tags (renamed from barged_store_images)" \
	grep -q '^barged_store_tags 1$' "$IT_TMP/metrics"
it_check "metrics: barged_store_images is gone" sh -c "! grep -q barged_store_images '$IT_TMP/metrics'"
it_check "metrics: store bytes" \
	grep -q "^barged_store_bytes $(($(stat -c %s "$IT_TMP/manifest.json") + 2))\$" "$IT_TMP/metrics"
"${CURL[@]}" -D "$IT_TMP/status.head" "$BASE/" >"$IT_TMP/status.html"
it_check "/ serves the operator's pages" grep -qF '/app.js"></script>' "$IT_TMP/status.html"
it_check "/ sends the Content-Security-Policy" \
	grep -qi "^content-security-policy: default-src 'self'; script-src 'self'" "$IT_TMP/status.head"

# The webhook's decisions are counted and logged: a patch at info, the rest at debug.
HELLO=edge/docker.io/library/hello
tok2=$("${CURL[@]}" -u "admin:$PW" "$BASE/token?service=barged&scope=repository:$HELLO:pull,push" |
	jq -r .token)
push_image "$HELLO" "$tok2" " to a mirror repository"
# review UID IMAGE: an AdmissionReview creating pod default/web with one container.
review() {
	printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"%s","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"default","object":{"metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"%s"}]}}}}' "$1" "$2"
}
review u1 hello:1.0 >"$IT_TMP/review1.json"
review u2 absent:1.0 >"$IT_TMP/review2.json"
"${CURL[@]}" -H 'Content-Type: application/json' --data-binary @"$IT_TMP/review1.json" \
	"$BASE/webhook/mutate" >"$IT_TMP/review1.out"
it_check "webhook: a pod whose image the store holds is patched" \
	jq -e '.response.patchType == "JSONPatch"' "$IT_TMP/review1.out"
"${CURL[@]}" -H 'Content-Type: application/json' --data-binary @"$IT_TMP/review2.json" \
	"$BASE/webhook/mutate" >/dev/null
"${CURL[@]}" -H 'Content-Type: application/json' --data-binary '{"kind":"Nope"}' \
	"$BASE/webhook/mutate" >/dev/null
# logline LEVEL MSG: barged's log has that line.
logline() {
	jq -R 'fromjson? // empty' "$IT_TMP/plain.log" |
		jq -s -e --arg l "$1" --arg m "$2" 'any(.[]; .level == $l and .msg == $m)' >/dev/null
}
it_check "log: the patch at info, what became what" logline info \
	"webhook: patched: pod default/web: hello:1.0 -> 127.0.0.1:30003/edge/docker.io/library/hello:1.0"
it_check "log: a pod left unpatched at debug, with why" logline debug \
	"webhook: not patched: pod default/web: no image to swap"

# The families an operator scrapes, from the running barged.
"${CURL[@]}" "$BASE/metrics" >"$IT_TMP/metrics"
it_check "metrics: latency histogram of manifest requests" \
	grep -q '^barged_http_request_duration_seconds_bucket{route="manifest",le="0.001"} [0-9]' \
	"$IT_TMP/metrics"
inf=$(sed -n 's/^barged_http_request_duration_seconds_bucket{route="manifest",le="+Inf"} //p' \
	"$IT_TMP/metrics")
cnt=$(sed -n 's/^barged_http_request_duration_seconds_count{route="manifest"} //p' \
	"$IT_TMP/metrics")
req=$(sed -n 's/^barged_http_requests_total{route="manifest",[^}]*} //p' "$IT_TMP/metrics" |
	awk '{ n += $1 } END { print n }')
it_check "metrics: manifest histogram counts every manifest request ($cnt)" \
	test -n "$cnt" -a "$cnt" = "$inf" -a "$cnt" = "$req"
it_check "metrics: histogram sum" \
	grep -qE '^barged_http_request_duration_seconds_sum\{route="manifest"\} [0-9.e-]+$' \
	"$IT_TMP/metrics"
it_check "metrics: webhook patch counted" \
	grep -q '^barged_webhook_reviews_total{decision="swapped",reason="present"} 1$' "$IT_TMP/metrics"
it_check "metrics: webhook left unpatched counted with why" \
	grep -q '^barged_webhook_reviews_total{decision="left",reason="nothing_to_swap"} 1$' \
	"$IT_TMP/metrics"
it_check "metrics: malformed review counted" \
	grep -q '^barged_webhook_reviews_total{decision="left",reason="malformed"} 1$' "$IT_TMP/metrics"
it_check "metrics: bundle loads by source and result" \
	grep -q '^barged_bundle_loads_total{source="upload",result="ok"} 0$' "$IT_TMP/metrics"
it_check "metrics: upstream errors (0 until a pull-through cache)" \
	grep -q '^barged_upstream_errors_total 0$' "$IT_TMP/metrics"
rss=$(sed -n 's/^process_resident_memory_bytes //p' "$IT_TMP/metrics")
it_check "metrics: process_resident_memory_bytes is barged's RSS ($rss)" \
	test "$rss" -gt 1000000 -a "$rss" -lt 200000000
it_check "metrics: process_open_fds" grep -qE '^process_open_fds [1-9][0-9]*$' "$IT_TMP/metrics"
it_check "metrics: process_cpu_seconds_total" \
	grep -qE '^process_cpu_seconds_total [0-9]+\.[0-9]+$' "$IT_TMP/metrics"
start=$(sed -n 's/^process_start_time_seconds \([0-9]*\).*/\1/p' "$IT_TMP/metrics")
now=$(date +%s)
it_check "metrics: process_start_time_seconds is when barged started ($start, now $now)" \
	test -n "$start" -a "$start" -le "$now" -a "$start" -gt $((now - 600))

# Removing the token works at once, without a restart.
"$BARGED" token rm ci --data-dir "$DATA"
it_check_eq "removed read-only token: 401" 401 \
	"$(status GET "$BASE/v2/$REPO/manifests/1.0" -u "ci:$RO")"
stop_ok plain

# logged QUERY: some access-log line satisfies the jq condition.
logged() { jq -s -e "any(.[]; $1)" "$IT_TMP/access.log" >/dev/null; }
it_check "access log: admin's /token request with its user and status" \
	logged '.path == "/token" and .user == "admin" and .status == 200'
it_check "access log: the 403 push with the read-only token's name" \
	logged '.method == "POST" and .status == 403 and .user == "token:ci" and .remote == "127.0.0.1"'
it_check "access log: every line is JSON" sh -c "jq -e . '$IT_TMP/access.log' >/dev/null"
it_check "access log: no query strings (no digests from ?digest=)" \
	sh -c "! grep -q '?' '$IT_TMP/access.log'"
it_check "no password or token in any log" \
	sh -c "! grep -rqF -e '$PW' -e '$RO' -e '$tok' '$IT_TMP/plain.log' '$IT_TMP/access.log'"

# --- flags over the file: anonymous pull off --------------------------------

RO=$("$BARGED" token create --name nodes --data-dir "$DATA" -o json 2>/dev/null | jq -r 'select(.name == "nodes") | .token')
it_check "barged token create -o json: the token" test "${RO#barge_}" != "$RO"
serve closed --config "$IT_TMP/barged.yaml" --plain-http --anonymous-pull=false --access-log off
it_check_eq "--anonymous-pull=false: anonymous pull 401" 401 \
	"$(status GET "$BASE/v2/$REPO/manifests/1.0")"
it_check_eq "--anonymous-pull=false: anonymous /token 401" 401 \
	"$(status GET "$BASE/token?service=barged&scope=repository:$REPO:pull")"
rotok=$("${CURL[@]}" -u "nodes:$RO" "$BASE/token?service=barged&scope=repository:$REPO:pull" |
	jq -r .token)
it_check_eq "read-only token dance pulls" 200 \
	"$(status GET "$BASE/v2/$REPO/manifests/1.0" -H "Authorization: Bearer $rotok")"
it_check_eq "the same password as before (not regenerated)" "$PW" "$(cat "$DATA/admin.password")"
stop_ok closed

# --- the admin password: barged passwd, then SIGHUP ----------------------------

# A configured password file, as an operator names it in barged.yaml.
cat >"$IT_TMP/barged-pw.yaml" <<EOF
data_dir: $DATA
plain_http: true
auth:
  admin_password_file: $IT_TMP/admin.pw
log:
  access: "off"
EOF
printf 'first-password\n' >"$IT_TMP/admin.pw"
chmod 600 "$IT_TMP/admin.pw"
serve pw --config "$IT_TMP/barged-pw.yaml" --plain-http --no-import
# v2 PASSWORD: the status of GET /v2/ with admin's Basic credentials.
v2() { status GET "$BASE/v2/" -u "admin:$1"; }
# token_v2 PASSWORD: the status of GET /v2/ with a Bearer token from /token (000: no token).
token_v2() {
	local t
	t=$("${CURL[@]}" -u "admin:$1" "$BASE/token?service=barged" | jq -r '.token // empty' || true)
	[ -n "$t" ] || { echo 000; return; }
	status GET "$BASE/v2/" -H "Authorization: Bearer $t"
}
it_check_eq "configured password: Basic on /v2/ 200" 200 "$(v2 first-password)"
it_check_eq "configured password: through /token 200" 200 "$(token_v2 first-password)"

rc=0
printf 'second-password\n' | "$BARGED" passwd --config "$IT_TMP/barged-pw.yaml" \
	>"$IT_TMP/passwd.out" 2>&1 || rc=$?
it_check_eq "barged passwd from stdin: exit 0" 0 "$rc"
it_check "barged passwd tells the operator to send SIGHUP" grep -q SIGHUP "$IT_TMP/passwd.out"
it_check_eq "barged passwd wrote the configured file" second-password "$(cat "$IT_TMP/admin.pw")"
it_check_eq "the password file is 0600" 600 "$(stat -c %a "$IT_TMP/admin.pw")"
it_check "barged passwd does not print the password" \
	sh -c "! grep -q second-password '$IT_TMP/passwd.out'"
# barged notices the rewritten file by itself (docs/configuration.md); SIGHUP still reloads.
it_check_eq "at once, without SIGHUP: the old password on /v2/ 401" 401 "$(v2 first-password)"
it_check_eq "at once, without SIGHUP: the new password on /v2/ 200" 200 "$(v2 second-password)"
kill -HUP "$SRV_PID"
it_wait_for 10 grep -q "admin password reloaded" "$IT_TMP/pw.log" || true
it_check_eq "after SIGHUP: the old password on /v2/ 401" 401 "$(v2 first-password)"
it_check_eq "after SIGHUP: the old password at /token 401" 401 \
	"$(status GET "$BASE/token?service=barged" -u admin:first-password)"
it_check_eq "after SIGHUP: the new password on /v2/ 200" 200 "$(v2 second-password)"
it_check_eq "after SIGHUP: the new password through /token 200" 200 "$(token_v2 second-password)"

# Refused input leaves the file as it was.
rc=0
printf '' | "$BARGED" passwd --config "$IT_TMP/barged-pw.yaml" >"$IT_TMP/passwd.out" 2>&1 || rc=$?
it_check_eq "barged passwd with an empty password: exit 1" 1 "$rc"
it_check "empty password: the message says why" grep -q "one non-empty line" "$IT_TMP/passwd.out"
rc=0
printf 'a\nb\n' | "$BARGED" passwd --config "$IT_TMP/barged-pw.yaml" >/dev/null 2>&1 || rc=$?
it_check_eq "barged passwd with two lines: exit 1" 1 "$rc"
it_check_eq "refused passwords leave the file alone" second-password "$(cat "$IT_TMP/admin.pw")"

# --generate prints the new password once; it is what the file holds.
gen=$("$BARGED" passwd --generate --config "$IT_TMP/barged-pw.yaml" 2>"$IT_TMP/passwd.err" || true)
it_check_eq "barged passwd --generate: 24 characters" 24 "${#gen}"
it_check_eq "barged passwd --generate: the file holds what was printed" "$gen" \
	"$(cat "$IT_TMP/admin.pw")"
kill -HUP "$SRV_PID"
it_wait_for 10 sh -c "[ \$(grep -c 'admin password reloaded' '$IT_TMP/pw.log') -ge 2 ]" || true
it_check_eq "generated password after SIGHUP: /v2/ 200" 200 "$(v2 "$gen")"
it_check_eq "the replaced password: 401" 401 "$(v2 second-password)"

# A reload that cannot read the file keeps the password in use.
mv "$IT_TMP/admin.pw" "$IT_TMP/admin.pw.away"
kill -HUP "$SRV_PID"
it_wait_for 10 grep -q "admin password reload failed" "$IT_TMP/pw.log" || true
it_check "unreadable file on SIGHUP: logged" grep -q "admin password reload failed" "$IT_TMP/pw.log"
it_check_eq "unreadable file on SIGHUP: the password in use still works" 200 "$(v2 "$gen")"
it_check "no password in the log" \
	sh -c "! grep -qF -e first-password -e second-password -e '$gen' '$IT_TMP/pw.log'"
stop_ok pw

# --- TLS with an operator's certificate, reloaded on SIGHUP -----------------

# mkcert NAME SERIAL: a self-signed certificate for 127.0.0.1 with a known serial.
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=barged test $1" -addext "subjectAltName=IP:127.0.0.1" -set_serial "$2" \
		-keyout "$IT_TMP/$1.key" -out "$IT_TMP/$1.crt" 2>/dev/null
}
# serial: the serial number of the certificate served now.
serial() {
	openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -serial | cut -d= -f2
}
mkcert one 0x1111
mkcert two 0x2222
cp "$IT_TMP/one.crt" "$IT_TMP/tls.crt"
cp "$IT_TMP/one.key" "$IT_TMP/tls.key"
serve tls --config "$IT_TMP/barged.yaml" --plain-http=false \
	--tls-cert "$IT_TMP/tls.crt" --tls-key "$IT_TMP/tls.key"
it_check_eq "TLS: /healthz with the operator's certificate trusted" 200 \
	"$(status GET "$BASE/healthz" --cacert "$IT_TMP/one.crt")"
it_check_eq "TLS: serial before reload" 1111 "$(serial)"
it_check "TLS 1.1 is refused" sh -c "! openssl s_client -connect 127.0.0.1:$PORT -tls1_1 </dev/null >/dev/null 2>&1"

# A key that does not match is refused and the old certificate stays.
cp "$IT_TMP/two.crt" "$IT_TMP/tls.crt"
kill -HUP "$SRV_PID"
it_wait_for 10 grep -q "certificate reload failed" "$IT_TMP/tls.log"
it_check "mismatched pair on SIGHUP: reload refused, logged" \
	grep -q "does not belong to" "$IT_TMP/tls.log"
it_check_eq "mismatched pair: the old certificate still served" 1111 "$(serial)"
cp "$IT_TMP/two.key" "$IT_TMP/tls.key"
kill -HUP "$SRV_PID"
it_wait_for 10 grep -q "certificate reloaded" "$IT_TMP/tls.log"
it_check_eq "SIGHUP: new connections get the new certificate" 2222 "$(serial)"
it_check_eq "TLS: /readyz trusted with the new certificate" 200 \
	"$(status GET "$BASE/readyz" --cacert "$IT_TMP/two.crt")"
it_check "SIGHUP did not stop the server" kill -0 "$SRV_PID"
stop_ok tls

# --- TLS with the generated CA ------------------------------------------------

serve gen --data-dir "$DATA" --access-log off --tls-name edge.test
it_check_eq "generated CA: /healthz trusted through DATA/ca.crt" 200 \
	"$(status GET "$BASE/healthz" --cacert "$DATA/ca.crt")"
it_check_eq "generated CA: anonymous manifest pull over HTTPS" 200 \
	"$(status GET "$BASE/v2/$REPO/manifests/1.0" --cacert "$DATA/ca.crt")"
"${CURL[@]}" -D "$IT_TMP/h" -o /dev/null --cacert "$DATA/ca.crt" "$BASE/v2/"
it_check "HTTPS challenge realm is https://" \
	grep -qF "WWW-Authenticate: Bearer realm=\"$BASE/token\"" "$IT_TMP/h"
before=$(serial)
rm "$DATA/tls/server.crt" "$DATA/tls/server.key"
kill -HUP "$SRV_PID"
it_wait_for 10 grep -q "certificate reloaded" "$IT_TMP/gen.log"
after=$(serial)
it_check "SIGHUP after removing server.crt: a new certificate is served" \
	test -n "$after" -a "$after" != "$before"
it_check_eq "new certificate still trusted through the same CA" 200 \
	"$(status GET "$BASE/healthz" --cacert "$DATA/ca.crt")"
stop_ok gen

it_summary
