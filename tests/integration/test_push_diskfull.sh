#!/usr/bin/env bash
# A full disk under pushes: barged serve with its data directory on a 12 MiB tmpfs.
#   1. A chunked PATCH (curl) larger than the room left answers 507 with an
#      OCI error body (DENIED, "No space left on device"); the partial bytes
#      are gone from uploads/ at once and the room is back; the session keeps
#      its committed offset, takes a chunk that fits there, and finishes.
#   2. A monolithic POST that does not fit: 507, the same body, tmp/ empty.
#   3. While a filler takes most of the disk, skopeo copy of an image whose
#      layer does not fit fails with the 507, and a bundle PUT to
#      /api/v1/bundles answers 507 (JSON, as that API answers); uploads/ and
#      tmp/ hold no bytes.  Once the filler is gone, the same copy and the
#      same upload succeed, and the image is served with its digest.  (12 MiB:
#      the loader keeps a 4 MiB margin above a bundle's new blobs.)
# Needs root for mount; prints SKIP and passes where mounting is not allowed.
#
# Env: BARGE, BARGED.  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl sha256sum; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
MNT=$IT_TMP/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=12m tmpfs "$MNT" 2>"$IT_TMP/mount.err"; then
	echo "SKIP: cannot mount a tmpfs here ($(cat "$IT_TMP/mount.err")); disk-full push test not run"
	exit 0
fi
# Unmount before lib.sh removes the temp dir (lazily: a server may still hold it);
# set +e, so that a failing command here cannot skip the cleanup.
trap 'rc=$?; set +e; umount -l "$MNT" 2>/dev/null; (exit $rc); it_cleanup' EXIT

# The image of step 3: one 2.5 MiB layer of random bytes, and its bundle.
export IT_BIG_BYTES=$((2560 * 1024))
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
it_push "$UP" big
BUNDLE=$IT_TMP/big-1.0.0.tar.zst
it_build_bundle "$BUNDLE" big 1.0.0 big

DATA=$MNT/data
PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
	--plain-http --no-import --access-log off
SERVE_PID=$IT_LAST_PID
it_wait_for 20 it_port_busy "$PORT" || it_die "barged serve does not listen: $(cat "$IT_TMP/serve.log")"
BASE=http://127.0.0.1:$PORT
AUTH=admin:$(cat "$DATA/admin.password")
H=$IT_TMP/headers
BODY=$IT_TMP/body
R=edge/push/full

# req METHOD PATH CURLARGS...: headers in $H, body in $BODY, prints the status.
req() {
	local method=$1 path=$2; shift 2
	curl -s -u "$AUTH" -X "$method" -D "$H" -o "$BODY" -w '%{http_code}' "$@" "$BASE$path" ||
		true
}
hdr() { tr -d '\r' <"$H" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
	'tolower($1)==n { sub(/^[^:]*: /, ""); print; exit }'; }
code() { jq -r '.errors[0].code // "none"' "$BODY" 2>/dev/null || echo "not-json"; }
message() { jq -r '.errors[0].message // ""' "$BODY" 2>/dev/null || true; }
# bytes DIR: the bytes of every file under DIR.
bytes() { find "$1" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }'; }
avail() { df --output=avail -B1 "$MNT" | tail -1 | tr -d ' '; }
# no_room WHAT: the answer in $BODY is the 507 a full disk gets.
no_room() {
	it_check_eq "$1: DENIED" DENIED "$(code)"
	it_check "$1: says there is no space left on device" \
		bash -c "jq -r '.errors[0].message' '$BODY' | grep -qi 'no space left on device'"
}

head -c $((16 * 1024 * 1024)) /dev/urandom >"$IT_TMP/huge"
head -c $((512 * 1024)) /dev/urandom >"$IT_TMP/small"
SMALL=sha256:$(sha256sum "$IT_TMP/small" | cut -d' ' -f1)
HUGE=sha256:$(sha256sum "$IT_TMP/huge" | cut -d' ' -f1)
ROOM=$(avail)

# --- 1. a chunked PATCH ----------------------------------------------------------

it_check_eq "POST uploads: 202" 202 "$(req POST "/v2/$R/blobs/uploads/")"
LOC=$(hdr Location)
UUID=$(hdr Docker-Upload-UUID)
it_check_eq "PATCH 16 MiB into 12 MiB: 507" 507 \
	"$(req PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
		--data-binary "@$IT_TMP/huge")"
