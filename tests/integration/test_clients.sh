#!/usr/bin/env bash
# Real clients against `barged serve`, which starts empty: skopeo pushes
# (OCI, Docker schema2, multi-arch with --all) and reads back (inspect,
# list-tags, copy to a layout, delete); containerd's ctr pulls (by tag, by
# digest, one platform, all platforms, through a docker.io mirror with ?ns=,
# over HTTPS with barged's CA and over plain HTTP), runs a pulled image and
# pushes.  Every check compares what a user compares: manifest digests,
# blob bytes, a container's output, exit codes.  Only 127.0.0.1.
#
# Env: BARGED (path of the binary; default build/...).  Needs root for
# containerd.  IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
# shellcheck disable=SC2046 # lists of digests (no blanks) split into arguments
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
IMAGES=(app-a app-b multi docker2 run)

for tool in "$BARGED" skopeo containerd ctr jq curl tar openssl; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
[ "$(id -u)" -eq 0 ] || it_die "containerd needs root"

it_tmpdir
# Only the credentials given here: none that a `skopeo login` stored.
export REGISTRY_AUTH_FILE=$IT_TMP/auth.json
echo '{}' >"$REGISTRY_AUTH_FILE"
UP=$IT_TMP/images
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
it_log "generating sample images in $IT_TMP"
IT_BIG_BYTES=65536 it_make_sample_images "$UP"
rm -rf "$UP/big"

# A runnable image: Debian's static busybox as the only file.
[ -x /bin/busybox ] || it_die "no /bin/busybox (apt-get install busybox-static)"
mkdir -p "$IT_TMP/src/run/bin"
cp /bin/busybox "$IT_TMP/src/run/bin/busybox"
it_layout_init "$UP/run"
it_make_image "$UP/run" 1.0 "linux/$ARCH" "$(it_layer "$UP/run/blobs/sha256" "$IT_TMP/src/run")" \
	>/dev/null
rm -rf "$IT_TMP/src"

# --- helpers ----------------------------------------------------------------

blob_dir() {
	if [ -d "$UP/$1/blobs/sha256" ]; then echo "$UP/$1/blobs/sha256"; else echo "$UP/$1"; fi
}

# manifest_file NAME [DIGEST]: the file holding a manifest of sample NAME.
manifest_file() {
	local d=${2:-$(it_top_digest "$UP" "$1")}
	if [ -f "$(blob_dir "$1")/${d#sha256:}" ]; then
		echo "$(blob_dir "$1")/${d#sha256:}"
	else
		echo "$UP/$1/manifest.json"
	fi
}

layers() { jq -r '.layers[].digest' "$(manifest_file "$@")"; }

# child ARCH: the multi index's manifest for that architecture.
child() {
	jq -r --arg a "$1" '.manifests[] | select(.platform.architecture == $a) | .digest' \
		"$(manifest_file multi)"
}

# raw_digest SKOPEOARGS... REF: sha256 of the manifest bytes served for REF.
raw_digest() {
	skopeo inspect --raw "$@" >"$IT_TMP/raw" 2>"$IT_TMP/raw.err" || return 1
	echo "sha256:$(it_sha256 "$IT_TMP/raw")"
}

# same_blobs OUT UPSTREAM: every blob file in OUT is named by its sha256 and
# equals UPSTREAM's file of that name; none of UPSTREAM's is missing.
same_blobs() {
	local out=$1 up=$2 f n=0
	for f in "$out"/*; do
		case ${f##*/} in manifest.json | version | oci-layout | index.json) continue ;; esac
		[ "$(it_sha256 "$f")" = "${f##*/}" ] || { echo "bad digest: $f"; return 1; }
		cmp -s "$f" "$up/${f##*/}" || { echo "differs from the source: ${f##*/}"; return 1; }
		n=$((n + 1))
	done
	for f in "$up"/*; do
		case ${f##*/} in manifest.json | version | oci-layout | index.json) continue ;; esac
		[ -f "$out/${f##*/}" ] || { echo "missing: ${f##*/}"; return 1; }
	done
	[ "$n" -gt 0 ]
}

