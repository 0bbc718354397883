#!/usr/bin/env bash
# Signatures, SBOMs and other referrers through the air gap (issue #17):
#   - a docker-registry upstream holds an image, a cosign-style signature
#     under its "sha256-<hex>.sig" tag (signed here with openssl, P-256) and
#     an OCI 1.1 artifact whose subject is the image, with the fallback index
#     under "sha256-<hex>" (docker-registry has no referrers API);
#   - a multi-platform attestation (an index) under ".att" and a signature
#     of the SBOM under its own ".sig" tag (a referrer of a referrer);
#   - `barge build` carries them all and barge.json lists them with their subject,
#     probing the tags with HEAD (counted in docker-registry's access log);
#   - `barged load --tags refuse|keep` treats a moved ".sig" tag as any tag;
#   - after `barged load`, skopeo reads the signature by its tag and
#     /v2/.../referrers/<digest> lists the artifact with upstream's digests,
#     filtered by ?artifactType= with OCI-Filters-Applied;
#   - a build with barged as its upstream finds the artifact through the
#     referrers API;
#   - --verify-signatures passes with the right key, fails naming the image
#     with a wrong one and for an image without a signature;
#   - a profile with `referrers: false` builds a bundle without them.
#
# Env: BARGE, BARGED.  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl zstd tar openssl base64; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
IT_BIG_BYTES=4096 it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a multi; do it_push "$UP" "$n"; done
REPO=library/app-a
IMG=$(it_top_digest "$UP" app-a)
IMG_SIZE=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$IT_REGISTRY/v2/$REPO/manifests/1.0" | wc -c)
HEX=${IMG#sha256:}

# push_blob FILE: upload FILE to REPO (monolithic POST + PUT); prints its digest.
push_blob() {
	local dg loc
	dg=sha256:$(it_sha256 "$1")
	loc=$(curl -sf -X POST -D - -o /dev/null "http://$IT_REGISTRY/v2/$REPO/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in http*) ;; *) loc=http://$IT_REGISTRY$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$dg" ;; *) loc="$loc?digest=$dg" ;; esac
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$loc" \
		>/dev/null || it_die "blob upload of $1 failed"
	echo "$dg"
}
# push_manifest FILE REFERENCE MEDIATYPE: PUT a manifest; prints its digest.
push_manifest() {
	curl -sf -X PUT -H "Content-Type: $3" --data-binary "@$1" \
		"http://$IT_REGISTRY/v2/$REPO/manifests/$2" >/dev/null ||
		it_die "manifest PUT $2 refused"
	echo "sha256:$(it_sha256 "$1")"
}

# --- a cosign-style signature, made with openssl ------------------------------
S=$IT_TMP/sig
mkdir -p "$S"
openssl ecparam -genkey -name prime256v1 -noout -out "$S/key.pem" 2>/dev/null
openssl ec -in "$S/key.pem" -pubout -out "$S/pub.pem" 2>/dev/null
openssl ecparam -genkey -name prime256v1 -noout -out "$S/other.pem" 2>/dev/null
openssl ec -in "$S/other.pem" -pubout -out "$S/other.pub" 2>/dev/null
printf '{"critical":{"identity":{"docker-reference":"%s/%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
	"$IT_REGISTRY" "$REPO" "$IMG" >"$S/payload.json"
SIG=$(openssl dgst -sha256 -sign "$S/key.pem" "$S/payload.json" | base64 -w0)
PAYLOAD=$(push_blob "$S/payload.json")
printf '{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$PAYLOAD" >"$S/config.json"
SCFG=$(push_blob "$S/config.json")
jq -cj -n --arg c "$SCFG" --argjson cs "$(it_size "$S/config.json")" --arg p "$PAYLOAD" \
	--argjson ps "$(it_size "$S/payload.json")" --arg sig "$SIG" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
	  layers: [{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: $p,
	            size: $ps, annotations: {"dev.cosignproject.cosign/signature": $sig}}]}' \
	>"$S/manifest.json"
