#!/usr/bin/env bash
# Tokens with several scopes, through a real client: containerd's ctr
# pushes an image it pulled from another repository of barged, with auth
# on (no anonymous pulls, admin's password from the test's config).  The
# blobs' distribution-source labels make containerd mount them from the
# source, so its token request names two scopes, sorted:
# repository:edge/aa/src:pull before repository:edge/zz/dst:pull,push.
# A /token that kept only the first one gave a token without push, and
# the push failed with insufficient_scope.  containerd asks with the OAuth2
# POST form first, then GET.  The pushed image must then pull with skopeo
# with the same digest and bytes.  Only 127.0.0.1.
#
# Env: BARGED (path of the binary; default build/...).  Needs root for
# containerd.  IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGED" skopeo containerd ctr jq; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
[ "$(id -u)" -eq 0 ] || it_die "containerd needs root"

it_tmpdir
# Only the credentials given here: none that a `skopeo login` stored.
export REGISTRY_AUTH_FILE=$IT_TMP/auth.json
echo '{}' >"$REGISTRY_AUTH_FILE"
UP=$IT_TMP/images
IT_BIG_BYTES=4096 it_make_sample_images "$UP"
WANT=$(it_top_digest "$UP" app-a)

# --- barged, auth on -------------------------------------------------------

PASSWORD=token-scopes-$RANDOM$RANDOM
printf '%s\n' "$PASSWORD" >"$IT_TMP/admin.password"
chmod 600 "$IT_TMP/admin.password"
ADMIN=admin:$PASSWORD
cat >"$IT_TMP/barged.yaml" <<EOF
data_dir: $IT_TMP/data
listen: 127.0.0.1:0
plain_http: true
project: edge
auth:
  anonymous_pull: false
  admin_password_file: $IT_TMP/admin.password
import:
  enabled: false
EOF
LOG=$IT_TMP/barged.log
it_serve "$LOG" "$BARGED" serve --config "$IT_TMP/barged.yaml"
BARGED_PID=$IT_LAST_PID PORT=$IT_PORT
REG=127.0.0.1:$PORT
SRC=$REG/edge/aa/src:1.0
DST=$REG/edge/zz/dst:1.0

# The source repository, pushed by skopeo.
skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$ADMIN" \
	"oci:$UP/app-a:1.0" "docker://$SRC" 2>"$IT_TMP/push.err" ||
	{ cat "$IT_TMP/push.err"; it_die "skopeo copy app-a to $SRC"; }

# --- containerd: pull from one repository, push to another ---------------

it_containerd_start
CTR=(ctr --address "$IT_CTR_SOCK")
if "${CTR[@]}" images pull --snapshotter "$IT_SNAPSHOTTER" --plain-http --user "$ADMIN" \
	"$SRC" >"$IT_TMP/ctr.out" 2>&1; then
	it_pass "ctr images pull $SRC with admin's credentials"
else
	sed 's/^/  ctr: /' "$IT_TMP/ctr.out" | tail -5
	it_fail "ctr images pull $SRC with admin's credentials"
fi
"${CTR[@]}" images tag --force "$SRC" "$DST" >/dev/null
if "${CTR[@]}" images push --plain-http --user "$ADMIN" "$DST" >"$IT_TMP/ctr.out" 2>&1; then
	it_pass "ctr images push $DST (mounting from edge/aa/src) exits 0"
else
	sed 's/^/  ctr: /' "$IT_TMP/ctr.out" | tail -5
	it_fail "ctr images push $DST (mounting from edge/aa/src) exits 0"
fi
it_check "containerd's token came from the OAuth2 POST form (200)" \
	grep -q '"method":"POST","path":"/token","status":200' "$LOG"
it_check "ctr mounted the layers from edge/aa/src (201 on the upload route)" \
	grep -q '"method":"POST","path":"/v2/edge/zz/dst/blobs/uploads/","status":201' "$LOG"

# A read-only token gets pull on both scopes and push on neither: its push
# to a third repository is refused.
RO=$("$BARGED" token create --name nodes --data-dir "$IT_TMP/data")
RODST=$REG/edge/zz/ro:1.0
"${CTR[@]}" images tag --force "$SRC" "$RODST" >/dev/null
if "${CTR[@]}" images push --plain-http --user "nodes:$RO" "$RODST" >"$IT_TMP/ro.out" 2>&1; then
	it_fail "ctr images push with a read-only token is refused"
else
	it_check "ctr images push with a read-only token is refused (403 denied)" \
		grep -qiE 'denied|403' "$IT_TMP/ro.out"
fi

# --- skopeo: the pushed image, same digest and bytes -----------------------

got=$(skopeo inspect --raw --tls-verify=false --creds "$ADMIN" "docker://$DST" 2>"$IT_TMP/raw.err" |
	sha256sum | cut -d' ' -f1) || true
it_check_eq "skopeo inspect --raw $DST: the source's digest" "$WANT" "sha256:$got"
rm -rf "$IT_TMP/out"
if skopeo copy -q --preserve-digests --src-tls-verify=false --src-creds "nodes:$RO" \
	"docker://$DST" "oci:$IT_TMP/out:1.0" 2>"$IT_TMP/copy.err"; then
	ok=1
	for f in "$UP/app-a/blobs/sha256"/*; do
		cmp -s "$f" "$IT_TMP/out/blobs/sha256/${f##*/}" || { echo "differs: ${f##*/}"; ok=0; }
	done
	it_check_eq "skopeo copy of $DST (read-only token): every blob equals the source's" 1 "$ok"
else
	cat "$IT_TMP/copy.err"
	it_fail "skopeo copy of $DST with the read-only token"
fi

# --- stop -------------------------------------------------------------------

rc=0
kill -TERM "$BARGED_PID"
it_wait_for 10 bash -c "! kill -0 $BARGED_PID" || { rc=timeout; kill -KILL "$BARGED_PID"; }
wait "$BARGED_PID" || rc=$?
it_check_eq "barged serve exits 0 on SIGTERM" 0 "$rc"
if grep -qE 'Sanitizer|runtime error' "$LOG"; then
	cat "$LOG"
	it_fail "sanitizer report in barged's log"
fi

it_summary
