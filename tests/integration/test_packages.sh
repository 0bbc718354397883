#!/usr/bin/env bash
# The .deb packages (issue #13), installed the way an operator would:
#   - `cmake --build --target package` writes barge_<v>_<arch>.deb and
#     barged_<v>_<arch>.deb; lintian reports no error on either;
#   - `apt-get install ./barge_*.deb ./barged_*.deb` into a fresh Debian 12
#     root (debootstrap --variant=minbase, cached under the build directory
#     between runs) pulls their dependencies and installs barged's unit
#     enabled, its conffile and /var/lib/barge;
#   - in that root: the installed barge builds a bundle of an image from a
#     docker-registry on 127.0.0.1 (the chroot shares the network), barged
#     loads it, and barged serve answers /healthz and serves the image's
#     manifest with the upstream digest;
#   - `apt-get purge barged` removes the program and its configuration and
#     leaves the store.
# Without Debian's mirror (debootstrap fails) the root part is SKIPPED.
#
# Env: BARGE, BARGED (paths of the binaries; the build directory is found
# from BARGED).  Needs root (debootstrap, chroot).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
BUILD=$(cd "$(dirname "$BARGED")/.." && pwd)
MIRROR=${BARGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ -f "$BUILD/CMakeCache.txt" ] || it_die "no build directory above $BARGED"
for tool in cmake lintian dpkg-deb debootstrap chroot docker-registry skopeo jq curl; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
[ "$(id -u)" -eq 0 ] || it_die "needs root (debootstrap, chroot)"
it_tmpdir

# --- the packages ----------------------------------------------------------------

cmake --build "$BUILD" --target package >"$IT_TMP/package.log" 2>&1 ||
	it_die "package target failed: $(tail -20 "$IT_TMP/package.log")"
VERSION=$("$BARGED" --version | awk '{ print $2 }')
ARCH=$(dpkg --print-architecture)
DEBS=("$BUILD/barge_${VERSION}_$ARCH.deb" "$BUILD/barged_${VERSION}_$ARCH.deb")
for deb in "${DEBS[@]}"; do
	it_check "wrote $(basename "$deb")" test -s "$deb"
	if lintian --fail-on error "$deb" >"$IT_TMP/lintian.log" 2>&1; then
		it_pass "lintian $(basename "$deb"): no error"
	else
		it_fail "lintian $(basename "$deb"): $(grep '^E:' "$IT_TMP/lintian.log")"
	fi
done
it_check "barged's conffiles list /etc/barge/barged.yaml" \
	sh -c "dpkg-deb -I '${DEBS[1]}' conffiles | grep -qx /etc/barge/barged.yaml"
it_check "barged depends on libmicrohttpd (from dpkg-shlibdeps)" \
	sh -c "dpkg-deb -f '${DEBS[1]}' Depends | grep -q libmicrohttpd"

# --- a fresh Debian 12 root --------------------------------------------------------

# The debootstrapped root is kept in the build directory (it takes minutes
# and ~200 MB); each run installs into a copy of it.
CACHE=$BUILD/packaging/bookworm-root
if [ ! -d "$CACHE" ]; then
	it_log "debootstrap bookworm into $CACHE (once per build directory)"
	rm -rf "$CACHE.tmp"
	mkdir -p "$(dirname "$CACHE")"
	if debootstrap --variant=minbase bookworm "$CACHE.tmp" "$MIRROR" >"$IT_TMP/debootstrap.log" 2>&1; then
		mv "$CACHE.tmp" "$CACHE"
	else
		rm -rf "$CACHE.tmp"
		printf 'SKIP: debootstrap from %s failed (no mirror?): %s\n' "$MIRROR" \
			"$(tail -3 "$IT_TMP/debootstrap.log")"
		it_summary
		exit 0
	fi
fi
ROOT=$IT_TMP/root
cp -a "$CACHE" "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

cp "${DEBS[@]}" "$ROOT/tmp/"
if in_root apt-get update >"$IT_TMP/apt.log" 2>&1 &&
	in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		"/tmp/barge_${VERSION}_$ARCH.deb" "/tmp/barged_${VERSION}_$ARCH.deb" >>"$IT_TMP/apt.log" 2>&1; then
	it_pass "apt-get install ./barge_*.deb ./barged_*.deb"
else
	it_fail "apt-get install: $(tail -20 "$IT_TMP/apt.log")"
	it_summary
	exit 1
fi
it_check_eq "barged --version" "barged $VERSION" "$(in_root barged --version)"
it_check_eq "barge --version" "barge $VERSION" "$(in_root barge --version)"
it_check "the data directory /var/lib/barge exists" test -d "$ROOT/var/lib/barge"
it_check "the unit is installed" test -s "$ROOT/lib/systemd/system/barged.service"
it_check "the unit is enabled (multi-user.target.wants)" \
	test -L "$ROOT/etc/systemd/system/multi-user.target.wants/barged.service"
it_check "the unit starts /usr/bin/barged" \
	grep -qx 'ExecStart=/usr/bin/barged serve --config /etc/barge/barged.yaml' \
	"$ROOT/lib/systemd/system/barged.service"

# --- a real bundle, loaded and served -------------------------------------------------

it_make_sample_images "$IT_TMP/images"
it_registry_start
it_push "$IT_TMP/images" app-a
cat >"$ROOT/tmp/edge.yaml" <<EOP
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: edge, version: "1.0"}
spec:
  platforms: [linux/amd64]
  packs:
    - name: app
      images: [docker.io/library/app-a:1.0]
EOP
it_check "the installed barge builds a bundle" \
	in_root env SOURCE_DATE_EPOCH=0 barge build /tmp/edge.yaml --output-file /tmp/edge-1.0.tar.zst -q \
	--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir /tmp/cache
it_check "the installed barged loads it into /var/lib/barge" \
	in_root barged load /tmp/edge-1.0.tar.zst
it_check "barge.db is in /var/lib/barge" test -s "$ROOT/var/lib/barge/barge.db"

PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" chroot "$ROOT" barged serve --plain-http --no-import \
	--listen "127.0.0.1:$PORT"
SERVE_PID=$IT_LAST_PID
if it_wait_for 30 curl -fsS "http://127.0.0.1:$PORT/healthz"; then
	it_pass "barged serve answers /healthz on 127.0.0.1:$PORT"
else
	it_fail "barged serve: $(tail -20 "$IT_TMP/serve.log")"
fi
served=sha256:$(skopeo inspect --raw --tls-verify=false \
	"docker://127.0.0.1:$PORT/edge/docker.io/library/app-a:1.0" | sha256sum | cut -d' ' -f1)
it_check_eq "the loaded image is served with its upstream digest" \
	"$(it_top_digest "$IT_TMP/images" app-a)" "$served"
it_stop "$SERVE_PID"

# --- purge -------------------------------------------------------------------------

if in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y barged >"$IT_TMP/purge.log" 2>&1; then
	it_pass "apt-get purge barged"
else
	it_fail "apt-get purge barged: $(tail -20 "$IT_TMP/purge.log")"
fi
it_check "purge removed barged" test ! -e "$ROOT/usr/bin/barged"
it_check "purge removed /etc/barge/barged.yaml" test ! -e "$ROOT/etc/barge/barged.yaml"
it_check "purge removed the unit's enablement" \
	test ! -L "$ROOT/etc/systemd/system/multi-user.target.wants/barged.service"
it_check "purge left the store (barge.db)" test -s "$ROOT/var/lib/barge/barge.db"
it_check "purge left the store's blobs" \
	sh -c "find '$ROOT/var/lib/barge/blobs' -type f | grep -q ."

it_summary