SIGM=$(push_manifest "$S/manifest.json" "sha256-$HEX.sig" application/vnd.oci.image.manifest.v1+json)

# --- an OCI 1.1 artifact (an SBOM) whose subject is the image ---------------
A=$IT_TMP/art
mkdir -p "$A"
printf '{}' >"$A/empty.json"
printf '{"spdxVersion":"SPDX-2.3","name":"app-a"}' >"$A/sbom.json"
EMPTY=$(push_blob "$A/empty.json")
SBOM=$(push_blob "$A/sbom.json")
jq -cj -n --arg e "$EMPTY" --arg s "$SBOM" --argjson ss "$(it_size "$A/sbom.json")" \
	--arg img "$IMG" --argjson is "$IMG_SIZE" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	  artifactType: "application/spdx+json",
	  config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
	  layers: [{mediaType: "application/spdx+json", digest: $s, size: $ss}],
	  subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $img,
	            size: $is},
	  annotations: {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}' \
	>"$A/manifest.json"
ARTM=$(push_manifest "$A/manifest.json" "sha256:$(it_sha256 "$A/manifest.json")" \
	application/vnd.oci.image.manifest.v1+json)
# The OCI 1.1 tag fallback, as clients push it to a registry without the API.
jq -cj -n --arg d "$ARTM" --argjson s "$(it_size "$A/manifest.json")" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
	  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d,
	               size: $s, artifactType: "application/spdx+json",
	               annotations: {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}]}' \
	>"$A/fallback.json"
FALLBACK=$(push_manifest "$A/fallback.json" "sha256-$HEX" application/vnd.oci.image.index.v1+json)
it_check_eq "upstream has no referrers API (the fallback tag is what finds the artifact)" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://$IT_REGISTRY/v2/$REPO/referrers/$IMG")"

# --- a multi-platform attestation (an index) under cosign's .att tag, and a
# signature on the SBOM (a referrer of a referrer) -----------------------------
T=$IT_TMP/att
mkdir -p "$T"
# att_manifest N: one platform's attestation manifest, pushed by digest.
att_manifest() {
	printf '{"_type":"https://in-toto.io/Statement/v0.1","n":%s}' "$1" >"$T/stmt$1.json"
	jq -cj -n --arg e "$EMPTY" --arg s "$(push_blob "$T/stmt$1.json")" \
		--argjson ss "$(it_size "$T/stmt$1.json")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
		  layers: [{mediaType: "application/vnd.in-toto+json", digest: $s, size: $ss}]}' \
		>"$T/m$1.json"
	push_manifest "$T/m$1.json" "sha256:$(it_sha256 "$T/m$1.json")" \
		application/vnd.oci.image.manifest.v1+json
}
ATT1=$(att_manifest 1)
ATT2=$(att_manifest 2)
jq -cj -n --arg a "$ATT1" --argjson sa "$(it_size "$T/m1.json")" --arg b "$ATT2" \
	--argjson bs "$(it_size "$T/m2.json")" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
	  artifactType: "application/vnd.in-toto+json",
	  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $a, size: $sa,
	               platform: {os: "linux", architecture: "amd64"}},
	              {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $b, size: $bs,
	               platform: {os: "linux", architecture: "arm64"}}]}' >"$T/index.json"
ATTI=$(push_manifest "$T/index.json" "sha256-$HEX.att" application/vnd.oci.image.index.v1+json)
printf '{"critical":{"image":{"docker-manifest-digest":"%s"}},"optional":null}' "$ARTM" \
	>"$T/sbom-payload.json"
jq -cj -n --arg e "$EMPTY" --arg p "$(push_blob "$T/sbom-payload.json")" \
	--argjson ps "$(it_size "$T/sbom-payload.json")" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	  config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
	  layers: [{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: $p,
	            size: $ps}]}' >"$T/sbom-sig.json"
