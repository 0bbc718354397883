#!/usr/bin/env bash
# Images from local files (issue #13): a profile names the barged image by
# the OCI archive scripts/barged-image writes, a skopeo-made oci-archive
# and an OCI layout directory (oci:DIR, and a tar of a layout holding an
# index); `barge resolve` pins their digests, `barge build` bundles them
# with every registry unreachable, `barged load` takes the bundle and
# `barged serve` gives skopeo the same manifest digests as the files.
# Refusals (missing file, not a layout, unknown name, a damaged blob) are
# checked for their message and leave no bundle behind.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).
# IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGE" "$BARGED" skopeo jq curl zstd tar sha256sum ldd gzip strip; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
BARGE=$(realpath "$BARGE")
BARGED=$(realpath "$BARGED")

it_tmpdir
T=$IT_TMP
IT_BIG_BYTES=4096 it_make_sample_images "$T/images"
UP=$T/images
export SOURCE_DATE_EPOCH=1700000000
# Every registry is a closed port: a network call for a local image fails the build.
NONET=(--registry-mirror "localhost=http://127.0.0.1:1" --registry-mirror
	"docker.io=http://127.0.0.1:1" --retries 1 --timeout 2)

# --- the files --------------------------------------------------------------

mkdir -p "$T/art" "$T/prof"
it_log "building the barged image with scripts/barged-image"
"$IT_REPO_ROOT/scripts/barged-image" "$BARGED" 0.1.0 https://example.invalid/barge \
	"$T/art/barged-image.tar" >/dev/null
skopeo copy -q "oci:$UP/app-b:1.0" "oci-archive:$T/art/app-b.tar:1.0"
# A layout holding an index, tarred as a user would, with ./ in front of every name.
tar -C "$UP/multi" -cf "$T/art/multi.tar" .
cp -r "$UP/app-a" "$T/art/app-a"

# archive_digest TAR NAME: the digest index.json of TAR gives the manifest named NAME.
archive_digest() {
	tar -xOf "$1" index.json 2>/dev/null || tar -xOf "$1" ./index.json
}
want_barged=$(archive_digest "$T/art/barged-image.tar" |
	jq -r '.manifests[] | select(.annotations["io.containerd.image.name"] == "localhost/barged:0.1.0") | .digest')
want_appb=$(archive_digest "$T/art/app-b.tar" | jq -r '.manifests[0].digest')
want_multi=$(it_top_digest "$UP" multi)
want_appa=$(it_top_digest "$UP" app-a)
[ -n "$want_barged" ] && [ -n "$want_appb" ] || it_die "archives without the expected entries"

cat >"$T/prof/up.yaml" <<'Y'
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata:
  name: upgrade
  version: 0.1.0
spec:
  platforms: [linux/amd64, linux/arm64/v8]
  packs:
    - name: barged
      images:
        - ref: localhost/barged:0.1.0
          from: oci-archive:../art/barged-image.tar
    - name: apps
      images:
        - ref: localhost/app-b:1.0
          from: oci-archive:../art/app-b.tar
        - {ref: localhost/multi:1.0, from: "oci-archive:../art/multi.tar"}
        - {ref: localhost/app-a:1.0, from: "oci:../art/app-a"}
Y

# --- resolve and build, with no network -------------------------------------

cd "$T"
it_log "barge resolve"
if "$BARGE" resolve prof/up.yaml --output-file lock.json "${NONET[@]}" 2>resolve.err; then
	it_pass "barge resolve of local images exits 0 with every registry unreachable"
else
	cat resolve.err
	it_fail "barge resolve of local images exits 0 with every registry unreachable"
fi
pin() { jq -r --arg s "$1" '.images[] | select(.source == $s) | .digest' lock.json; }
it_check_eq "lock pins the barged image to the archive's digest" "$want_barged" "$(pin localhost/barged:0.1.0)"
it_check_eq "lock pins the skopeo archive's digest" "$want_appb" "$(pin localhost/app-b:1.0)"
it_check_eq "lock pins the index in the tarred layout" "$want_multi" "$(pin localhost/multi:1.0)"
it_check_eq "lock pins the layout directory's digest" "$want_appa" "$(pin localhost/app-a:1.0)"
it_check_eq "lock records where each image comes from" \
	"oci-archive:prof/../art/barged-image.tar oci:prof/../art/app-a" \
	"$(jq -r '[.images[] | select(.source == "localhost/barged:0.1.0" or .source == "localhost/app-a:1.0") | .from] | join(" ")' lock.json)"

it_log "barge build --locked"
if "$BARGE" build --locked lock.json --output-file up.tar.zst --cache-dir "$T/cache" \
	"${NONET[@]}" 2>build.err; then
	it_pass "barge build of local images exits 0 with every registry unreachable"
else
	cat build.err
	it_fail "barge build of local images exits 0 with every registry unreachable"
fi
# The same bundle from the profile directly, in a cold cache: the same bytes.
"$BARGE" build prof/up.yaml --output-file up2.tar.zst --cache-dir "$T/cache2" "${NONET[@]}" 2>/dev/null ||
	it_fail "barge build of the profile exits 0"
