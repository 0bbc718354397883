#!/usr/bin/env bash
# The admin API's rules through real clients (docs/api.md): skopeo pulls
# with a token that `barged token create --scope` limited to one
# repository, and fails outside it; a token made through POST
# /api/v1/tokens likewise, until DELETE /api/v1/tokens/ID revokes it, which
# skopeo sees at its next request; an expired token is refused; a web
# login's cookie session needs its CSRF token to write, and reads the
# store (the digest skopeo pushed).  Plain HTTP on 127.0.0.1 only.
#
# Env: BARGED (path of the binary; default build/...).  IT_KEEP_TMP=1
# keeps the temp dir for a post-mortem.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGED" skopeo jq curl; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
export REGISTRY_AUTH_FILE=$IT_TMP/auth.json
echo '{}' >"$REGISTRY_AUTH_FILE"
UP=$IT_TMP/images
IT_BIG_BYTES=4096 it_make_sample_images "$UP"
WANT=$(it_top_digest "$UP" app-a)

PASSWORD=api-$RANDOM$RANDOM
printf '%s\n' "$PASSWORD" >"$IT_TMP/admin.password"
chmod 600 "$IT_TMP/admin.password"
ADMIN=admin:$PASSWORD
DATA=$IT_TMP/data
cat >"$IT_TMP/barged.yaml" <<EOF2
data_dir: $DATA
listen: 127.0.0.1:0
plain_http: true
project: edge
auth:
  anonymous_pull: false
  admin_password_file: $IT_TMP/admin.password
import:
  enabled: false
EOF2
LOG=$IT_TMP/barged.log
it_spawn "$LOG" "$BARGED" serve --config "$IT_TMP/barged.yaml"
BARGED_PID=$IT_LAST_PID
deadline=$((SECONDS + 30))
until PORT=$(sed -n 's/.*serving http on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG") && [ -n "$PORT" ]; do
	if ! kill -0 "$BARGED_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
		cat "$LOG"
		it_die "barged serve did not start"
	fi
	sleep 0.1
done
REG=127.0.0.1:$PORT
API=http://$REG/api/v1
for repo in edge/team-a/app edge/team-b/app; do
	skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$ADMIN" \
		"oci:$UP/app-a:1.0" "docker://$REG/$repo:1.0" 2>"$IT_TMP/push.err" ||
		{ cat "$IT_TMP/push.err"; it_die "skopeo copy app-a to $repo"; }
done

# skopeo inspect with creds; prints the digest, or nothing on failure.
inspect() {
	skopeo inspect --tls-verify=false --creds "$2" "docker://$REG/$1:1.0" 2>"$IT_TMP/inspect.err" |
		jq -r .Digest || true
}

# --- barged token create --scope, --expires-in --------------------------------

TOK=$("$BARGED" token create --name team-a --scope 'edge/team-a/*' --data-dir "$DATA" 2>/dev/null)
it_check_eq "scoped token (CLI): pulls inside its scope" "$WANT" "$(inspect edge/team-a/app "team-a:$TOK")"
it_check_eq "scoped token (CLI): refused outside it" "" "$(inspect edge/team-b/app "team-a:$TOK")"
it_check "barged token ls shows the scope" sh -c \
	"'$BARGED' token ls --data-dir '$DATA' | grep -q '^team-a .* edge/team-a/\*$'"
OLD=$("$BARGED" token create --name brief --expires-in 1s --data-dir "$DATA" 2>/dev/null)
sleep 2
it_check_eq "expired token: refused" "" "$(inspect edge/team-a/app "brief:$OLD")"

# --- tokens through the API -------------------------------------------------

curl -sS -u "$ADMIN" -H 'Content-Type: application/json' -o "$IT_TMP/tok.json" \
	-d '{"name":"team-b","expires_in":3600,"scope":["edge/team-b/*"]}' "$API/tokens"
BTOK=$(jq -r .token "$IT_TMP/tok.json")
it_check_eq "POST /api/v1/tokens: the token, once" barge_ "${BTOK:0:6}"
it_check_eq "scoped token (API): pulls inside its scope" "$WANT" "$(inspect edge/team-b/app "team-b:$BTOK")"
it_check_eq "scoped token (API): refused outside it" "" "$(inspect edge/team-a/app "team-b:$BTOK")"
it_check_eq "GET /api/v1/tokens lists it without the secret" '[["edge/team-b/*"],null]' \
	"$(curl -sS -u "$ADMIN" "$API/tokens" | jq -c '.tokens[] | select(.id == "team-b") | [.scope, .token]')"
it_check_eq "DELETE /api/v1/tokens/team-b: 204" 204 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -u "$ADMIN" -X DELETE "$API/tokens/team-b")"
it_check_eq "revoked: skopeo refused at once" "" "$(inspect edge/team-b/app "team-b:$BTOK")"

# --- a browser's session: cookie, CSRF --------------------------------------

JAR=$IT_TMP/cookies
curl -sS -c "$JAR" -H 'Content-Type: application/json' -o "$IT_TMP/login.json" \
	-d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$API/login"
CSRF=$(jq -r .csrf "$IT_TMP/login.json")
it_check_eq "login: admin" admin "$(jq -r .role "$IT_TMP/login.json")"
it_check_eq "the session reads the tag skopeo pushed" "$WANT" \
	"$(curl -sS -b "$JAR" "$API/tags?repo=edge/team-a/app" | jq -r '.tags[0].digest')"
it_check_eq "a cookie DELETE without X-CSRF-Token: 403" 403 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -b "$JAR" -X DELETE "$API/tags?repo=edge/team-a/app&tag=1.0")"
it_check_eq "the tag is still served" "$WANT" "$(inspect edge/team-a/app "$ADMIN")"
it_check_eq "with it: 204" 204 "$(curl -sS -o /dev/null -w '%{http_code}' -b "$JAR" \
	-H "X-CSRF-Token: $CSRF" -X DELETE "$API/tags?repo=edge/team-a/app&tag=1.0")"
it_check_eq "the deleted tag: skopeo inspect fails" "" "$(inspect edge/team-a/app "$ADMIN")"
it_check_eq "GC through the session" true "$(curl -sS -b "$JAR" -H "X-CSRF-Token: $CSRF" \
	-H 'Content-Type: application/json' -d '{}' "$API/gc" | jq '.removed_manifests >= 1')"

it_stop "$BARGED_PID"
if grep -q "ERROR: AddressSanitizer\|runtime error:" "$LOG"; then
	cat "$LOG"
	it_fail "sanitizer report in barged's log"
fi

it_summary
