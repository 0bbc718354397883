#!/usr/bin/env bash
# barged sync --from (issue #12): a bundle loaded into barged A, served over
# HTTPS with pulls needing credentials, is copied into store B with one
# command; B then serves the same digests as A (skopeo), `barged ls` agrees
# on both, and a second sync copies nothing.  A sync killed with SIGKILL in
# the middle of a blob leaves store C fsck-clean with nothing visible, and a
# rerun completes it.  A peer answering a wrong blob is refused naming its
# digest, and nothing is kept.  Only 127.0.0.1.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).
# IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl python3; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
# The big sample gives the kill test a blob to be in the middle of.
IT_BIG_BYTES=$((8 * 1024 * 1024)) it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi big; do it_push "$UP" "$n"; done
export SOURCE_DATE_EPOCH=0
it_build_bundle "$IT_TMP/one.tar.zst" one v1 app-a multi
it_build_bundle "$IT_TMP/two.tar.zst" two v1 app-b big

A=$IT_TMP/a
B=$IT_TMP/b
C=$IT_TMP/c
for v in one two; do
	"$BARGED" load --data-dir "$A" "$IT_TMP/$v.tar.zst" >/dev/null 2>&1 ||
		it_die "barged load $v into A failed"
done

# serve LOG PORTVAR ARGS...: barged serve on a free port, its port in PORTVAR.
serve() {
	local log=$1 var=$2 port; shift 2
	port=$(it_free_port)
	it_spawn "$IT_TMP/$log" "$BARGED" serve --listen "127.0.0.1:$port" --no-import "$@"
	printf -v "$var" '%s' "$port"
	LAST_SERVE=$IT_LAST_PID
}
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$@")" != 000 ]; }

serve serve-a PA --data-dir "$A" --project edge --anonymous-pull=false
it_wait_for 30 test -s "$A/ca.crt" || { cat "$IT_TMP/serve-a"; it_die "no $A/ca.crt"; }
it_wait_for 30 answers --cacert "$A/ca.crt" "https://127.0.0.1:$PA/v2/" ||
	{ cat "$IT_TMP/serve-a"; it_die "barged serve A does not answer"; }
it_wait_for 10 test -s "$A/admin.password" || it_die "no $A/admin.password"
PEER=(--from "https://127.0.0.1:$PA" --ca-file "$A/ca.crt"
	--username admin --password-file "$A/admin.password")

# --- the listing is a pull, and needs credentials here --------------------------

it_check_eq "GET /api/v1/sync without credentials: 401" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$A/ca.crt" \
		"https://127.0.0.1:$PA/api/v1/sync")"
it_check "barged sync without credentials fails naming the URL" \
	sh -c "! '$BARGED' sync --data-dir '$B' --from https://127.0.0.1:$PA --ca-file '$A/ca.crt' \
		2>'$IT_TMP/noauth.err' && grep -q 'https://127.0.0.1:$PA' '$IT_TMP/noauth.err'"

# --- a sync, then a second one ---------------------------------------------------

it_check "barged sync --from A into B exits 0" \
	"$BARGED" sync --data-dir "$B" "${PEER[@]}" 2>"$IT_TMP/sync1.err"
cat "$IT_TMP/sync1.err"

# images LIST: what `barged ls` says of a store, less its load times and ids.
images() {
	"$BARGED" ls images --data-dir "$1" -o json |
		jq -c '[.[] | {repository, digest, tags, size,
			bundles: [.bundles[] | "\(.name):\(.version)"]}]'
}
bundles() {
	"$BARGED" ls bundles --data-dir "$1" -o json | jq -c '[.[] | {name, version, digest, images}]'
}
it_check_eq "barged ls images: B equals A" "$(images "$A")" "$(images "$B")"
it_check_eq "barged ls bundles: B equals A" "$(bundles "$A")" "$(bundles "$B")"

serve serve-b PB --data-dir "$B" --project edge --plain-http
it_wait_for 30 answers "http://127.0.0.1:$PB/v2/" ||
	{ cat "$IT_TMP/serve-b"; it_die "barged serve B does not answer"; }
for n in app-a app-b multi big; do
	got=$(skopeo inspect --raw --tls-verify=false \
		"docker://127.0.0.1:$PB/edge/docker.io/library/$n:1.0" | sha256sum | cut -d' ' -f1)
	it_check_eq "skopeo: B serves $n:1.0 with A's (upstream's) digest" \
		"$(it_top_digest "$UP" "$n")" "sha256:$got"
