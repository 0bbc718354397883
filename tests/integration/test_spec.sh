#!/usr/bin/env bash
# OCI Distribution v1.1 as the spec words it, endpoint by endpoint and error
# code by error code, against a real `barged serve` with an empty store:
# plain HTTP on 127.0.0.1 for the API, then once over TLS (1.2 and newer only,
# verified against barged's ca.crt).  Every request is a real curl.
#
# Env: BARGED (path of the binary; default build/appliance/barged).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGED" curl jq sha256sum sha512sum openssl; do
	command -v "$tool" >/dev/null || [ -x "$tool" ] || it_die "missing $tool"
done

it_tmpdir
DATA=$IT_TMP/data
H=$IT_TMP/headers
BODY=$IT_TMP/body
R=edge/spec/app
R2=edge/spec/other
R3=edge/spec/third
CURL_AUTH=()
CURL_TLS=()
BASE=

# serve ARGS...: barged serve on a free loopback port; sets PORT, SERVE_PID.
serve() {
	PORT=$(it_free_port)
	it_spawn "$IT_TMP/serve-$PORT.log" "$BARGED" serve --data-dir "$DATA" \
		--listen "127.0.0.1:$PORT" "$@"
	SERVE_PID=$IT_LAST_PID
	it_wait_for 20 it_port_busy "$PORT" || {
		cat "$IT_TMP/serve-$PORT.log"
		it_die "barged serve does not listen"
	}
	# Pushes need the admin; a generated password lands in the data dir.
	CURL_AUTH=()
	if [ -s "$DATA/admin.password" ]; then
		CURL_AUTH=(-u "admin:$(cat "$DATA/admin.password")")
	fi
}

# stop_serve: SIGTERM; barged must exit 0 with no sanitizer report.
stop_serve() {
	local rc=0 log=$IT_TMP/serve-$PORT.log
	kill -TERM "$SERVE_PID"
	it_wait_for 15 bash -c "! kill -0 $SERVE_PID" || { rc=timeout; kill -KILL "$SERVE_PID"; }
	wait "$SERVE_PID" || rc=$?
	it_check_eq "barged serve exits 0 on SIGTERM" 0 "$rc"
	if grep -qE 'Sanitizer|runtime error' "$log"; then
		cat "$log"
		it_fail "sanitizer report in the serve log"
	fi
}

# req METHOD PATH CURLARGS...: one request; headers in $H, body in $BODY,
# prints the status.
req() {
	local method=$1 path=$2; shift 2
	local nobody=()
	[ "$method" = HEAD ] && nobody=(-I)
	curl -s "${CURL_TLS[@]}" "${CURL_AUTH[@]}" "${nobody[@]}" -X "$method" -D "$H" -o "$BODY" \
		-w '%{http_code}' "$@" "$BASE$path"
}
# hdr NAME: the value of response header NAME ("" when absent).
hdr() { tr -d '\r' <"$H" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
	'tolower($1)==n { sub(/^[^:]*: /, ""); print; exit }'; }
# code: the first OCI error code of the body.
code() { jq -r '.errors[0].code // "none"' "$BODY" 2>/dev/null || echo "not-json"; }
# expect_err DESCRIPTION STATUS CODE METHOD PATH CURLARGS...
expect_err() {
	local what=$1 status=$2 want=$3 got; shift 3
	got=$(req "$@")
	it_check_eq "$what: status" "$status" "$got"
	it_check_eq "$what: $want" "$want" "$(code)"
}
sha256() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
sha512() { echo "sha512:$(sha512sum "$1" | cut -d' ' -f1)"; }

# --- fixtures ----------------------------------------------------------------

head -c $((3 * 1024 * 1024 + 123)) /dev/urandom >"$IT_TMP/layer"
head -c 1048576 "$IT_TMP/layer" >"$IT_TMP/c1"
head -c 2097152 "$IT_TMP/layer" | tail -c 1048576 >"$IT_TMP/c2"
tail -c +2097153 "$IT_TMP/layer" >"$IT_TMP/c3"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' \
	>"$IT_TMP/config"
head -c 4096 /dev/urandom >"$IT_TMP/small"
head -c 100000 /dev/urandom >"$IT_TMP/sha512blob"
LD=$(sha256 "$IT_TMP/layer")
CD=$(sha256 "$IT_TMP/config")
SD=$(sha256 "$IT_TMP/small")
XD=$(sha512 "$IT_TMP/sha512blob")