# serve NAME VAR ARGS...: start `barged serve` on a port the kernel picks
# (no race with other programs over a free port) and set VAR to it; the
# end of the test stops each one and checks its exit.
SERVES=()
serve() {
	local name=$1 var=$2 log=$IT_TMP/$1.log p deadline=$((SECONDS + 30)); shift 2
	it_spawn "$log" "$BARGED" serve --listen 127.0.0.1:0 "$@"
	SERVES+=("$name:$IT_LAST_PID")
	until p=$(sed -n 's/.*serving https* on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log") && [ -n "$p" ]; do
		if ! kill -0 "$IT_LAST_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			cat "$log"
			it_die "barged serve $name did not start"
		fi
		sleep 0.1
	done
	printf -v "$var" %s "$p"
}

answers() {
	local url=$1 code; shift
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url") || return 1
	[ "$code" != 000 ]
}

# --- barged, empty, over HTTPS and plain HTTP on one store -----------------

DATA=$IT_TMP/data
PTLS="" PPLAIN="" PAUTH="" # set by serve
serve serve-tls PTLS --data-dir "$DATA" --project edge --allow-delete
it_wait_for 30 test -s "$DATA/ca.crt" || { cat "$IT_TMP/serve-tls.log"; it_die "no $DATA/ca.crt"; }
CERTS=$IT_TMP/certs
mkdir -p "$CERTS"
cp "$DATA/ca.crt" "$CERTS/ca.crt"
it_wait_for 30 answers "https://127.0.0.1:$PTLS/v2/" --cacert "$CERTS/ca.crt" ||
	{ cat "$IT_TMP/serve-tls.log"; it_die "barged serve (HTTPS) does not answer"; }
# The first server generated admin's password; the others read the file.
it_wait_for 10 test -s "$DATA/admin.password" || it_die "no $DATA/admin.password"
ADMIN=admin:$(cat "$DATA/admin.password")
serve serve-plain PPLAIN --data-dir "$DATA" --plain-http --project edge
it_wait_for 30 answers "http://127.0.0.1:$PPLAIN/v2/" ||
	{ cat "$IT_TMP/serve-plain.log"; it_die "barged serve --plain-http does not answer"; }
# A third one, TLS, where pulls need credentials too.
serve serve-auth PAUTH --data-dir "$DATA" --project edge --anonymous-pull=false
it_wait_for 30 answers "https://127.0.0.1:$PAUTH/v2/" --cacert "$CERTS/ca.crt" ||
	{ cat "$IT_TMP/serve-auth.log"; it_die "barged serve --anonymous-pull=false does not answer"; }

# Pushes and deletes always need credentials.
PUSH_CREDS=(--dest-creds "$ADMIN")

TLS=(--cert-dir "$CERTS" --tls-verify=true)
PLAIN=(--tls-verify=false)
R_TLS=127.0.0.1:$PTLS/edge/docker.io/library
R_PLAIN=127.0.0.1:$PPLAIN/edge/docker.io/library

# src_ref NAME: skopeo's name for sample NAME:1.0 on disk.
src_ref() {
	if [ -f "$UP/$1/manifest.json" ]; then echo "dir:$UP/$1"; else echo "oci:$UP/$1:1.0"; fi
}

# --- skopeo: push -----------------------------------------------------------

# Every image goes in over HTTPS; app-b after app-a, so skopeo mounts their
# shared base layer across repositories instead of sending it again.
# --preserve-digests makes skopeo fail rather than convert a manifest.
for n in "${IMAGES[@]}"; do
	if skopeo copy -q --all --preserve-digests --dest-cert-dir "$CERTS" "${PUSH_CREDS[@]}" \
		"$(src_ref "$n")" "docker://$R_TLS/$n:1.0" 2>"$IT_TMP/push.err"; then
		it_pass "skopeo copy --all $n:1.0 to barged (HTTPS) exits 0"
	else
		sed 's/^/  skopeo: /' "$IT_TMP/push.err"
		it_fail "skopeo copy --all $n:1.0 to barged (HTTPS) exits 0"
	fi
done
# Without credentials a push is refused and leaves no tag behind.
if skopeo copy -q --preserve-digests --dest-cert-dir "$CERTS" "$(src_ref app-a)" \
	"docker://127.0.0.1:$PTLS/edge/anon/app-a:1.0" >"$IT_TMP/anon.out" 2>&1; then
	it_fail "skopeo copy without credentials is refused"
else
	# 401, then the anonymous token skopeo fetches lacks push: denied.
	it_check "skopeo copy without credentials is refused (denied)" \
		grep -qiE 'denied|unauthorized' "$IT_TMP/anon.out"
fi
if raw_digest "${TLS[@]}" "docker://127.0.0.1:$PTLS/edge/anon/app-a:1.0" >/dev/null; then
	it_fail "the refused push left no manifest"
else
	it_pass "the refused push left no manifest"
fi
# One push over plain HTTP, to another repository.
if skopeo copy -q --all --preserve-digests --dest-tls-verify=false "${PUSH_CREDS[@]}" \
	"$(src_ref multi)" "docker://127.0.0.1:$PPLAIN/edge/plain/multi:1.0" 2>"$IT_TMP/push.err"; then
	it_check_eq "skopeo copy --all multi:1.0 over plain HTTP: index digest kept" \
		"$(it_top_digest "$UP" multi)" \
		"$(raw_digest "${PLAIN[@]}" "docker://127.0.0.1:$PPLAIN/edge/plain/multi:1.0" || echo error)"
else
	sed 's/^/  skopeo: /' "$IT_TMP/push.err"
	it_fail "skopeo copy --all multi:1.0 to barged over plain HTTP exits 0"
fi

# --- skopeo: read back ------------------------------------------------------

for n in "${IMAGES[@]}"; do
	want=$(it_top_digest "$UP" "$n")
	it_check_eq "skopeo inspect --raw $n:1.0 (HTTPS): source digest" "$want" \
		"$(raw_digest "${TLS[@]}" "docker://$R_TLS/$n:1.0" || echo error)"
	it_check_eq "skopeo inspect --raw $n:1.0 (HTTP): source digest" "$want" \
		"$(raw_digest "${PLAIN[@]}" "docker://$R_PLAIN/$n:1.0" || echo error)"
done
# Without --raw skopeo resolves the index to this host's platform and
# reports that manifest's digest and its layers.
got=$(skopeo inspect "${TLS[@]}" "docker://$R_TLS/multi:1.0" 2>&1 | jq -r '.Digest' || echo error)
it_check_eq "skopeo inspect multi:1.0: digest of the index" "$(it_top_digest "$UP" multi)" "$got"
got=$(skopeo inspect "${TLS[@]}" "docker://$R_TLS/multi:1.0" 2>&1 | jq -r '.Layers | join(" ")' ||
	echo error)
it_check_eq "skopeo inspect multi:1.0: layers of the $ARCH manifest" \
	"$(layers multi "$(child "$ARCH")" | tr '\n' ' ' | sed 's/ $//')" "$got"
got=$(skopeo list-tags "${TLS[@]}" "docker://$R_TLS/app-a" | jq -c .Tags || echo error)
it_check_eq "skopeo list-tags app-a" '["1.0"]' "$got"

for n in "${IMAGES[@]}"; do
	out=$IT_TMP/copied/$n
	mkdir -p "$IT_TMP/copied"
	if [ -f "$UP/$n/manifest.json" ]; then
		dest=dir:$out outblobs=$out
	else
		dest=oci:$out:1.0 outblobs=$out/blobs/sha256
	fi
	if skopeo copy -q --all --preserve-digests --src-cert-dir "$CERTS" \
		"docker://$R_TLS/$n:1.0" "$dest" 2>"$IT_TMP/copy.err"; then
		it_check "skopeo copy --all $n:1.0 to a layout: every blob equals the source's" \
			same_blobs "$outblobs" "$(blob_dir "$n")"
	else
		cat "$IT_TMP/copy.err"
		it_fail "skopeo copy --all $n:1.0 from barged"
	fi
done
rm -rf "$IT_TMP/copied"

# --- skopeo: delete ---------------------------------------------------------

# The plain server runs with deletes off (the default): refused, the image
# stays.
if skopeo delete "${PLAIN[@]}" --creds "$ADMIN" \
	"docker://127.0.0.1:$PPLAIN/edge/plain/multi:1.0" >"$IT_TMP/delete.out" 2>&1; then
	it_fail "skopeo delete is refused while deletes are off"
else
	it_check "skopeo delete is refused while deletes are off (405 UNSUPPORTED)" \
		grep -q 'UNSUPPORTED.*405' "$IT_TMP/delete.out"
fi
it_check_eq "after the refused delete the image is still served" "$(it_top_digest "$UP" multi)" \
	"$(raw_digest "${PLAIN[@]}" "docker://127.0.0.1:$PPLAIN/edge/plain/multi:1.0" || echo error)"

# The TLS server allows them, with credentials only.  app-a also goes to a
# second repository, deleted there: the first keeps every shared blob.
DEL=127.0.0.1:$PTLS/edge/del/app-a
skopeo copy -q --preserve-digests --dest-cert-dir "$CERTS" "${PUSH_CREDS[@]}" \
	"$(src_ref app-a)" "docker://$DEL:1.0" 2>"$IT_TMP/push.err" ||
	{ cat "$IT_TMP/push.err"; it_fail "skopeo copy app-a:1.0 to edge/del/app-a"; }
if skopeo delete "${TLS[@]}" "docker://$DEL:1.0" >"$IT_TMP/anon.out" 2>&1; then
	it_fail "skopeo delete without credentials is refused"
else
	it_check "skopeo delete without credentials is refused (denied)" \
		grep -qiE 'denied|unauthorized' "$IT_TMP/anon.out"
fi
if skopeo delete "${TLS[@]}" --creds "$ADMIN" "docker://$DEL:1.0" >"$IT_TMP/delete.out" 2>&1; then
	it_pass "skopeo delete edge/del/app-a:1.0 with credentials exits 0"
else
	sed 's/^/  skopeo: /' "$IT_TMP/delete.out"
	it_fail "skopeo delete edge/del/app-a:1.0 with credentials exits 0"
fi
if skopeo inspect --raw "${TLS[@]}" "docker://$DEL@$(it_top_digest "$UP" app-a)" \
	>"$IT_TMP/inspect.out" 2>&1; then
	it_fail "the deleted manifest is gone"
else
	it_check "the deleted manifest is gone (manifest unknown)" \
		grep -qiE 'manifest unknown|MANIFEST_UNKNOWN|not found' "$IT_TMP/inspect.out"
fi
if skopeo copy -q --all --preserve-digests --src-cert-dir "$CERTS" \
	"docker://$R_TLS/app-a:1.0" "oci:$IT_TMP/after-delete:1.0" 2>"$IT_TMP/copy.err"; then
	it_check "after the delete the other repository's app-a is whole" \
		same_blobs "$IT_TMP/after-delete/blobs/sha256" "$(blob_dir app-a)"
else
	cat "$IT_TMP/copy.err"
	it_fail "after the delete the other repository's app-a can be copied"
fi

# --- auth: pulls where anonymous pulls are off ------------------------------

R_AUTH=127.0.0.1:$PAUTH/edge/docker.io/library
if raw_digest "${TLS[@]}" "docker://$R_AUTH/app-b:1.0" >/dev/null; then
	it_fail "anonymous pull off: skopeo inspect without credentials is refused"
else
	it_check "anonymous pull off: skopeo inspect without credentials is refused (401)" \
		grep -qiE 'unauthorized|401' "$IT_TMP/raw.err"
fi
it_check_eq "anonymous pull off: skopeo inspect with admin's credentials" \
	"$(it_top_digest "$UP" app-b)" \
	"$(raw_digest "${TLS[@]}" --creds "$ADMIN" "docker://$R_AUTH/app-b:1.0" || echo error)"

# --- containerd: pulls ------------------------------------------------------

it_containerd_start
CTR=(ctr --address "$IT_CTR_SOCK")
SN=$IT_SNAPSHOTTER
DEAD=$(it_free_port)

# hosts.toml for docker.io: barged is the only mirror; the upstream
# "server" is a dead loopback port so containerd never reaches beyond
# 127.0.0.1 and a pull that bypassed barged fails.
HOSTS=$IT_TMP/certs.d
mkdir -p "$HOSTS/docker.io" "$HOSTS/127.0.0.1:$PTLS"
cat >"$HOSTS/docker.io/hosts.toml" <<EOF
server = "https://127.0.0.1:$DEAD"

[host."https://127.0.0.1:$PTLS"]
  capabilities = ["pull", "resolve"]
  ca = "$CERTS/ca.crt"
EOF
cat >"$HOSTS/127.0.0.1:$PTLS/hosts.toml" <<EOF
server = "https://127.0.0.1:$PTLS"

[host."https://127.0.0.1:$PTLS"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$CERTS/ca.crt"
EOF

# has_content DIGEST...: containerd's content store holds every DIGEST.
has_content() {
	local d
	"${CTR[@]}" content ls -q >"$IT_TMP/content.ls" 2>/dev/null || return 1
	for d in "$@"; do
		grep -qx "$d" "$IT_TMP/content.ls" || { echo "not in containerd: $d"; return 1; }
	done
}

# image_digest REF: the digest ctr images ls records for REF.
image_digest() {
	"${CTR[@]}" images ls 2>/dev/null | awk -v r="$1" '$1 == r {print $3}'
}

# ctr_pull LABEL REF WANT-DIGEST CTR-ARGS...: pull REF and check the digest
# containerd records for it.
ctr_pull() {
	local label=$1 ref=$2 want=$3; shift 3
	if "${CTR[@]}" images pull --snapshotter "$SN" "$@" "$ref" >"$IT_TMP/ctr.out" 2>&1; then
		it_check_eq "$label: ctr images pull $ref records the source digest" "$want" \
			"$(image_digest "$ref")"
	else
		sed 's/^/  ctr: /' "$IT_TMP/ctr.out" | tail -5
		it_fail "$label: ctr images pull $ref"
	fi
}

# containerd asks a mirror for /v2/library/app-a/...?ns=docker.io: the ns
# parameter is what maps it onto edge/docker.io/library/app-a.
MT_ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
it_check_eq "mirror path with ?ns=docker.io answers 200" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CERTS/ca.crt" -H "$MT_ACCEPT" \
		"https://127.0.0.1:$PTLS/v2/library/app-a/manifests/1.0?ns=docker.io")"
it_check_eq "the same path without ?ns= answers 404" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CERTS/ca.crt" -H "$MT_ACCEPT" \
		"https://127.0.0.1:$PTLS/v2/library/app-a/manifests/1.0")"

# By tag through the docker.io mirror (?ns=docker.io), over HTTPS.
ctr_pull mirror docker.io/library/app-a:1.0 "$(it_top_digest "$UP" app-a)" --hosts-dir "$HOSTS"
it_check "mirror: app-a layers in containerd" has_content $(layers app-a)
ctr_pull mirror docker.io/library/docker2:1.0 "$(it_top_digest "$UP" docker2)" \
	--hosts-dir "$HOSTS"
it_check "mirror: docker2 (schema2) layers in containerd" has_content $(layers docker2)

# One platform of the index: arm64's layers come, amd64's own layer not.
ctr_pull "mirror arm64" docker.io/library/multi:1.0 "$(it_top_digest "$UP" multi)" \
	--hosts-dir "$HOSTS" --platform linux/arm64
it_check "mirror --platform linux/arm64: arm64 manifest and layers in containerd" \
	has_content "$(child arm64)" $(layers multi "$(child arm64)")
if has_content "$(layers multi "$(child amd64)" | tail -1)" >/dev/null; then
	it_fail "mirror --platform linux/arm64: the amd64-only layer was not fetched"
else
	it_pass "mirror --platform linux/arm64: the amd64-only layer was not fetched"
fi
"${CTR[@]}" images rm docker.io/library/multi:1.0 >/dev/null 2>&1 || true

# By digest, every platform.
ref=docker.io/library/multi@$(it_top_digest "$UP" multi)
ctr_pull "mirror all platforms" "$ref" "$(it_top_digest "$UP" multi)" \
	--hosts-dir "$HOSTS" --all-platforms
it_check "mirror --all-platforms by digest: both manifests and all layers in containerd" \
	has_content "$(child amd64)" "$(child arm64)" $(layers multi "$(child amd64)") \
	$(layers multi "$(child arm64)")

# Straight from barged's own name, HTTPS with its CA and plain HTTP.
ctr_pull direct "127.0.0.1:$PTLS/edge/docker.io/library/app-b:1.0" \
	"$(it_top_digest "$UP" app-b)" --hosts-dir "$HOSTS"
ctr_pull "direct plain-http" "127.0.0.1:$PPLAIN/edge/docker.io/library/app-b:1.0" \
	"$(it_top_digest "$UP" app-b)" --plain-http
ctr_pull "direct by digest" \
	"127.0.0.1:$PTLS/edge/docker.io/library/app-a@$(it_top_digest "$UP" app-a)" \
	"$(it_top_digest "$UP" app-a)" --hosts-dir "$HOSTS"
it_check "direct pulls: app-b layers in containerd" has_content $(layers app-b)

# Where anonymous pulls are off: refused without --user, pulled with it
# (hosts.toml cannot carry credentials, so straight at barged's name).
mkdir -p "$HOSTS/127.0.0.1:$PAUTH"
sed "s/$PTLS/$PAUTH/g" "$HOSTS/127.0.0.1:$PTLS/hosts.toml" >"$HOSTS/127.0.0.1:$PAUTH/hosts.toml"
if "${CTR[@]}" images pull --snapshotter "$SN" --hosts-dir "$HOSTS" \
	"127.0.0.1:$PAUTH/edge/docker.io/library/docker2:1.0" >"$IT_TMP/noauth.out" 2>&1; then
	it_fail "anonymous pull off: ctr pull without --user is refused"
else
	it_check "anonymous pull off: ctr pull without --user is refused (401)" \
		grep -qiE 'unauthorized|401' "$IT_TMP/noauth.out"
fi
ctr_pull "auth" "127.0.0.1:$PAUTH/edge/docker.io/library/docker2:1.0" \
	"$(it_top_digest "$UP" docker2)" --hosts-dir "$HOSTS" --user "$ADMIN"

# Without barged's CA the TLS pull must fail: the CA is what makes it work.
mkdir -p "$IT_TMP/noca.d/127.0.0.1:$PTLS"
printf '[host."https://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' "$PTLS" \
	>"$IT_TMP/noca.d/127.0.0.1:$PTLS/hosts.toml"
if "${CTR[@]}" images pull --snapshotter "$SN" --hosts-dir "$IT_TMP/noca.d" \
	"127.0.0.1:$PTLS/edge/docker.io/library/run:1.0" >"$IT_TMP/noca.out" 2>&1; then
	it_fail "pull over HTTPS without barged's CA is refused"
else
	it_check "pull over HTTPS without barged's CA is refused (certificate error)" \
		grep -qi 'certificate' "$IT_TMP/noca.out"
fi

# --- containerd: push -------------------------------------------------------

# ctr_push LABEL LOCAL-REF REMOTE-REF CTR-ARGS...: push LOCAL-REF (pulled
# above) under the name REMOTE-REF.
ctr_push() {
	local label=$1 src=$2 dst=$3; shift 3
	"${CTR[@]}" images tag --force "$src" "$dst" >/dev/null
	if "${CTR[@]}" images push "${CTR_CREDS[@]}" "$@" "$dst" >"$IT_TMP/ctr.out" 2>&1; then
		it_pass "$label: ctr images push $dst exits 0"
	else
		sed 's/^/  ctr: /' "$IT_TMP/ctr.out" | tail -5
		it_fail "$label: ctr images push $dst exits 0"
	fi
}
CTR_CREDS=(--user "$ADMIN")
ctr_push "push plain-http" docker.io/library/app-a:1.0 \
	"127.0.0.1:$PPLAIN/edge/ctr/app-a:1.0" --plain-http
it_check_eq "push plain-http: barged serves app-a with the source digest" \
	"$(it_top_digest "$UP" app-a)" \
	"$(raw_digest "${PLAIN[@]}" "docker://127.0.0.1:$PPLAIN/edge/ctr/app-a:1.0" || echo error)"
# The index pulled with --all-platforms: every manifest and layer goes up.
ctr_push "push TLS" "docker.io/library/multi@$(it_top_digest "$UP" multi)" \
	"127.0.0.1:$PTLS/edge/ctr/multi:1.0" --hosts-dir "$HOSTS"
it_check_eq "push TLS: barged serves the multi index with the source digest" \
	"$(it_top_digest "$UP" multi)" \
	"$(raw_digest "${TLS[@]}" "docker://127.0.0.1:$PTLS/edge/ctr/multi:1.0" || echo error)"
if skopeo copy -q --all --preserve-digests --src-cert-dir "$CERTS" \
	"docker://127.0.0.1:$PTLS/edge/ctr/multi:1.0" "oci:$IT_TMP/ctr-multi:1.0" 2>"$IT_TMP/copy.err"; then
	it_check "push TLS: every blob of the pushed index equals the source's" \
		same_blobs "$IT_TMP/ctr-multi/blobs/sha256" "$(blob_dir multi)"
else
	cat "$IT_TMP/copy.err"
	it_fail "push TLS: skopeo copy of the pushed index back from barged"
fi

# --- containerd: run --------------------------------------------------------

RUNREF=docker.io/library/run:1.0
ctr_pull run "$RUNREF" "$(it_top_digest "$UP" run)" --hosts-dir "$HOSTS"
if "${CTR[@]}" run --rm --snapshotter "$SN" "$RUNREF" barge-it-run \
	/bin/busybox echo hello from barged >"$IT_TMP/run.out" 2>&1; then
	it_check_eq "ctr run of the pulled image prints its output" "hello from barged" \
		"$(tr -d '\r' <"$IT_TMP/run.out")"
else
	# Namespaces or cgroups a sandbox may not grant: say why, do not hide.
	echo "SKIP: ctr run (runc could not start a container here): $(tail -3 "$IT_TMP/run.out")"
fi

# --- stop -------------------------------------------------------------------

for sv in "${SERVES[@]}"; do
	name=${sv%%:*} pid=${sv#*:} rc=0
	kill -TERM "$pid"
	it_wait_for 10 bash -c "! kill -0 $pid" || { rc=timeout; kill -KILL "$pid"; }
	wait "$pid" || rc=$?
	it_check_eq "$name: barged serve exits 0 on SIGTERM" 0 "$rc"
	if grep -qE 'Sanitizer|runtime error' "$IT_TMP/$name.log"; then
		cat "$IT_TMP/$name.log"
		it_fail "$name: sanitizer report in the log"
	fi
done

it_summary