done
it_check "skopeo copies multi:1.0 (every platform) out of B" \
	skopeo copy -q --all --preserve-digests --src-tls-verify=false \
	"docker://127.0.0.1:$PB/edge/docker.io/library/multi:1.0" "oci:$IT_TMP/pulled:1.0"

it_check "a second sync exits 0" \
	"$BARGED" sync --data-dir "$B" "${PEER[@]}" 2>"$IT_TMP/sync2.err"
it_check "a second sync copies nothing and says so" grep -q "nothing to copy" "$IT_TMP/sync2.err"
it_check_eq "barged ls images: B still equals A" "$(images "$A")" "$(images "$B")"

# --- a peer of our own: slow, or wrong on purpose ----------------------------------

# A's listing, and a server answering it and A's blobs, as a peer would.
curl -sf --cacert "$A/ca.crt" -u "admin:$(cat "$A/admin.password")" \
	"https://127.0.0.1:$PA/api/v1/sync" >"$IT_TMP/listing" || it_die "no listing from A"
cat >"$IT_TMP/peer.py" <<'PY'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, listing, store, corrupt, rate = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        sys.stderr.write("%s\n" % self.path); sys.stderr.flush()
    def do_GET(self):
        if self.path == "/api/v1/sync":
            body = open(listing, "rb").read()
        else:
            d = self.path.rsplit("/", 1)[1]
            try:
                body = open("%s/blobs/sha256/%s/%s" % (store, d[7:9], d[7:]), "rb").read()
            except OSError:
                self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
            if d == corrupt:
                body = bytes([body[0] ^ 1]) + body[1:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(0, len(body), 65536):
            self.wfile.write(body[i:i + 65536])
            if rate:
                time.sleep(65536 / rate)
ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()
PY
# peer LOG CORRUPT RATE: the fake peer on a free port, its port in PP.
peer() {
	PP=$(it_free_port)
	it_spawn "$IT_TMP/$1" python3 "$IT_TMP/peer.py" "$PP" "$IT_TMP/listing" "$A" "$2" "$3"
	PEER_PID=$IT_LAST_PID
	it_wait_for 30 answers "http://127.0.0.1:$PP/api/v1/sync" || it_die "fake peer does not answer"
}
blob_files() { find "$1/blobs" -type f 2>/dev/null | wc -l; }

# The big layer of the big image, the one blob big enough to be killed in.
BIGLAYER=$(find "$UP/big/blobs/sha256" -type f -size +1M -printf 'sha256:%f\n')

# --- kill -9 in the middle, then a rerun ------------------------------------------------

peer peer-slow - $((2 * 1024 * 1024))
it_spawn "$IT_TMP/sync-killed.err" "$BARGED" sync --data-dir "$C" --from "http://127.0.0.1:$PP"
SYNC_PID=$IT_LAST_PID
it_wait_for 60 grep -q "$BIGLAYER" "$IT_TMP/peer-slow" || it_die "sync never asked for the big layer"
sleep 1
kill -KILL "$SYNC_PID"
wait "$SYNC_PID" 2>/dev/null || true
it_check "kill -9 midway: barged fsck on C is clean" "$BARGED" fsck --data-dir "$C"
it_check_eq "kill -9 midway: C shows no image" "[]" "$(images "$C")"
it_stop "$PEER_PID"
peer peer-fast - 0
it_check "a rerun after kill -9 exits 0" \
	"$BARGED" sync --data-dir "$C" --from "http://127.0.0.1:$PP" 2>"$IT_TMP/rerun.err"
it_check_eq "the rerun completes the copy: C equals A" "$(images "$A")" "$(images "$C")"
it_check "C is fsck-clean after the rerun" "$BARGED" fsck --data-dir "$C"
it_stop "$PEER_PID"

# --- a wrong blob ------------------------------------------------------------------------

D=$IT_TMP/d
peer peer-wrong "$BIGLAYER" 0
it_check "a peer answering a wrong blob: sync fails" \
	sh -c "! '$BARGED' sync --data-dir '$D' --from http://127.0.0.1:$PP 2>'$IT_TMP/wrong.err'"
cat "$IT_TMP/wrong.err"
it_check "the error names the URL, the repository and the digest" \
	grep -q "http://127.0.0.1:$PP: edge/docker.io/library/big@$BIGLAYER" "$IT_TMP/wrong.err"
it_check_eq "nothing of the refused sync is kept: no image" "[]" "$(images "$D")"
it_check_eq "nothing of the refused sync is kept: no blob file" 0 "$(blob_files "$D")"

it_summary
