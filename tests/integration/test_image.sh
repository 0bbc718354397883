#!/usr/bin/env bash
# The barged OCI image (issue #13), built without Docker by the build
# target barged-image:
#   - build/barged-image.tar is an OCI archive skopeo reads, with the
#     version and source labels, a non-root numeric user and the entrypoint
#     `barged serve`; a second build gives the same bytes and digest;
#   - imported into a private containerd (`ctr images import`) it is named
#     localhost/barged:<version>, the image `barged manifests` deploys, and
#     `ctr run --net-host` with a loaded store and a barged.yaml mounted
#     starts barged, which answers /healthz on a loopback port and serves
#     the loaded image's manifest with its upstream digest.
#
# Env: BARGE, BARGED (paths of the binaries; the build directory is found
# from BARGED).  Needs root for containerd.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
BUILD=$(cd "$(dirname "$BARGED")/.." && pwd)
[ -f "$BUILD/CMakeCache.txt" ] || it_die "no build directory above $BARGED"
for tool in cmake skopeo containerd ctr runc docker-registry jq curl; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
it_tmpdir
IMAGE=$BUILD/barged-image.tar
VERSION=$("$BARGED" --version | awk '{ print $2 }')

# --- the archive -------------------------------------------------------------------

build_image() {
	cmake --build "$BUILD" --target barged-image >"$IT_TMP/image.log" 2>&1 ||
		it_die "barged-image failed: $(tail -20 "$IT_TMP/image.log")"
}
build_image
first=$(sha256sum "$IMAGE" | cut -d' ' -f1)
first_digest=$(skopeo inspect oci-archive:"$IMAGE" | jq -r .Digest)
build_image
it_check_eq "a second build writes the same bytes" "$first" "$(sha256sum "$IMAGE" | cut -d' ' -f1)"
it_check_eq "a second build gives the same digest" "$first_digest" \
	"$(skopeo inspect oci-archive:"$IMAGE" | jq -r .Digest)"

skopeo inspect oci-archive:"$IMAGE" >"$IT_TMP/inspect.json"
skopeo inspect --config oci-archive:"$IMAGE" >"$IT_TMP/config.json"
it_check_eq "label org.opencontainers.image.version" "$VERSION" \
	"$(jq -r '.Labels["org.opencontainers.image.version"]' "$IT_TMP/inspect.json")"
it_check_eq "label org.opencontainers.image.source" true \
	"$(jq '.Labels["org.opencontainers.image.source"] | startswith("http")' "$IT_TMP/inspect.json")"
it_check_eq "the user is barge (65532), not root" "65532:65532" "$(jq -r .config.User "$IT_TMP/config.json")"
it_check_eq "the entrypoint is barged serve" '["/usr/bin/barged","serve"]' \
	"$(jq -c .config.Entrypoint "$IT_TMP/config.json")"
it_check_eq "tagged barged:$VERSION" "barged:$VERSION" \
	"$(tar -xOf "$IMAGE" index.json | jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]')"

# The layer holds barged, the loader and exactly the libraries ldd names.
layer=$(jq -r '.Layers[0]' "$IT_TMP/inspect.json")
tar -xOf "$IMAGE" "blobs/sha256/${layer#sha256:}" | tar -tz | sed 's|^\./||' | sort >"$IT_TMP/files"
want=$(ldd "$BARGED" | awk '$2 == "=>" && $3 ~ /^\// { print substr($3, 2) }
	$1 ~ /^\// { print substr($1, 2) }' | sort -u)
got=$(grep '\.so' "$IT_TMP/files" || true)
it_check_eq "the layer holds exactly barged's shared libraries and loader" "$want" "$got"
it_check "the layer holds /usr/bin/barged and /etc/passwd" \
	sh -c "grep -qx usr/bin/barged '$IT_TMP/files' && grep -qx etc/passwd '$IT_TMP/files'"

# --- run under containerd ------------------------------------------------------------

it_make_sample_images "$IT_TMP/images"
it_registry_start
it_push "$IT_TMP/images" app-a
it_build_bundle "$IT_TMP/edge.tar.zst" edge 1.0.0 app-a
STORE=$IT_TMP/store
"$BARGED" load --data-dir "$STORE" "$IT_TMP/edge.tar.zst" >"$IT_TMP/load.log" 2>&1 ||
	it_die "barged load: $(cat "$IT_TMP/load.log")"
# The container runs as barge (65532): the store it serves is barge's.
chown -R 65532:65532 "$STORE"
PORT=$(it_free_port)
cat >"$IT_TMP/barged.yaml" <<EOC
data_dir: /var/lib/barge
listen: "127.0.0.1:$PORT"
plain_http: true
import:
  enabled: false
EOC
chmod 0644 "$IT_TMP/barged.yaml"

it_containerd_start
CTR=(ctr --address "$IT_CTR_SOCK")
it_check "ctr images import barged-image.tar" "${CTR[@]}" images import "$IMAGE"
it_check "imported as localhost/barged:$VERSION" \
	sh -c "${CTR[*]} images ls -q | grep -qx localhost/barged:$VERSION"

CID=barged-it-$$
stop_container() {
	"${CTR[@]}" task kill -s SIGTERM "$CID" >/dev/null 2>&1 || true
	it_wait_for 10 sh -c "! ${CTR[*]} task ls -q | grep -qx $CID" ||
		"${CTR[@]}" task kill -s SIGKILL "$CID" >/dev/null 2>&1 || true
	"${CTR[@]}" task rm -f "$CID" >/dev/null 2>&1 || true
	"${CTR[@]}" containers rm "$CID" >/dev/null 2>&1 || true
}
if "${CTR[@]}" run -d --net-host --snapshotter "$IT_SNAPSHOTTER" \
	--mount "type=bind,src=$STORE,dst=/var/lib/barge,options=rbind:rw" \
	--mount "type=bind,src=$IT_TMP/barged.yaml,dst=/etc/barge/barged.yaml,options=rbind:ro" \
	"localhost/barged:$VERSION" "$CID" >"$IT_TMP/run.log" 2>&1; then
	it_pass "ctr run --net-host localhost/barged:$VERSION"
else
	it_fail "ctr run: $(cat "$IT_TMP/run.log")"
fi
if it_wait_for 30 curl -fsS "http://127.0.0.1:$PORT/healthz"; then
	it_pass "barged in the container answers /healthz on 127.0.0.1:$PORT"
else
	it_fail "no /healthz from the container: $(tail -20 "$IT_CTR_SOCK/../log" 2>/dev/null)"
fi
served=sha256:$(skopeo inspect --raw --tls-verify=false \
	"docker://127.0.0.1:$PORT/edge/docker.io/library/app-a:1.0" | sha256sum | cut -d' ' -f1)
it_check_eq "it serves the mounted store's image with its upstream digest" \
	"$(it_top_digest "$IT_TMP/images" app-a)" "$served"
it_check "barged runs as uid 65532 in the container" \
	sh -c "${CTR[*]} task ps $CID | awk 'NR > 1 { print \$1 }' | head -1 |
		xargs -I{} stat -c %u /proc/{} | grep -qx 65532"
stop_container

it_summary