serve --plain-http
BASE=http://127.0.0.1:$PORT

# --- base ----------------------------------------------------------------------

it_check_eq "GET /v2/: 200" 200 "$(req GET /v2/)"
it_check_eq "GET /v2/: API version header" "registry/2.0" "$(hdr Docker-Distribution-API-Version)"

# --- chunked upload --------------------------------------------------------------

it_check_eq "POST uploads: 202" 202 "$(req POST "/v2/$R/blobs/uploads/")"
LOC=$(hdr Location)
UUID=$(hdr Docker-Upload-UUID)
it_check "POST uploads: Location names the session" \
	test "$LOC" = "/v2/$R/blobs/uploads/$UUID"
it_check_eq "POST uploads: Range 0-0" "0-0" "$(hdr Range)"

it_check_eq "GET upload status (empty): 204" 204 "$(req GET "$LOC")"
it_check_eq "GET upload status: Range 0-0" "0-0" "$(hdr Range)"
it_check_eq "GET upload status: Location" "$LOC" "$(hdr Location)"

it_check_eq "PATCH chunk 1 with Content-Range: 202" 202 \
	"$(req PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
		-H 'Content-Range: 0-1048575' --data-binary "@$IT_TMP/c1")"
it_check_eq "PATCH chunk 1: Range" "0-1048575" "$(hdr Range)"
it_check_eq "PATCH chunk 1: Location" "$LOC" "$(hdr Location)"

expect_err "PATCH chunk 1 again (repeated)" 416 BLOB_UPLOAD_INVALID PATCH "$LOC" \
	-H 'Content-Range: 0-1048575' --data-binary "@$IT_TMP/c1"
it_check_eq "416 says where the upload is" "0-1048575" "$(hdr Range)"
expect_err "PATCH chunk 3 before chunk 2 (out of order)" 416 BLOB_UPLOAD_INVALID PATCH "$LOC" \
	-H "Content-Range: 2097152-$(($(it_size "$IT_TMP/layer") - 1))" \
	--data-binary "@$IT_TMP/c3"
expect_err "PATCH whose length differs from its Content-Range" 416 BLOB_UPLOAD_INVALID \
	PATCH "$LOC" -H 'Content-Range: 1048576-1048600' --data-binary "@$IT_TMP/c2"
it_check_eq "GET upload status after refused chunks: unchanged" 204 "$(req GET "$LOC")"
it_check_eq "  Range" "0-1048575" "$(hdr Range)"

it_check_eq "PATCH chunk 2 streamed (chunked transfer, no length): 202" 202 \
	"$(req PATCH "$LOC" -H 'Transfer-Encoding: chunked' --data-binary "@$IT_TMP/c2")"
it_check_eq "  Range" "0-2097151" "$(hdr Range)"

WRONG=sha256:$(printf '%064d' 0)
expect_err "PUT finishing with the wrong digest" 400 DIGEST_INVALID PUT "$LOC?digest=$WRONG" \
	-H 'Content-Range: 2097152-'"$(($(it_size "$IT_TMP/layer") - 1))" \
	--data-binary "@$IT_TMP/c3"
it_check_eq "the session survives a wrong digest: 204" 204 "$(req GET "$LOC")"
it_check_eq "  with every byte" "0-$(($(it_size "$IT_TMP/layer") - 1))" "$(hdr Range)"
expect_err "PUT without ?digest=" 400 DIGEST_INVALID PUT "$LOC"
it_check_eq "PUT ?digest= finishes: 201" 201 "$(req PUT "$LOC?digest=$LD")"
it_check_eq "  Location" "/v2/$R/blobs/$LD" "$(hdr Location)"
it_check_eq "  Docker-Content-Digest" "$LD" "$(hdr Docker-Content-Digest)"
expect_err "a finished session is gone" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
expect_err "PATCH to a finished session" 404 BLOB_UPLOAD_UNKNOWN PATCH "$LOC" \
	--data-binary "@$IT_TMP/c1"

# --- blob reads -----------------------------------------------------------------

