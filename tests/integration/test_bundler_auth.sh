#!/usr/bin/env bash
# barge build against registries that want credentials, all real and on
# 127.0.0.1: docker-registry with htpasswd (Basic) auth, and docker-registry
# with "auth: token" verifying RS256 JWTs from a token issuer this test runs
# (tools/token_issuer.py), so the Bearer flow is exercised end to end.
# Credentials come from $DOCKER_CONFIG/config.json: "auths", and a
# credential helper named docker-credential-test on PATH (credsStore and
# credHelpers, password and identity token).  Checks: anonymous is refused
# with a clear error, wrong credentials are refused naming the registry and
# repository (and never echoing the password), right ones give a bundle
# holding upstream's exact manifest; no output file is left by a failure.
#
# Env: BARGE (path of the binary; default build/...).  IT_KEEP_TMP=1 keeps
# the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
TOOLS=$IT_LIB_DIR/tools

for tool in "$BARGE" docker-registry skopeo htpasswd python3 openssl jq curl zstd tar; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
T=$IT_TMP
export SOURCE_DATE_EPOCH=0
export DOCKER_CONFIG=$T/docker
mkdir -p "$DOCKER_CONFIG" "$T/bin"
export PATH=$T/bin:$PATH

it_log "generating sample images in $T"
IT_BIG_BYTES=4096 it_make_sample_images "$T/images"
UP=$T/images
WANT_A=$(it_top_digest "$UP" app-a)
WANT_M=$(it_top_digest "$UP" multi)

# push ADDR USER:PASS NAME: push sample NAME:1.0 with credentials.  (Not
# REGISTRY_AUTH_FILE: docker-registry would read that variable as its own
# auth.file setting.)
push() {
	skopeo copy -q --all --preserve-digests --dest-tls-verify=false --dest-creds "$2" \
		"oci:$UP/$3:1.0" "docker://$1/library/$3:1.0" >&2
}

# profile FILE ADDR: a profile naming app-a and multi on registry ADDR.
profile() {
	cat >"$1" <<EOF
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: auth, version: 1.0.0}
spec:
  platforms: [linux/amd64, linux/arm64]
  packs:
    - name: base
      images: [$2/library/app-a:1.0, $2/library/multi:1.0]
EOF
}

# build NAME PROFILE: barge build into T/NAME.tar.zst with a fresh cache;
# stderr in T/NAME.err.  Returns barge's exit status.
build() {
	local rc=0
	"$BARGE" build "$2" --output-file "$T/$1.tar.zst" --cache-dir "$T/cache-$1" 2>"$T/$1.err" || rc=$?
	return "$rc"
}

# expect_fail NAME PROFILE TEXT: the build fails with exit 1, says TEXT and
# leaves no bundle behind.
expect_fail() {
	local rc=0
	build "$1" "$2" || rc=$?
	it_check_eq "$1: barge build exits 1" 1 "$rc"
	if grep -qF -- "$3" "$T/$1.err"; then
		it_pass "$1: error says '$3'"
	else
		it_fail "$1: error says '$3' (got: $(cat "$T/$1.err"))"
	fi
	it_check "$1: no bundle left" test ! -e "$T/$1.tar.zst"
	it_check "$1: no temp file left next to the bundle" \
		sh -c "! ls '$T' | grep -q '^$1\.tar\.zst.'"
}

# expect_ok NAME PROFILE: the build succeeds and the bundle carries upstream's
# exact top-level manifests (digest in barge.json and the blob's bytes).
expect_ok() {
	local got
	if build "$1" "$2"; then
		it_pass "$1: barge build exits 0"
	else
		it_fail "$1: barge build exits 0 ($(cat "$T/$1.err"))"
		return 0
	fi
	got=$(zstd -dcq "$T/$1.tar.zst" | tar -xO barge.json |
		jq -r '[.images[].digest] | join(" ")')
	it_check_eq "$1: bundle pins upstream's digests" "$WANT_A $WANT_M" "$got"
	got=$(zstd -dcq "$T/$1.tar.zst" | tar -xO "blobs/sha256/${WANT_M#sha256:}" | sha256sum |
		cut -d' ' -f1)
	it_check_eq "$1: index bytes as upstream" "${WANT_M#sha256:}" "$got"
}

# no_secret NAME SECRET: SECRET appears nowhere in barge's output.
no_secret() {
	if grep -qF -- "$2" "$T/$1.err"; then
		it_fail "$1: output leaks the secret"
	else
		it_pass "$1: output does not show the secret"
	fi
}

config() { printf '%s\n' "$1" >"$DOCKER_CONFIG/config.json"; }
b64() { printf '%s' "$1" | base64 -w0; }

# --- htpasswd (Basic) -------------------------------------------------------

it_log "docker-registry with htpasswd auth"
htpasswd -Bbn alice 'alice-pw' >"$T/htpasswd"
it_registry_start_conf basic "auth:
  htpasswd:
    realm: barge-test
    path: $T/htpasswd"
BASIC=$IT_REG_ADDR
push "$BASIC" alice:alice-pw app-a
push "$BASIC" alice:alice-pw multi
profile "$T/basic.yaml" "$BASIC"

config '{}'
expect_fail basic-anon "$T/basic.yaml" \
	"registry $BASIC requires credentials for library/app-a and none were found"