no_room "PATCH"
it_check_eq "  the chunk's bytes are gone from uploads/" 0 "$(bytes "$DATA/uploads")"
it_check "  the room is back (was $ROOM bytes, now $(avail))" \
	test "$(avail)" -ge $((ROOM - 256 * 1024))
it_check_eq "  the session is where it was: 204" 204 "$(req GET "$LOC")"
it_check_eq "  Range 0-0" "0-0" "$(hdr Range)"
it_check_eq "a chunk that fits, at the committed offset: 202" 202 \
	"$(req PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: 0-$((512 * 1024 - 1))" --data-binary "@$IT_TMP/small")"
it_check_eq "  Range" "0-$((512 * 1024 - 1))" "$(hdr Range)"
it_check_eq "PUT ?digest=: 201" 201 "$(req PUT "$LOC?digest=$SMALL")"
it_check_eq "the blob is served: 200" 200 "$(req GET "/v2/$R/blobs/$SMALL")"
it_check "  the same bytes" cmp -s "$BODY" "$IT_TMP/small"
it_check "  session $UUID ended" test ! -e "$DATA/uploads/$UUID"

# --- 2. a monolithic POST ----------------------------------------------------------

it_check_eq "monolithic POST of 16 MiB: 507" 507 \
	"$(req POST "/v2/$R/blobs/uploads/?digest=$HUGE" -H 'Content-Type: application/octet-stream' \
		--data-binary "@$IT_TMP/huge")"
no_room "monolithic POST"
it_check_eq "  nothing left in tmp/" 0 "$(bytes "$DATA/tmp")"
it_check_eq "  no such blob: 404" 404 "$(req HEAD "/v2/$R/blobs/$HUGE")"

# --- 3. skopeo and a bundle upload while a filler takes the room ---------------------

# Leave 1 MiB: room for the database, not for the 2.5 MiB layer.
head -c $(($(avail) - 1024 * 1024)) /dev/zero >"$MNT/filler"
DEST=docker://127.0.0.1:$PORT/$R/big:1.0
copy() {
	skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$AUTH" \
		"oci:$UP/big:1.0" "$DEST"
}
if copy >/dev/null 2>"$IT_TMP/skopeo.err"; then
	it_fail "skopeo copy onto a full disk fails"
else
	it_pass "skopeo copy onto a full disk fails"
	it_check "  with the 507 and its reason" \
		grep -qiE '507|no space left on device' "$IT_TMP/skopeo.err"
fi
it_check_eq "  uploads/ holds no bytes" 0 "$(bytes "$DATA/uploads")"
it_check_eq "  tmp/ holds no bytes" 0 "$(bytes "$DATA/tmp")"

status=$(curl -sS -u "$AUTH" -o "$BODY" -w '%{http_code}' -T "$BUNDLE" "$BASE/api/v1/bundles" ||
	true)
it_check_eq "bundle PUT onto a full disk: 507" 507 "$status"
it_check_eq "  status failed" failed "$(jq -r .status "$BODY" 2>/dev/null)"
it_check "  the error says why ($(jq -r .error "$BODY" 2>/dev/null))" \
	bash -c "jq -r .error '$BODY' | grep -qiE 'not enough free space|no space left on device'"
it_check_eq "  tmp/ holds no bytes" 0 "$(bytes "$DATA/tmp")"

rm -f "$MNT/filler"
if copy 2>"$IT_TMP/skopeo2.err"; then
	it_pass "with room again, the same skopeo copy succeeds"
else
	cat "$IT_TMP/skopeo2.err"
	it_fail "with room again, the same skopeo copy succeeds"
fi
it_check_eq "  the image is served with its digest" "$(it_top_digest "$UP" big)" \
	"sha256:$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$BASE/v2/$R/big/manifests/1.0" | sha256sum | cut -d' ' -f1)"
status=$(curl -sS -u "$AUTH" -o "$BODY" -w '%{http_code}' -T "$BUNDLE" "$BASE/api/v1/bundles" ||
	true)
it_check_eq "and the same bundle upload loads: 201" 201 "$status"
it_check_eq "  uploads/ holds no bytes" 0 "$(bytes "$DATA/uploads")"

it_stop "$SERVE_PID"
if grep -qE 'Sanitizer|runtime error' "$IT_TMP/serve.log"; then
	cat "$IT_TMP/serve.log"
	it_fail "sanitizer report in the serve log"
fi

it_summary