it_check_eq "GET blob: 200" 200 "$(req GET "/v2/$R/blobs/$LD")"
it_check "GET blob: the pushed bytes" cmp -s "$BODY" "$IT_TMP/layer"
it_check_eq "GET blob: Docker-Content-Digest" "$LD" "$(hdr Docker-Content-Digest)"
it_check_eq "GET blob: ETag" "\"$LD\"" "$(hdr ETag)"
it_check_eq "HEAD blob: 200" 200 "$(req HEAD "/v2/$R/blobs/$LD")"
it_check_eq "HEAD blob: Content-Length" "$(it_size "$IT_TMP/layer")" "$(hdr Content-Length)"
it_check_eq "GET blob If-None-Match: 304" 304 \
	"$(req GET "/v2/$R/blobs/$LD" -H "If-None-Match: \"$LD\"")"
it_check_eq "GET blob Range bytes=10-19: 206" 206 \
	"$(req GET "/v2/$R/blobs/$LD" -H 'Range: bytes=10-19')"
it_check_eq "  Content-Range" "bytes 10-19/$(it_size "$IT_TMP/layer")" "$(hdr Content-Range)"
it_check_eq "  the bytes" "$(tail -c +11 "$IT_TMP/layer" | head -c 10 | od -An -tx1)" \
	"$(od -An -tx1 "$BODY")"
expect_err "blob of another repository" 404 BLOB_UNKNOWN GET "/v2/$R2/blobs/$LD"
expect_err "blob with a bad digest" 400 DIGEST_INVALID GET "/v2/$R/blobs/sha256:xyz"

# --- monolithic and POST-then-PUT ----------------------------------------------

it_check_eq "monolithic POST ?digest=: 201" 201 \
	"$(req POST "/v2/$R/blobs/uploads/?digest=$CD" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$IT_TMP/config")"
it_check_eq "  Location" "/v2/$R/blobs/$CD" "$(hdr Location)"
it_check_eq "  Docker-Content-Digest" "$CD" "$(hdr Docker-Content-Digest)"
expect_err "monolithic POST with the wrong digest" 400 DIGEST_INVALID \
	POST "/v2/$R/blobs/uploads/?digest=$WRONG" --data-binary "@$IT_TMP/small"
expect_err "  leaves no blob" 404 BLOB_UNKNOWN GET "/v2/$R/blobs/$WRONG"
expect_err "monolithic POST with a malformed digest" 400 DIGEST_INVALID \
	POST "/v2/$R/blobs/uploads/?digest=sha256:nothex" --data-binary "@$IT_TMP/small"

it_check_eq "POST for POST-then-PUT: 202" 202 "$(req POST "/v2/$R/blobs/uploads/")"
LOC=$(hdr Location)
it_check_eq "PUT with the whole body: 201" 201 \
	"$(req PUT "$LOC?digest=$SD" -H 'Content-Type: application/octet-stream' \
		--data-binary "@$IT_TMP/small")"
it_check_eq "GET it back" 200 "$(req GET "/v2/$R/blobs/$SD")"
it_check "  same bytes" cmp -s "$BODY" "$IT_TMP/small"

it_check_eq "sha512 monolithic POST: 201" 201 \
	"$(req POST "/v2/$R/blobs/uploads/?digest=$XD" --data-binary "@$IT_TMP/sha512blob")"
it_check_eq "GET the sha512 blob: 200" 200 "$(req GET "/v2/$R/blobs/$XD")"
it_check "  same bytes" cmp -s "$BODY" "$IT_TMP/sha512blob"
it_check_eq "  Docker-Content-Digest" "$XD" "$(hdr Docker-Content-Digest)"
# A chunked session finished as sha512 (hashed from disk, not on the way).
req POST "/v2/$R/blobs/uploads/" >/dev/null
LOC=$(hdr Location)
req PATCH "$LOC" --data-binary "@$IT_TMP/sha512blob" >/dev/null
it_check_eq "chunked session finished with a sha512 digest: 201" 201 \
	"$(req PUT "$LOC?digest=$XD")"

# --- cancel ---------------------------------------------------------------------

req POST "/v2/$R/blobs/uploads/" >/dev/null
LOC=$(hdr Location)
req PATCH "$LOC" --data-binary "@$IT_TMP/c1" >/dev/null
it_check_eq "DELETE upload (cancel): 204" 204 "$(req DELETE "$LOC")"
expect_err "a cancelled session is gone" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
expect_err "cancel it again" 404 BLOB_UPLOAD_UNKNOWN DELETE "$LOC"
expect_err "a made-up session" 404 BLOB_UPLOAD_UNKNOWN GET "/v2/$R/blobs/uploads/not-a-session"
it_check "no upload bytes left behind" \
	bash -c "[ -z \"\$(ls -A '$DATA/uploads')\" ]"

