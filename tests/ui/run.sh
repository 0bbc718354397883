#!/usr/bin/env bash
# tests/ui/run.sh: the browser tests of barged's pages (docs/ui.md).  Builds
# real bundles from images pushed to a real docker-registry on 127.0.0.1
# (tests/integration/lib.sh), loads two into a store, starts barged serve
# over HTTPS with its generated CA, trusts that CA (and only it) in a
# private NSS database for Debian's chromium, and runs ui.test.mjs (node
# --test, playwright-core driving /usr/bin/chromium: nothing downloads a
# browser).  The store holds:
#   edge-base 1.0.0   app-a and multi (an index), loaded before the start
#   hostile 1.0.0     an image whose annotations carry markup, loaded from
#                     a folder named with markup (for when bundles record
#                     their source, which docs/api.md says they do not yet)
# and, once barged serves (with --proxy docker.io=the registry):
#   many              app-a's image under 130 tags (More on its page), pushed
#   cached            app-a's image pulled through the cache (origin proxy)
# and the test uploads uploaded 1.0.0 (app-b) from the browser.
#
# Screenshots of every page, desktop and phone width, go to UI_SHOTS
# (default: BUILD/ui-screenshots) on every run; with --update-docs (or
# UI_UPDATE_DOCS=1) those docs/ui.md shows are also copied to docs/ui/.
#
# Env: BARGE, BARGED (default build/...), UI_SHOTS.  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
UI_SHOTS=${UI_SHOTS:-$(cd "$(dirname "$BARGED")/.." && pwd)/ui-screenshots}
UPDATE_DOCS=${UI_UPDATE_DOCS:-}
[ "${1:-}" != --update-docs ] || UPDATE_DOCS=1
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl node certutil /usr/bin/chromium; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
[ -d "$HERE/node_modules/playwright-core" ] ||
	it_die "missing playwright-core: run 'npm ci' in tests/ui (scripts/check does)"

it_tmpdir
export IT_BIG_BYTES=65536
IMG=$IT_TMP/images
it_make_sample_images "$IMG"

# hostile: app-a with markup in its manifest's annotations.
MARKUP='<img src=x onerror=window.__xss=1>'
cp -r "$IMG/app-a" "$IMG/hostile"
old=$(it_top_digest "$IMG" hostile)
jq -cj --arg m "$MARKUP" '. + {annotations: {"org.opencontainers.image.description": $m,
	"org.opencontainers.image.title": ("<b>" + $m + "</b>")}}' \
	"$IMG/hostile/blobs/sha256/${old#sha256:}" >"$IT_TMP/hostile.json"
size=$(it_size "$IT_TMP/hostile.json")
new=$(it_blob_add "$IMG/hostile/blobs/sha256" "$IT_TMP/hostile.json")
jq -c --arg o "$old" --arg n "$new" --argjson s "$size" \
	'.manifests |= map(if .digest == $o then .digest = $n | .size = $s else . end)' \
	"$IMG/hostile/index.json" >"$IT_TMP/index.json"
mv "$IT_TMP/index.json" "$IMG/hostile/index.json"

it_registry_start
for n in app-a app-b multi hostile; do it_push "$IMG" "$n"; done
it_log "building bundles"
B=$IT_TMP/bundles
mkdir -p "$B"
it_build_bundle "$B/edge-base-1.0.0.tar.zst" edge-base 1.0.0 app-a multi
it_build_bundle "$B/uploaded-1.0.0.tar.zst" uploaded 1.0.0 app-b
it_build_bundle "$B/hostile.tar.zst" hostile 1.0.0 hostile
# The pull-through cache (barged serve --proxy docker.io=...) fetches what
# the store lacks from this registry: app-b leaves it, so that the tag the
# test deletes does not come back through the cache, and cached (app-a's
# image under another name) is there to be pulled through.
skopeo delete --tls-verify=false "docker://$IT_REGISTRY/library/app-b:1.0"
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
	"docker://$IT_REGISTRY/library/app-a:1.0" "docker://$IT_REGISTRY/library/cached:1.0"
mkdir -p "$B/$MARKUP"
mv "$B/hostile.tar.zst" "$B/$MARKUP/hostile-1.0.0.tar.zst"

DATA=$IT_TMP/data
PASS=ui-test-password
printf '%s\n' "$PASS" >"$IT_TMP/admin.password"
chmod 600 "$IT_TMP/admin.password"
"$BARGED" load --data-dir "$DATA" "$B/edge-base-1.0.0.tar.zst" "$B/$MARKUP/hostile-1.0.0.tar.zst" \
	>"$IT_TMP/load.out" 2>&1 || it_die "barged load failed: $(cat "$IT_TMP/load.out")"