SBOMSIG=$(push_manifest "$T/sbom-sig.json" "sha256-${ARTM#sha256:}.sig" \
	application/vnd.oci.image.manifest.v1+json)

# --- builds -------------------------------------------------------------------
# profile NAME EXTRA IMAGE...: a profile file for docker.io/library/IMAGE:1.0.
profile() {
	local name=$1 extra=$2 img; shift 2
	{
		printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\n'
		printf 'metadata: {name: %s, version: 1.0.0}\n' "$name"
		printf 'spec:\n  platforms: [linux/amd64]\n  project: edge\n%s' "$extra"
		printf '  packs:\n    - name: all\n      images:\n'
		for img in "$@"; do printf '        - docker.io/library/%s:1.0\n' "$img"; done
	} >"$IT_TMP/$name.yaml"
	echo "$IT_TMP/$name.yaml"
}
# build PROFILE OUT ARGS...: barge build; the exit code and stderr are kept.
build() {
	local p=$1 out=$2; shift 2
	set +e
	SOURCE_DATE_EPOCH=0 "$BARGE" build "$p" --output-file "$out" \
		--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
		"$@" >"$IT_TMP/build.out" 2>"$IT_TMP/build.err"
	BUILD_RC=$?
	set -e
}
meta() { zstd -dcq "$1" | tar -xO barge.json; }

# tag_probes METHOD FROM: requests of METHOD for a sha256-<hex>[.sig|.att|.sbom]
# tag in docker-registry's access log from line FROM on.
tag_probes() {
	tail -n "+$2" "$IT_TMP/registry/log" |
		grep -cE "\"$1 /v2/library/[a-z-]+/manifests/sha256-[0-9a-f]{64}(\.(sig|att|sbom))? " || true
}
B=$IT_TMP/refs.tar.zst
LOG_FROM=$(($(wc -l <"$IT_TMP/registry/log") + 1))
build "$(profile refs '' app-a multi)" "$B"
# app-a's manifest and multi's index and one platform manifest: 3 subjects,
# then app-a's referrers but the fallback index (signature, SBOM,
# attestation index): 3 more, 4 tags each (sha256-<hex>, .sig, .att, .sbom).
# A GET counts against Docker Hub's pull limits, a HEAD does not.
it_check_eq "the tag probes are HEAD requests, one per tag and subject" 24 \
	"$(tag_probes HEAD "$LOG_FROM")"
it_check_eq "no tag is probed or read with GET (the ones found are read by digest)" 0 \
	"$(tag_probes GET "$LOG_FROM")"
it_check_eq "barge build with referrers succeeds" "0" "$BUILD_RC"
[ "$BUILD_RC" = 0 ] || cat "$IT_TMP/build.err" >&2
it_check_eq "barge.json lists the signature, the artifact, the attestation index and the fallback index (subject the image), and the SBOM's signature (subject the SBOM)" \
	"$(printf '%s %s\n%s %s\n%s %s\n%s %s\n%s %s' "$ARTM" "$IMG" "$SIGM" "$IMG" "$FALLBACK" "$IMG" \
		"$ATTI" "$IMG" "$SBOMSIG" "$ARTM" | sort)" \
	"$(meta "$B" | jq -r '.referrers[] | "\(.digest) \(.subject)"' | sort)"
it_check_eq "the fallback index keeps its tag sha256-<hex>" "sha256-$HEX" \
	"$(meta "$B" | jq -r --arg d "$FALLBACK" '.referrers[] | select(.digest == $d) | .tags[0]')"
it_check_eq "the attestation index keeps its tag and its artifactType" \
	"sha256-$HEX.att application/vnd.in-toto+json" \
	"$(meta "$B" | jq -r --arg d "$ATTI" '.referrers[] | select(.digest == $d) |
		"\(.tags[0]) \(.artifactType)"')"
it_check_eq "both of the attestation index's manifests are in the bundle" 2 \
	"$(meta "$B" | jq --arg a "$ATT1" --arg b "$ATT2" \
		'[.blobs[].digest | select(. == $a or . == $b)] | length')"