# --- cross-repository mount -------------------------------------------------------

it_check_eq "mount from a repository holding the blob: 201" 201 \
	"$(req POST "/v2/$R2/blobs/uploads/?mount=$LD&from=$R")"
it_check_eq "  Location" "/v2/$R2/blobs/$LD" "$(hdr Location)"
it_check_eq "  Docker-Content-Digest" "$LD" "$(hdr Docker-Content-Digest)"
it_check_eq "the mounted blob is served by the target: 200" 200 "$(req HEAD "/v2/$R2/blobs/$LD")"
it_check_eq "mount from a repository without it falls back to an upload: 202" 202 \
	"$(req POST "/v2/$R2/blobs/uploads/?mount=$CD&from=edge/spec/nothing")"
it_check "  with a session Location" bash -c "grep -qi '^Location: /v2/$R2/blobs/uploads/' '$H'"
req DELETE "$(hdr Location)" >/dev/null

# --- manifests ------------------------------------------------------------------

MT=application/vnd.oci.image.manifest.v1+json
cat >"$IT_TMP/manifest.json" <<EOF
{
   "schemaVersion": 2,
   "mediaType": "$MT",
   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "$CD", "size": $(it_size "$IT_TMP/config")},
   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "$LD", "size": $(it_size "$IT_TMP/layer")}]
}
EOF
MD=$(sha256 "$IT_TMP/manifest.json")
it_check_eq "PUT manifest by tag: 201" 201 \
	"$(req PUT "/v2/$R/manifests/v1" -H "Content-Type: $MT" --data-binary "@$IT_TMP/manifest.json")"
it_check_eq "  Location" "/v2/$R/manifests/$MD" "$(hdr Location)"
it_check_eq "  Docker-Content-Digest" "$MD" "$(hdr Docker-Content-Digest)"
it_check_eq "GET manifest by tag: 200" 200 "$(req GET "/v2/$R/manifests/v1" -H "Accept: $MT")"
it_check "  byte-for-byte" cmp -s "$BODY" "$IT_TMP/manifest.json"
it_check_eq "  Content-Type" "$MT" "$(hdr Content-Type)"
it_check_eq "  Docker-Content-Digest" "$MD" "$(hdr Docker-Content-Digest)"
it_check_eq "  ETag" "\"$MD\"" "$(hdr ETag)"
it_check_eq "HEAD manifest by digest: 200" 200 "$(req HEAD "/v2/$R/manifests/$MD")"
it_check_eq "GET manifest If-None-Match: 304" 304 \
	"$(req GET "/v2/$R/manifests/v1" -H "If-None-Match: \"$MD\"")"
it_check_eq "PUT the same manifest by digest: 201" 201 \
	"$(req PUT "/v2/$R/manifests/$MD" -H "Content-Type: $MT" --data-binary "@$IT_TMP/manifest.json")"
expect_err "PUT by a digest the bytes do not have" 400 DIGEST_INVALID \
	PUT "/v2/$R/manifests/$WRONG" -H "Content-Type: $MT" --data-binary "@$IT_TMP/manifest.json"
expect_err "PUT a manifest into a repository lacking its blobs" 400 MANIFEST_BLOB_UNKNOWN \
	PUT "/v2/edge/spec/empty/manifests/v1" -H "Content-Type: $MT" \
	--data-binary "@$IT_TMP/manifest.json"
expect_err "PUT something that is no manifest" 400 MANIFEST_INVALID \
	PUT "/v2/$R/manifests/bad" -H "Content-Type: $MT" --data-binary '{"schemaVersion": 2}'
expect_err "PUT invalid JSON" 400 MANIFEST_INVALID \
	PUT "/v2/$R/manifests/bad" -H "Content-Type: $MT" --data-binary '{not json'
expect_err "PUT with a Content-Type the document contradicts" 400 MANIFEST_INVALID \
	PUT "/v2/$R/manifests/bad" -H 'Content-Type: application/vnd.oci.image.index.v1+json' \
	--data-binary "@$IT_TMP/manifest.json"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$IT_TMP/huge"