config "{\"auths\":{\"$BASIC\":{\"auth\":\"$(b64 alice:not-the-pw)\"}}}"
expect_fail basic-wrong "$T/basic.yaml" \
	"registry $BASIC refused the credentials for library/app-a"
no_secret basic-wrong not-the-pw
config "{\"auths\":{\"$BASIC\":{\"auth\":\"$(b64 alice:alice-pw)\"}}}"
expect_ok basic-auths "$T/basic.yaml"
# The same with "username"/"password" under a URL-style key, as older docker writes.
config "{\"auths\":{\"http://$BASIC/v1/\":{\"username\":\"alice\",\"password\":\"alice-pw\"}}}"
expect_ok basic-userpass "$T/basic.yaml"
# Credentials for another registry are not sent here.
config "{\"auths\":{\"127.0.0.2:1\":{\"auth\":\"$(b64 alice:alice-pw)\"}}}"
expect_fail basic-other "$T/basic.yaml" "requires credentials for library/app-a"

# --- token auth (Bearer, JWTs from our issuer) ------------------------------

it_log "docker-registry with token auth and a token issuer"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/issuer.key" -out "$T/issuer.crt" \
	-days 2 -subj "/CN=barge-test-issuer" 2>/dev/null
ISSUER_PORT=$(it_free_port)
it_spawn "$T/issuer.log" python3 "$TOOLS/token_issuer.py" --port "$ISSUER_PORT" \
	--key "$T/issuer.key" --issuer barge-test-issuer --service barge-test-registry \
	--user bob:bob-pw --refresh "bob-refresh-token=bob"
it_wait_for 30 it_port_busy "$ISSUER_PORT" || it_die "token issuer did not start: $(cat "$T/issuer.log")"
it_registry_start_conf token "auth:
  token:
    realm: http://127.0.0.1:$ISSUER_PORT/token
    service: barge-test-registry
    issuer: barge-test-issuer
    rootcertbundle: $T/issuer.crt"
TOKEN=$IT_REG_ADDR
push "$TOKEN" bob:bob-pw app-a
push "$TOKEN" bob:bob-pw multi
profile "$T/token.yaml" "$TOKEN"

config '{}'
expect_fail token-anon "$T/token.yaml" \
	"registry $TOKEN requires credentials for library/app-a and none were found"
it_check "token-anon: the issuer gave an anonymous token granting nothing" \
	grep -q "grant user=anonymous scope=repository:library/app-a:pull actions=none" "$T/issuer.log"
config "{\"auths\":{\"$TOKEN\":{\"auth\":\"$(b64 bob:bad-bob-pw)\"}}}"
expect_fail token-wrong "$T/token.yaml" "registry $TOKEN refused the credentials for library/app-a"
no_secret token-wrong bad-bob-pw
it_check "token-wrong: the issuer refused bob's password" \
	grep -q "refuse user=bob reason=bad-password" "$T/issuer.log"
config "{\"auths\":{\"$TOKEN\":{\"auth\":\"$(b64 bob:bob-pw)\"}}}"
expect_ok token-auths "$T/token.yaml"
it_check "token-auths: the issuer granted bob pull on each repository" \
	sh -c "grep -q 'grant user=bob scope=repository:library/app-a:pull actions=pull' '$T/issuer.log' &&
	       grep -q 'grant user=bob scope=repository:library/multi:pull actions=pull' '$T/issuer.log'"

# --- credential helpers -----------------------------------------------------

# docker-credential-test: answers for $TOKEN from the helper's own table;
# records every server it was asked about.
cat >"$T/bin/docker-credential-test" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 2
read -r server || true
echo "\$server" >>"$T/helper.log"
case \$server in
$TOKEN) cat "$T/helper-answer" ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
EOF
chmod +x "$T/bin/docker-credential-test"

echo '{"ServerURL":"x","Username":"bob","Secret":"bob-pw"}' >"$T/helper-answer"
config '{"credsStore":"test","auths":{"'"$TOKEN"'":{}}}'
expect_ok helper-store "$T/token.yaml"
it_check_eq "helper-store: the helper was asked about the registry" "$TOKEN" \
	"$(sort -u "$T/helper.log")"

# An identity token (Username "<token>") is exchanged with an OAuth2 POST.
echo '{"Username":"<token>","Secret":"bob-refresh-token"}' >"$T/helper-answer"
config '{"credHelpers":{"'"$TOKEN"'":"test"}}'
expect_ok helper-identity "$T/token.yaml"
it_check "helper-identity: the issuer took the refresh token" \
	grep -q "refresh user=bob" "$T/issuer.log"
no_secret helper-identity bob-refresh-token

echo '{"Username":"bob","Secret":"helper-wrong-pw"}' >"$T/helper-answer"
config '{"credHelpers":{"'"$TOKEN"'":"test"}}'
expect_fail helper-wrong "$T/token.yaml" \
	"registry $TOKEN refused the credentials for library/app-a (user \"bob\" from docker-credential-test)"
no_secret helper-wrong helper-wrong-pw

# A helper that is not on PATH is an error naming it.
config '{"credHelpers":{"'"$TOKEN"'":"absent"}}'
expect_fail helper-missing "$T/token.yaml" "docker-credential-absent"

it_summary