it_check_eq "the signature's entry keeps its tag" "sha256-$HEX.sig" \
	"$(meta "$B" | jq -r --arg d "$SIGM" '.referrers[] | select(.digest == $d) | .tags[0]')"
it_check_eq "the artifact's entry keeps its artifactType" "application/spdx+json" \
	"$(meta "$B" | jq -r --arg d "$ARTM" '.referrers[] | select(.digest == $d) | .artifactType')"
it_check_eq "the referrers' blobs are in the bundle" 5 \
	"$(meta "$B" | jq --arg a "$SIGM" --arg b "$ARTM" --arg c "$PAYLOAD" --arg d "$SBOM" \
		--arg e "$EMPTY" '[.blobs[].digest | select(. == $a or . == $b or . == $c or
		. == $d or . == $e)] | length')"

# The lock pins them, and a build from the lock carries the same barge.json.
"$BARGE" resolve "$IT_TMP/refs.yaml" --output-file "$IT_TMP/refs.lock" \
	--registry-mirror "docker.io=http://$IT_REGISTRY" 2>"$IT_TMP/resolve.err" ||
	it_die "barge resolve failed: $(cat "$IT_TMP/resolve.err")"
it_check_eq "the lock pins app-a's referrers with their sizes" \
	"$(printf '%s %s\n%s %s\n%s %s\n%s %s\n%s %s' "$ARTM" "$(it_size "$A/manifest.json")" \
		"$SIGM" "$(it_size "$S/manifest.json")" "$FALLBACK" "$(it_size "$A/fallback.json")" \
		"$ATTI" "$(it_size "$T/index.json")" "$SBOMSIG" "$(it_size "$T/sbom-sig.json")" |
		sort)" \
	"$(jq -r '.images[] | select(.source == "docker.io/library/app-a:1.0") |
		.referrers[] | "\(.digest) \(.size)"' "$IT_TMP/refs.lock" | sort)"
SOURCE_DATE_EPOCH=0 "$BARGE" build --locked "$IT_TMP/refs.lock" --output-file "$IT_TMP/locked.tar.zst" \
	--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
	>/dev/null 2>&1 || it_die "barge build --locked failed"
it_check_eq "build --locked gives the same barge.json" "$(meta "$B" | sha256sum)" \
	"$(meta "$IT_TMP/locked.tar.zst" | sha256sum)"

# --- load and serve -------------------------------------------------------------
D=$IT_TMP/data
"$BARGED" load --data-dir "$D" "$B" >/dev/null 2>"$IT_TMP/load.err" ||
	it_die "barged load failed: $(cat "$IT_TMP/load.err")"
it_check "fsck clean after loading referrers" "$BARGED" fsck --data-dir "$D"
# The loader's tags policy covers the referrers' tags: upstream signs again
# (another signature under the same .sig tag), a bundle carries it, and
# --tags refuse / keep treat that tag as any other.
SIG2=$(openssl dgst -sha256 -sign "$S/key.pem" "$S/payload.json" | base64 -w0)
jq -cj --arg sig "$SIG2" '.layers[0].annotations["dev.cosignproject.cosign/signature"] = $sig' \
	"$S/manifest.json" >"$S/manifest2.json"
SIGM2=$(push_manifest "$S/manifest2.json" "sha256-$HEX.sig" application/vnd.oci.image.manifest.v1+json)
build "$(profile resigned '' app-a)" "$IT_TMP/resigned.tar.zst"
[ "$BUILD_RC" = 0 ] || it_die "build of the re-signed image failed: $(cat "$IT_TMP/build.err")"
push_manifest "$S/manifest.json" "sha256-$HEX.sig" application/vnd.oci.image.manifest.v1+json >/dev/null
set +e
"$BARGED" load --data-dir "$D" --tags refuse "$IT_TMP/resigned.tar.zst" >/dev/null 2>"$IT_TMP/refuse.err"
RC=$?
set -e
it_check_eq "--tags refuse refuses a bundle that moves a signature's tag (exit 1)" 1 "$RC"
it_check "the refusal names the .sig tag and both digests" grep -qF \
	"it would move tag edge/docker.io/library/app-a:sha256-$HEX.sig from $SIGM (set by a push or an earlier bundle's referrers) to $SIGM2" \
	"$IT_TMP/refuse.err"
"$BARGED" load --data-dir "$D" --tags keep "$IT_TMP/resigned.tar.zst" >/dev/null 2>"$IT_TMP/keep.err" ||
	it_die "barged load --tags keep failed: $(cat "$IT_TMP/keep.err")"
PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$D" --listen "127.0.0.1:$PORT" \
	--plain-http --project edge
SERVE_PID=$IT_LAST_PID
it_wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" ||
	it_die "barged serve does not answer: $(cat "$IT_TMP/serve.log")"
DREPO=127.0.0.1:$PORT/edge/docker.io/library/app-a
it_check_eq "skopeo reads the signature by its tag with upstream's digest (--tags keep kept it)" "$SIGM" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://$DREPO:sha256-$HEX.sig" |
		sha256sum | cut -d' ' -f1)"