expect_err "PUT a manifest over 4 MiB" 413 MANIFEST_INVALID \
	PUT "/v2/$R/manifests/huge" -H "Content-Type: $MT" --data-binary "@$IT_TMP/huge"
expect_err "PUT with a bad tag" 400 TAG_INVALID \
	PUT "/v2/$R/manifests/-bad" -H "Content-Type: $MT" --data-binary "@$IT_TMP/manifest.json"
expect_err "GET an unknown tag" 404 MANIFEST_UNKNOWN GET "/v2/$R/manifests/nope"
expect_err "GET by a reference that is no tag: not found" 404 MANIFEST_UNKNOWN \
	GET "/v2/$R/manifests/-bad"
it_check_eq "HEAD by a reference that is no tag: 404" 404 "$(req HEAD "/v2/$R/manifests/-bad")"
expect_err "GET from an unknown repository" 404 NAME_UNKNOWN GET "/v2/edge/spec/none/manifests/v1"
expect_err "a bad repository name" 400 NAME_INVALID GET "/v2/Edge/UPPER/manifests/v1"

# An index over the manifest, and one naming a manifest the repository lacks.
IT=application/vnd.oci.image.index.v1+json
cat >"$IT_TMP/index.json" <<EOF
{"schemaVersion":2,"mediaType":"$IT","manifests":[{"mediaType":"$MT","digest":"$MD","size":$(it_size "$IT_TMP/manifest.json"),"platform":{"architecture":"amd64","os":"linux"}}]}
EOF
it_check_eq "PUT index whose child is here: 201" 201 \
	"$(req PUT "/v2/$R/manifests/multi" -H "Content-Type: $IT" --data-binary "@$IT_TMP/index.json")"
expect_err "PUT index whose child is missing" 400 MANIFEST_BLOB_UNKNOWN \
	PUT "/v2/$R2/manifests/multi" -H "Content-Type: $IT" --data-binary "@$IT_TMP/index.json"

# --- referrers --------------------------------------------------------------------

