# shellcheck shell=bash
# Shared by scripts/check and scripts/demo (sourced, not run): installing
# what is missing on Debian 12 and configuring/building a build directory.

BARGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build dependencies, then the test-only tools (upstream registry, client,
# containerd, JSON and compression tools the integration tests use), then
# the packaging tools: scdoc (man pages) and dpkg-shlibdeps (.deb) at build
# time; man, systemd-analyze, lintian and debootstrap to test them.
BARGE_PACKAGES=(
	build-essential cmake pkg-config clang
	libarchive-dev libzstd-dev libcurl4-openssl-dev libssl-dev libjansson-dev
	libsqlite3-dev libmicrohttpd-dev libyaml-dev libisofs-dev libcmocka-dev
	docker-registry skopeo containerd runc jq zstd curl openssl ca-certificates
	xorriso genisoimage apache2-utils python3 util-linux busybox-static podman
	clang-14 libclang-rt-14-dev
	scdoc dpkg-dev man-db systemd lintian debootstrap python3-yaml
	# test_kustomize.sh: the Kubernetes OpenAPI schema (test data) and its validator.
	golang-k8s-kube-openapi-dev python3-jsonschema
	# tests/ui: the browser playwright-core drives, node to run it, and
	# certutil to trust barged's CA in the browser's own NSS database.
	chromium nodejs libnss3-tools
)
# npm for tests/ui: Debian's, unless a Node.js that bundles its own is installed.
command -v npm >/dev/null || BARGE_PACKAGES+=(npm)
# kubectl kustomize (tests/integration/test_kustomize.sh): Debian's kubectl,
# unless one is installed already, whose /usr/bin/kubectl it would conflict with.
command -v kubectl >/dev/null || BARGE_PACKAGES+=(kubernetes-client)

# Run a command as root: directly when we are root, else through sudo.
barge_as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the packages that are not installed yet; nothing to do (and no
# apt-get at all) when everything is there.
barge_install_missing() {
	local p missing=()
	for p in "${BARGE_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		echo "== all ${#BARGE_PACKAGES[@]} Debian packages present"
		return 0
	fi
	echo "== installing missing Debian packages: ${missing[*]}"
	barge_as_root apt-get update
	barge_as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}

# The browser tests' npm packages (tests/ui/package-lock.json: playwright-core
# only, which downloads no browser), when missing or older than the lock.
barge_install_ui_tests() {
	local dir=$BARGE_ROOT/tests/ui
	if [ -d "$dir/node_modules/playwright-core" ] &&
		[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
		return 0
	fi
	echo "== npm ci in tests/ui"
	(cd "$dir" && npm ci --no-audit --no-fund)
}

# barge_build DIR [CMAKE-ARGS...] [-- TARGET...]: configure DIR (relative
# to BARGE_ROOT, integration tests on) and build TARGETs, by default all,
# with one job per core.
barge_build() {
	local dir=$BARGE_ROOT/$1 args=() targets=()
	shift
	while [ "$#" -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	[ "$#" -eq 0 ] || { shift; targets=(--target "$@"); }
	echo "== building $dir"
	cmake -S "$BARGE_ROOT" -B "$dir" -DBARGE_INTEGRATION=ON "${args[@]}" >/dev/null
	cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
}