it_check_eq "skopeo reads the fallback tag sha256-<hex> with upstream's digest" "$FALLBACK" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://$DREPO:sha256-$HEX" |
		sha256sum | cut -d' ' -f1)"
it_check_eq "skopeo reads the attestation index by its tag with upstream's digest" "$ATTI" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://$DREPO:sha256-$HEX.att" |
		sha256sum | cut -d' ' -f1)"
it_check_eq "and one of its platform manifests by digest" "$ATT2" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://$DREPO@$ATT2" |
		sha256sum | cut -d' ' -f1)"
it_check_eq "skopeo reads the SBOM's signature by its tag with upstream's digest" "$SBOMSIG" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://$DREPO:sha256-${ARTM#sha256:}.sig" |
		sha256sum | cut -d' ' -f1)"
U=http://127.0.0.1:$PORT/v2/edge/docker.io/library/app-a/referrers/$IMG
curl -sf "$U" -o "$IT_TMP/ref.json" || it_die "GET $U failed"
it_check_eq "barged lists the artifact as a referrer with upstream's digest and size" \
	"$ARTM $(it_size "$A/manifest.json") application/spdx+json" \
	"$(jq -r '.manifests[] | "\(.digest) \(.size) \(.artifactType)"' "$IT_TMP/ref.json")"
it_check_eq "the referrer's annotations are served" "2026-01-01T00:00:00Z" \
	"$(jq -r '.manifests[0].annotations["org.opencontainers.image.created"]' "$IT_TMP/ref.json")"
it_check_eq "?artifactType= keeps the SBOM" "$ARTM" \
	"$(curl -sf "$U?artifactType=application/spdx%2Bjson" | jq -r '.manifests[].digest')"
it_check "?artifactType= answers OCI-Filters-Applied" \
	grep -qi '^OCI-Filters-Applied: artifactType' \
	<(curl -sf -D - -o /dev/null "$U?artifactType=application/spdx%2Bjson")
it_check_eq "?artifactType= of another type lists none" 0 \
	"$(curl -sf "$U?artifactType=application/vnd.example" | jq '.manifests | length')"
# barged as an upstream: it has the referrers API, so a build from it finds
# the artifact through the API and does not read the fallback tag.
cat >"$IT_TMP/from-barged.yaml" <<EOF
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: again, version: 1.0.0}
spec:
  packs:
    - name: all
      images: [127.0.0.1:$PORT/edge/docker.io/library/app-a:1.0]