LOG=$IT_TMP/serve.log
it_barged_serve "$LOG" "$DATA" --admin-password-file "$IT_TMP/admin.password" --no-import \
	--proxy "docker.io=http://$IT_REGISTRY"
PID=$IT_LAST_PID
PORT=$IT_PORT

# chromium trusts barged's CA from a private NSS database, as a browser
# whose user imported ca.crt would: no certificate error is ignored.
UI_HOME=$IT_TMP/home
mkdir -p "$UI_HOME/.pki/nssdb"
certutil -d "sql:$UI_HOME/.pki/nssdb" -N --empty-password
certutil -d "sql:$UI_HOME/.pki/nssdb" -A -n barged-ca -t "C,," -i "$DATA/ca.crt"
# skopeo trusts it from a cert dir.
mkdir -p "$IT_TMP/certs"
cp "$DATA/ca.crt" "$IT_TMP/certs/ca.crt"

# many: one image under MANY_TAGS tags, more than one page (100) of the
# repository page: pushed once by skopeo, then tagged by PUTs of its
# manifest over one curl connection.
MANY=edge/docker.io/library/many
MANY_TAGS=130
skopeo copy -q --src-tls-verify=false --dest-cert-dir "$IT_TMP/certs" \
	--dest-creds "admin:$PASS" "docker://$IT_REGISTRY/library/app-a:1.0" \
	"docker://127.0.0.1:$PORT/$MANY:t000" || it_die "pushing $MANY failed"
skopeo inspect --raw --tls-verify=false "docker://$IT_REGISTRY/library/app-a:1.0" \
	>"$IT_TMP/many.json"
{
	printf 'header = "Content-Type: %s"\n' "$(jq -r .mediaType "$IT_TMP/many.json")"
	for i in $(seq 1 $((MANY_TAGS - 1))); do
		printf 'upload-file = "%s"\nurl = "https://127.0.0.1:%s/v2/%s/manifests/t%03d"\n' \
			"$IT_TMP/many.json" "$PORT" "$MANY" "$i"
	done
} >"$IT_TMP/many.curl"
curl -sSf --cacert "$DATA/ca.crt" -u "admin:$PASS" -K "$IT_TMP/many.curl" -o /dev/null ||
	it_die "tagging $MANY failed"

# cached: pulled through the cache from the upstream registry.
skopeo copy -q --src-cert-dir "$IT_TMP/certs" --src-creds "admin:$PASS" \
	"docker://127.0.0.1:$PORT/edge/docker.io/library/cached:1.0" "dir:$IT_TMP/cached" ||
	it_die "pulling cached through barged's cache failed"

upstream_digest() {
	echo "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$IT_REGISTRY/library/$1:1.0" |
		sha256sum | cut -d' ' -f1)"
}

mkdir -p "$UI_SHOTS"
rm -f "$UI_SHOTS"/*.png
rc=0
(
	cd "$HERE"
	UI_URL=https://127.0.0.1:$PORT UI_HOME=$UI_HOME UI_PASSWORD=$PASS UI_SHOTS=$UI_SHOTS \
		UI_CERTS=$IT_TMP/certs UI_PROJECT=edge UI_MARKUP=$MARKUP \
		UI_DIGEST_APP_A=$(upstream_digest app-a) UI_DIGEST_MULTI=$(upstream_digest multi) \
		UI_UPLOAD_BUNDLE=$B/uploaded-1.0.0.tar.zst UI_TMP=$IT_TMP UI_MANY_TAGS=$MANY_TAGS \
		UI_UPSTREAM=http://$IT_REGISTRY \
		node --test --test-concurrency=1 --test-reporter=spec ui.test.mjs
) || rc=$?
it_log "screenshots in $UI_SHOTS"
if [ -n "$UPDATE_DOCS" ]; then
	# Every page at desktop width, and two at phone width: docs/ui.md shows these.
	mkdir -p "$IT_REPO_ROOT/docs/ui"
	for f in "$UI_SHOTS"/*.png; do
		case $f in *-phone.png) ;; *) cp "$f" "$IT_REPO_ROOT/docs/ui/" ;; esac
	done
	cp "$UI_SHOTS/overview-phone.png" "$UI_SHOTS/tags-phone.png" "$IT_REPO_ROOT/docs/ui/"
	it_log "copied to docs/ui/"
fi
if ! kill -0 "$PID" 2>/dev/null; then
	cat "$LOG"
	it_die "barged serve exited during the tests"
fi
exit "$rc"