AT=application/vnd.example.sbom
EMPTY=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
req POST "/v2/$R/blobs/uploads/?digest=$EMPTY" --data-binary '{}' >/dev/null
cat >"$IT_TMP/referrer.json" <<EOF
{"schemaVersion":2,"mediaType":"$MT","artifactType":"$AT","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$EMPTY","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"$SD","size":4096}],"subject":{"mediaType":"$MT","digest":"$MD","size":$(it_size "$IT_TMP/manifest.json")},"annotations":{"org.example.kind":"sbom"}}
EOF
RD=$(sha256 "$IT_TMP/referrer.json")
it_check_eq "PUT a manifest with a subject: 201" 201 \
	"$(req PUT "/v2/$R/manifests/$RD" -H "Content-Type: $MT" --data-binary "@$IT_TMP/referrer.json")"
it_check_eq "  OCI-Subject" "$MD" "$(hdr OCI-Subject)"
it_check_eq "GET referrers: 200" 200 "$(req GET "/v2/$R/referrers/$MD")"
it_check_eq "  an OCI index" "$IT" "$(hdr Content-Type)"
it_check_eq "  naming the referrer" "$RD" "$(jq -r '.manifests[0].digest' "$BODY")"
it_check_eq "  with its artifactType" "$AT" "$(jq -r '.manifests[0].artifactType' "$BODY")"
it_check_eq "  and its annotations" "sbom" \
	"$(jq -r '.manifests[0].annotations["org.example.kind"]' "$BODY")"
it_check_eq "GET referrers ?artifactType= match: 200" 200 \
	"$(req GET "/v2/$R/referrers/$MD?artifactType=$AT")"
it_check_eq "  one entry" 1 "$(jq '.manifests | length' "$BODY")"
it_check_eq "  OCI-Filters-Applied" "artifactType" "$(hdr OCI-Filters-Applied)"
req GET "/v2/$R/referrers/$MD?artifactType=application/other" >/dev/null
it_check_eq "GET referrers ?artifactType= other: empty" 0 "$(jq '.manifests | length' "$BODY")"
it_check_eq "GET referrers of a digest nobody refers to: 200, empty" "200 0" \
	"$(req GET "/v2/$R/referrers/$SD") $(jq '.manifests | length' "$BODY")"
expect_err "GET referrers of a non-digest" 400 DIGEST_INVALID GET "/v2/$R/referrers/v1"

# --- tags and catalog ---------------------------------------------------------------

for t in c a b; do
	req PUT "/v2/$R/manifests/$t" -H "Content-Type: $MT" \
		--data-binary "@$IT_TMP/manifest.json" >/dev/null
done
it_check_eq "tags/list: sorted" '["a","b","c","multi","v1"]' \
	"$(req GET "/v2/$R/tags/list" >/dev/null; jq -c .tags "$BODY")"
it_check_eq "tags/list n=2: first page" '["a","b"]' \
	"$(req GET "/v2/$R/tags/list?n=2" >/dev/null; jq -c .tags "$BODY")"
it_check_eq "  Link to the next page" "</v2/$R/tags/list?n=2&last=b>; rel=\"next\"" "$(hdr Link)"
it_check_eq "tags/list n=2&last=b" '["c","multi"]' \
	"$(req GET "/v2/$R/tags/list?n=2&last=b" >/dev/null; jq -c .tags "$BODY")"
expect_err "tags/list n=x" 400 PAGINATION_NUMBER_INVALID GET "/v2/$R/tags/list?n=x"
expect_err "tags/list of an unknown repository" 404 NAME_UNKNOWN GET "/v2/edge/none/tags/list"
for d in "$CD" "$LD"; do req POST "/v2/$R3/blobs/uploads/?mount=$d&from=$R" >/dev/null; done
req PUT "/v2/$R3/manifests/v1" -H "Content-Type: $MT" --data-binary "@$IT_TMP/manifest.json" \
	>/dev/null
# R2 holds a mounted blob and no manifest: no repository yet, in both listings.
it_check_eq "_catalog: every repository with a manifest, sorted" "[\"$R\",\"$R3\"]" \
	"$(req GET /v2/_catalog >/dev/null; jq -c .repositories "$BODY")"
expect_err "tags/list of a repository holding only a blob" 404 NAME_UNKNOWN \
	GET "/v2/$R2/tags/list"
it_check_eq "_catalog n=1" "[\"$R\"]" \
	"$(req GET '/v2/_catalog?n=1' >/dev/null; jq -c .repositories "$BODY")"
it_check "  Link to the next page" bash -c "grep -qi '^Link: </v2/_catalog?n=1&last=' '$H'"
it_check_eq "_catalog n=1&last=R" "[\"$R3\"]" \
	"$(req GET "/v2/_catalog?n=1&last=$R" >/dev/null; jq -c .repositories "$BODY")"

# --- deletes (off unless switched on) ------------------------------------------------

expect_err "DELETE manifest with deletes off" 405 UNSUPPORTED DELETE "/v2/$R/manifests/$MD"
expect_err "DELETE blob with deletes off" 405 UNSUPPORTED DELETE "/v2/$R/blobs/$SD"
it_check_eq "nothing was deleted" 200 "$(req HEAD "/v2/$R/manifests/v1")"
expect_err "an unsupported method" 405 UNSUPPORTED PATCH "/v2/$R/manifests/v1" --data-binary x
stop_serve

if "$BARGED" serve --help 2>&1 | grep -q -- '--allow-delete'; then
	serve --plain-http --allow-delete
	BASE=http://127.0.0.1:$PORT
	it_check_eq "DELETE tag: 202" 202 "$(req DELETE "/v2/$R/manifests/c")"
	expect_err "  the tag is gone" 404 MANIFEST_UNKNOWN GET "/v2/$R/manifests/c"
	it_check_eq "  the manifest stays" 200 "$(req HEAD "/v2/$R/manifests/$MD")"
	expect_err "DELETE an unknown tag" 404 MANIFEST_UNKNOWN DELETE "/v2/$R/manifests/nope"
	it_check_eq "DELETE manifest by digest: 202" 202 "$(req DELETE "/v2/$R/manifests/$RD")"
	expect_err "  gone" 404 MANIFEST_UNKNOWN GET "/v2/$R/manifests/$RD"
	it_check_eq "  and gone from the referrers" 0 \
		"$(req GET "/v2/$R/referrers/$MD" >/dev/null; jq '.manifests | length' "$BODY")"
	it_check_eq "DELETE blob: 202" 202 "$(req DELETE "/v2/$R2/blobs/$LD")"
	expect_err "  gone from that repository" 404 BLOB_UNKNOWN GET "/v2/$R2/blobs/$LD"
	expect_err "  a second DELETE finds nothing" 404 BLOB_UNKNOWN DELETE "/v2/$R2/blobs/$LD"
	expect_err "DELETE an unknown blob" 404 BLOB_UNKNOWN DELETE "/v2/$R2/blobs/$WRONG"
	for i in 1 2; do
		expect_err "DELETE a blob a manifest names ($i): refused" 409 DENIED \
			DELETE "/v2/$R/blobs/$LD"
		it_check "  naming the manifest" grep -q "$MD" "$BODY"
		it_check_eq "  and still served" 200 "$(req HEAD "/v2/$R/blobs/$LD")"
	done
	expect_err "DELETE by a reference that is no tag" 404 MANIFEST_UNKNOWN \
		DELETE "/v2/$R/manifests/-bad"
	it_check_eq "DELETE the only manifest of a repository: 202" 202 \
		"$(req DELETE "/v2/$R3/manifests/$MD")"
	it_check_eq "  it leaves _catalog" "[\"$R\"]" \
		"$(req GET /v2/_catalog >/dev/null; jq -c .repositories "$BODY")"
	expect_err "  and tags/list agrees" 404 NAME_UNKNOWN GET "/v2/$R3/tags/list"
	stop_serve
else
	it_log "barged serve has no --allow-delete yet: deletes covered by the unit tests"
fi

if "$BARGED" serve --help 2>&1 | grep -q -- '--max-uploads'; then
	serve --plain-http --max-uploads 2
	BASE=http://127.0.0.1:$PORT
	it_check_eq "upload 1 of 2: 202" 202 "$(req POST "/v2/$R/blobs/uploads/")"
	L1=$(hdr Location)
	it_check_eq "upload 2 of 2: 202" 202 "$(req POST "/v2/$R/blobs/uploads/")"
	L2=$(hdr Location)
	expect_err "upload 3 of 2" 429 TOOMANYREQUESTS POST "/v2/$R/blobs/uploads/"
	req DELETE "$L2" >/dev/null
	it_check_eq "a cancelled session frees its place: 202" 202 \
		"$(req POST "/v2/$R/blobs/uploads/")"
	req DELETE "$(hdr Location)" >/dev/null

	# SIGTERM in the middle of a slow chunk: after a restart the session
	# holds either none of the chunk or all of it, never a part.
	curl -s "${CURL_AUTH[@]}" -o /dev/null -X PATCH --limit-rate 150k \
		--data-binary "@$IT_TMP/c1" "$BASE$L1" &
	SLOW=$!
	sleep 2
	stop_serve
	wait "$SLOW" || true
	serve --plain-http
	BASE=http://127.0.0.1:$PORT
	it_check_eq "the session outlives a restart: 204" 204 "$(req GET "$L1")"
	RANGE=$(hdr Range)
	it_check "  with none or all of the interrupted chunk ($RANGE)" \
		test "$RANGE" = 0-0 -o "$RANGE" = 0-1048575
	it_check_eq "  and resumes: 202" 202 "$(req PATCH "$L1" --data-binary "@$IT_TMP/small")"
	stop_serve
else
	it_log "barged serve has no --max-uploads yet: the cap is covered by the unit tests"
fi

# --- TLS --------------------------------------------------------------------------

serve
BASE=https://127.0.0.1:$PORT
CURL_TLS=(--cacert "$DATA/ca.crt")
it_check_eq "HTTPS verified against ca.crt: GET /v2/ 200" 200 "$(req GET /v2/)"
it_check_eq "HTTPS monolithic push: 201" 201 \
	"$(req POST "/v2/$R/blobs/uploads/?digest=$LD" --data-binary "@$IT_TMP/layer")"
it_check_eq "HTTPS blob GET: 200" 200 "$(req GET "/v2/$R/blobs/$LD")"
it_check "  same bytes (1 MiB blocks over TLS)" cmp -s "$BODY" "$IT_TMP/layer"
it_check "TLS 1.2 is spoken" curl -s -o /dev/null "${CURL_TLS[@]}" --tlsv1.2 --tls-max 1.2 "$BASE/v2/"
it_check "TLS 1.1 is refused" bash -c "! openssl s_client -connect 127.0.0.1:$PORT -tls1_1 \
	</dev/null >/dev/null 2>&1"
stop_serve

it_summary