same_bundle() { [ -s up.tar.zst ] && cmp -s up.tar.zst up2.tar.zst; }
it_check "building from the profile gives the same bundle" same_bundle

# --- load and pull back ------------------------------------------------------

it_check "barged load of the bundle exits 0" "$BARGED" load --data-dir "$T/data" up.tar.zst
P=$(it_free_port)
it_spawn "$T/serve.log" "$BARGED" serve --data-dir "$T/data" --listen "127.0.0.1:$P" --plain-http --project edge
# /v2/ answers 401 to an anonymous client: any answer means it serves.
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/v2/")" != 000 ]; }
it_wait_for 30 answers || { cat "$T/serve.log"; it_die "barged serve does not answer"; }
raw() { skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$P/edge/localhost/$1" | sha256sum | cut -c1-64; }
it_check_eq "barged serves the barged image with the archive's manifest digest" "$want_barged" "sha256:$(raw barged:0.1.0)"
it_check_eq "barged serves app-b with the skopeo archive's digest" "$want_appb" "sha256:$(raw app-b:1.0)"
it_check_eq "barged serves the index with the layout's digest" "$want_multi" "sha256:$(raw multi:1.0)"
it_check_eq "barged serves app-a with the layout directory's digest" "$want_appa" "sha256:$(raw app-a:1.0)"
if skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$P/edge/localhost/barged:0.1.0" \
	"oci:$T/pulled:0.1.0" 2>copy.err; then
	it_check_eq "skopeo copy of the barged image from barged: the same manifest digest" "$want_barged" \
		"$(jq -r '.manifests[0].digest' "$T/pulled/index.json")"
else
	cat copy.err
	it_fail "skopeo copy of the barged image from barged exits 0"
fi

# --- refusals ----------------------------------------------------------------

# refused WHAT MESSAGE PROFILE-LINE...: resolving a profile whose pack lists
# the given images fails with MESSAGE and writes no lock.
refused() {
	local what=$1 want=$2 rc=0
	shift 2
	{
		printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: bad, version: 0.1.0}\n'
		printf 'spec:\n  packs:\n    - name: bad\n      images:\n'
		printf '        %s\n' "$@"
	} >prof/bad.yaml
	rm -f bad.lock
	"$BARGE" resolve prof/bad.yaml --output-file bad.lock "${NONET[@]}" 2>bad.err || rc=$?
	if [ "$rc" -ne 0 ] && grep -qF -- "$want" bad.err && [ ! -e bad.lock ]; then
		it_pass "$what"
	else
		it_fail "$what (exit $rc, stderr: $(head -c 400 bad.err))"
	fi
}
refused "a missing archive is named" \
	"pack \"bad\" (prof/bad.yaml:8): prof/../art/nothere.tar: No such file" \
	"- {ref: localhost/x:1, from: 'oci-archive:../art/nothere.tar'}"
mkdir -p art/notlayout && echo hi >art/notlayout/readme
tar -C art/notlayout -cf art/notlayout.tar .
refused "a tar that is no OCI layout is named" \
	"prof/../art/notlayout.tar: not an OCI image layout (no oci-layout)" \
	"- {ref: localhost/x:1, from: 'oci-archive:../art/notlayout.tar'}"
refused "a directory that is no OCI layout is named" \
	"prof/../art/notlayout: not an OCI image layout (no oci-layout)" \
	"- {ref: localhost/x:1, from: 'oci:../art/notlayout'}"
refused "a name the archive does not hold is named, with the names it holds" \
	"prof/../art/barged-image.tar: index.json names no image localhost/barged:9.9 (it names: barged:0.1.0)" \
	"- {ref: localhost/barged:9.9, from: 'oci-archive:../art/barged-image.tar'}"
refused "a source that is no local layout is refused where it is written" \
	"prof/bad.yaml:8:38: pack \"bad\": images[0].from: \"docker://x\" is not oci-archive:FILE or oci:DIRECTORY" \
	"- {ref: localhost/x:1, from: 'docker://x'}"

# A layer damaged after the lock was written: the build names the file and the blob.
layer=$(jq -r '.layers[-1].digest' "art/app-a/blobs/sha256/$(pin localhost/app-a:1.0 | cut -c8-)")
it_flip_byte "art/app-a/blobs/sha256/${layer#sha256:}" 10
rc=0
"$BARGE" build --locked lock.json --output-file bad.tar.zst --cache-dir "$T/cache3" "${NONET[@]}" 2>bad.err || rc=$?
if [ "$rc" -ne 0 ] && grep -qF "localhost/app-a:1.0: prof/../art/app-a: blobs/sha256/${layer#sha256:}" bad.err &&
	grep -qi "digest" bad.err && [ ! -e bad.tar.zst ]; then
	it_pass "a damaged blob fails the build naming the layout and the blob, leaving no bundle"
else
	it_fail "a damaged blob fails the build naming the layout and the blob (exit $rc, stderr: $(head -c 400 bad.err))"
fi

it_summary