EOF
SOURCE_DATE_EPOCH=0 "$BARGE" build "$IT_TMP/from-barged.yaml" --output-file "$IT_TMP/again.tar.zst" \
	--cache-dir "$IT_TMP/cache" >/dev/null 2>"$IT_TMP/again.err" ||
	it_die "build from barged failed: $(cat "$IT_TMP/again.err")"
it_check_eq "a build from barged (referrers API) carries the same referrers, no fallback index" \
	"$(printf '%s %s\n%s %s\n%s %s\n%s %s' "$ARTM" "$IMG" "$SIGM" "$IMG" "$ATTI" "$IMG" \
		"$SBOMSIG" "$ARTM" | sort)" \
	"$(meta "$IT_TMP/again.tar.zst" | jq -r '.referrers[] | "\(.digest) \(.subject)"' | sort)"
it_stop "$SERVE_PID"

# --- --verify-signatures --------------------------------------------------------
build "$(profile signed '' app-a)" "$IT_TMP/signed.tar.zst" --verify-signatures "$S/pub.pem"
it_check_eq "--verify-signatures with the signer's key passes" 0 "$BUILD_RC"
build "$(profile signed '' app-a)" "$IT_TMP/wrong.tar.zst" --verify-signatures "$S/other.pub"
it_check_eq "--verify-signatures with another key fails (exit 1)" 1 "$BUILD_RC"
it_check "the failure names the image and why" grep -q \
	"docker.io/library/app-a:1.0 ($IMG): no valid signature: signature does not verify" \
	"$IT_TMP/build.err"
it_check "a failed verification leaves no bundle" test ! -e "$IT_TMP/wrong.tar.zst"
build "$(profile both '' app-a multi)" "$IT_TMP/both.tar.zst" --verify-signatures "$S/pub.pem"
it_check_eq "an image without a signature fails the verification" 1 "$BUILD_RC"
it_check "the failure names the unsigned image" grep -q \
	"docker.io/library/multi:1.0 (.*): no valid signature to check" "$IT_TMP/build.err"

# --- referrers off, and a filter ------------------------------------------------
build "$(profile off '  referrers: false
' app-a)" "$IT_TMP/off.tar.zst"
it_check_eq "referrers: false builds" 0 "$BUILD_RC"
it_check_eq "referrers: false: barge.json lists no referrers" null \
	"$(meta "$IT_TMP/off.tar.zst" | jq -c '.referrers')"
it_check_eq "referrers: false: neither manifest is carried" 0 \
	"$(meta "$IT_TMP/off.tar.zst" | jq --arg a "$SIGM" --arg b "$ARTM" \
		'[.blobs[].digest | select(. == $a or . == $b)] | length')"
# The lock was resolved with referrers: a profile that now says otherwise
# does not match it, and the build says why.
build "$(profile offall '  referrers: false
' app-a multi)" "$IT_TMP/offall.tar.zst" --locked "$IT_TMP/refs.lock"
it_check_eq "build --locked with a profile that turned referrers off fails (exit 1)" 1 \
	"$BUILD_RC"
it_check "the failure says the lock's referrer settings differ" grep -q \
	'the lock was resolved with referrers on, and the profile now says "referrers: false" (resolve again to update the lock)' \
	"$IT_TMP/build.err"
build "$(profile sbom '  referrer_types: [application/spdx+json]
' app-a)" "$IT_TMP/sbom.tar.zst"
it_check_eq "referrer_types keeps only the SBOM (and the fallback index, all of it kept)" \
	"$(printf '%s\n%s' "$ARTM" "$FALLBACK" | sort)" \
	"$(meta "$IT_TMP/sbom.tar.zst" | jq -r '.referrers[].digest' | sort)"
build "$(profile sigs '  referrer_types: [application/vnd.dev.cosign.simplesigning.v1+json]
' app-a)" "$IT_TMP/sigs.tar.zst"
it_check_eq "a filter that drops the SBOM drops the fallback index that lists it" "$SIGM" \
	"$(meta "$IT_TMP/sigs.tar.zst" | jq -r '.referrers[].digest')"

it_summary
