# shellcheck shell=bash disable=SC2034
# Barge integration test library.  Source it from a test script that runs
# under `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#   it_tmpdir                       # IT_TMP: one temp dir, removed at exit
#   it_registry_start               # IT_REGISTRY=127.0.0.1:PORT (docker-registry)
#   it_make_sample_images "$IT_TMP/images"
#   it_push_samples "$IT_TMP/images"
#
# Everything runs on 127.0.0.1 and needs no network.  Every process started
# through it_spawn is recorded by PID and killed (then waited for) at exit,
# whether the test passed, failed or was interrupted.  The generated images
# are deterministic: the same bytes, hence the same digests, on every run.

IT_PIDS=()
IT_TMP=""
IT_FAILS=0
IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_REPO_ROOT=$(cd "$IT_LIB_DIR/../.." && pwd)

it_log() { printf '== %s\n' "$*" >&2; }
it_die() { printf 'FATAL: %s\n' "$*" >&2; exit 1; }

# --- checks -----------------------------------------------------------------

# it_pass/it_fail print one line per check; the test ends with it_summary,
# which makes the exit status non-zero when any check failed.
it_pass() { printf 'PASS: %s\n' "$*"; }
it_fail() { printf 'FAIL: %s\n' "$*"; IT_FAILS=$((IT_FAILS + 1)); }
it_check() { # it_check DESCRIPTION COMMAND... : PASS if COMMAND succeeds
	local what=$1; shift
	if "$@"; then it_pass "$what"; else it_fail "$what"; fi
}
it_check_eq() { # it_check_eq DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		it_pass "$1"
	else
		it_fail "$1 (expected '$2', got '$3')"
	fi
}
# it_check_refused DESCRIPTION MESSAGE COMMAND... : COMMAND is a usage error
# (exit 2) whose stderr has MESSAGE (fixed string) and whose stdout is empty.
it_check_refused() {
	local what=$1 want=$2 rc=0 out err
	shift 2
	out=$(mktemp) err=$(mktemp)
	"$@" >"$out" 2>"$err" || rc=$?
	if [ "$rc" = 2 ] && grep -qF -- "$want" "$err" && [ ! -s "$out" ]; then
		it_pass "$what"
	else
		it_fail "$what (exit $rc, stderr: $(head -c 300 "$err"))"
	fi
	rm -f "$out" "$err"
}
# it_yaml2json: YAML on stdin as compact JSON on stdout, for comparing with jq -c.
it_yaml2json() {
	python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' | jq -c .
}
it_summary() {
	if [ "$IT_FAILS" -ne 0 ]; then
		printf '%d check(s) FAILED\n' "$IT_FAILS"
		return 1
	fi
	printf 'all checks passed\n'
}

# --- processes and cleanup --------------------------------------------------

# it_spawn LOGFILE COMMAND...: start COMMAND in the background with its
# output in LOGFILE and record its PID; IT_LAST_PID is that PID.
it_spawn() {
	local log=$1; shift
	"$@" >"$log" 2>&1 &
	IT_LAST_PID=$!
	IT_PIDS+=("$IT_LAST_PID")
}

# it_stop PID: SIGTERM, then SIGKILL after 10 s; always reaps the process.
it_stop() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

it_cleanup() {
	local pid rc=$?
	trap - EXIT INT TERM
	for pid in "${IT_PIDS[@]}"; do
		it_stop "$pid"
	done
	IT_PIDS=()
	if [ -n "$IT_TMP" ] && [ -d "$IT_TMP" ] && [ -z "${IT_KEEP_TMP:-}" ]; then
		rm -rf "$IT_TMP"
	fi
	return "$rc"
}
# INT and TERM exit, which runs the EXIT trap exactly once.
trap it_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

it_tmpdir() {
	IT_TMP=$(mktemp -d /tmp/barge-it.XXXXXX)
}

# it_wait_for SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds.
it_wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# it_serve LOG COMMAND...: starts COMMAND (a `barged serve` listening on
# 127.0.0.1:0) with its output in LOG and waits up to 30 s for the port it
# logs ("serving http[s] on 127.0.0.1:PORT"); IT_LAST_PID and IT_PORT are
# its PID and port.  Dies printing LOG when it exits or does not start.
it_serve() {
	local log=$1 deadline=$((SECONDS + 30)); shift
	it_spawn "$log" "$@"
	until IT_PORT=$(sed -n 's/.*serving https\{0,1\} on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" 2>/dev/null) &&
		[ -n "$IT_PORT" ]; do
		if ! kill -0 "$IT_LAST_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			cat "$log"
			it_die "barged serve did not start"
		fi
		sleep 0.1
	done
}

# it_barged_serve LOG DATA [ARGS...]: it_serve of "$BARGED serve" on a
# kernel-picked port with data dir DATA, no access log, and ARGS.
it_barged_serve() {
	local log=$1 data=$2; shift 2
	it_serve "$log" "$BARGED" serve --listen 127.0.0.1:0 --data-dir "$data" --access-log off "$@"
}

# it_port_busy PORT: something accepts TCP connections on 127.0.0.1:PORT.
it_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# it_free_port: a TCP port nobody listens on at 127.0.0.1 right now.
it_free_port() {
	local port i low=32768 high
	# Below the kernel's ephemeral range: a port from inside it can be taken
	# by any outgoing connection (curl, skopeo, containerd) between this probe
	# and the server's bind.
	read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$low" -gt 11000 ] || low=32768
	for i in $(seq 1 100); do
		port=$((10000 + RANDOM % (low - 10000)))
		if ! it_port_busy "$port"; then
			echo "$port"
			return 0
		fi
	done
	it_die "no free port found"
}

# --- upstream registry (Debian's docker-registry) ---------------------------

it_registry_start() {
	local port dir try i
	dir=$IT_TMP/registry
	mkdir -p "$dir/data"
	# A port probed free can be taken before docker-registry binds it (by a
	# test's other servers, or any program): then try another one.
	for try in 1 2 3 4 5; do
		port=$(it_free_port)
		cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		it_spawn "$dir/log" docker-registry serve "$dir/config.yml"
		IT_REGISTRY=127.0.0.1:$port
		export IT_REGISTRY
		for i in $(seq 1 300); do
			curl -sf "http://$IT_REGISTRY/v2/" >/dev/null 2>&1 && return 0
			kill -0 "$IT_LAST_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q "address already in use" "$dir/log" || break
		it_stop "$IT_LAST_PID"
		it_log "port $port was taken; trying another (try $try)"
	done
	it_die "docker-registry did not start: $(cat "$dir/log")"
}

# --- deterministic image generation -----------------------------------------

it_sha256() { sha256sum "$1" | cut -d' ' -f1; }
it_size() { stat -c %s "$1"; }

# it_blob_add STORE FILE: move FILE into STORE/<hex> and print sha256:<hex>.
it_blob_add() {
	local hex
	hex=$(it_sha256 "$2")
	mkdir -p "$1"
	mv -f "$2" "$1/$hex"
	echo "sha256:$hex"
}

# it_layer BLOBDIR SRCDIR [gzip|tar]: make a reproducible layer from the
# contents of SRCDIR.  Prints "MEDIATYPE DIGEST SIZE DIFFID".
it_layer() {
	local blobs=$1 src=$2 kind=${3:-gzip} tmp diffid mt digest
	tmp=$(mktemp "$IT_TMP/layer.XXXXXX")
	tar -C "$src" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		--format=posix \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		-cf "$tmp" .
	diffid=sha256:$(it_sha256 "$tmp")
	if [ "$kind" = gzip ]; then
		gzip -n -9 "$tmp"
		tmp=$tmp.gz
		mt=application/vnd.oci.image.layer.v1.tar+gzip
	else
		mt=application/vnd.oci.image.layer.v1.tar
	fi
	local size
	size=$(it_size "$tmp")
	digest=$(it_blob_add "$blobs" "$tmp")
	echo "$mt $digest $size $diffid"
}

# it_image_blobs BLOBDIR PLATFORM CONFIGMT MANIFESTMT LAYER...: write the
# config and manifest for LAYERs (it_layer lines, with their media types
# rewritten for a Docker manifest) and print the manifest's descriptor as
# compact JSON (with a platform field, for use in an index).
it_image_blobs() {
	local blobs=$1 platform=$2 cmt=$3 mmt=$4; shift 4
	local os arch variant diffids='[]' layers='[]' l mt dg sz di
	IFS=/ read -r os arch variant <<<"$platform"
	for l in "$@"; do
		read -r mt dg sz di <<<"$l"
		if [ "$mmt" = application/vnd.docker.distribution.manifest.v2+json ]; then
			mt=application/vnd.docker.image.rootfs.diff.tar.gzip
		fi
		diffids=$(jq -c --arg d "$di" '. + [$d]' <<<"$diffids")
		layers=$(jq -c --arg m "$mt" --arg d "$dg" --argjson s "$sz" \
			'. + [{mediaType: $m, digest: $d, size: $s}]' <<<"$layers")
	done
	local tmp cdigest csize mdigest msize
	tmp=$(mktemp "$IT_TMP/config.XXXXXX")
	jq -cj -n --arg os "$os" --arg arch "$arch" --arg v "$variant" --argjson d "$diffids" \
		'{architecture: $arch, os: $os} + (if $v == "" then {} else {variant: $v} end) +
		 {created: "1970-01-01T00:00:00Z", config: {Cmd: ["/bin/sh"]},
		  rootfs: {type: "layers", diff_ids: $d}}' >"$tmp"
	csize=$(it_size "$tmp")
	cdigest=$(it_blob_add "$blobs" "$tmp")
	tmp=$(mktemp "$IT_TMP/manifest.XXXXXX")
	jq -cj -n --arg mmt "$mmt" --arg cmt "$cmt" --arg cd "$cdigest" --argjson cs "$csize" \
		--argjson l "$layers" \
		'{schemaVersion: 2, mediaType: $mmt,
		  config: {mediaType: $cmt, digest: $cd, size: $cs}, layers: $l}' >"$tmp"
	msize=$(it_size "$tmp")
	mdigest=$(it_blob_add "$blobs" "$tmp")
	jq -cn --arg m "$mmt" --arg d "$mdigest" --argjson s "$msize" \
		--arg os "$os" --arg arch "$arch" --arg v "$variant" \
		'{mediaType: $m, digest: $d, size: $s,
		  platform: ({architecture: $arch, os: $os} +
			     (if $v == "" then {} else {variant: $v} end))}'
}

# it_layout_init LAYOUT: an empty OCI image layout.
it_layout_init() {
	mkdir -p "$1/blobs/sha256"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
	printf '{"schemaVersion":2,"manifests":[]}' >"$1/index.json"
}

# it_layout_tag LAYOUT TAG DESCRIPTOR: add DESCRIPTOR to LAYOUT/index.json
# under the name TAG (the platform field is dropped: it names one image).
it_layout_tag() {
	local tmp
	tmp=$(mktemp "$IT_TMP/index.XXXXXX")
	jq -c --arg t "$2" --argjson d "$3" \
		'.manifests += [($d | del(.platform)) +
		  {annotations: {"org.opencontainers.image.ref.name": $t}}]' \
		"$1/index.json" >"$tmp"
	mv "$tmp" "$1/index.json"
}

# it_make_image LAYOUT TAG PLATFORM LAYER...: an OCI image; prints its
# manifest descriptor.  With TAG empty the image is not tagged (index child).
it_make_image() {
	local layout=$1 tag=$2 platform=$3 desc; shift 3
	[ -f "$layout/oci-layout" ] || it_layout_init "$layout"
	desc=$(it_image_blobs "$layout/blobs/sha256" "$platform" \
		application/vnd.oci.image.config.v1+json \
		application/vnd.oci.image.manifest.v1+json "$@")
	[ -z "$tag" ] || it_layout_tag "$layout" "$tag" "$desc"
	echo "$desc"
}

# it_make_index LAYOUT TAG DESCRIPTOR...: an OCI image index over
# DESCRIPTORs (from it_make_image), tagged TAG in LAYOUT.
it_make_index() {
	local layout=$1 tag=$2 tmp d ds='[]' digest size; shift 2
	for d in "$@"; do ds=$(jq -c --argjson d "$d" '. + [$d]' <<<"$ds"); done
	tmp=$(mktemp "$IT_TMP/index.XXXXXX")
	jq -cj -n --argjson m "$ds" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		  manifests: $m}' >"$tmp"
	size=$(it_size "$tmp")
	digest=$(it_blob_add "$layout/blobs/sha256" "$tmp")
	it_layout_tag "$layout" "$tag" "$(jq -cn --arg d "$digest" --argjson s "$size" \
		'{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s}')"
}

# it_make_docker2 DIR PLATFORM LAYER...: a Docker schema2 image in skopeo's
# `dir:` layout (DIR/manifest.json, DIR/<hex> blobs), whose layers must be
# gzip tars made by it_layer with DIR as BLOBDIR.
it_make_docker2() {
	local dir=$1 platform=$2 desc; shift 2
	desc=$(it_image_blobs "$dir" "$platform" \
		application/vnd.docker.container.image.v1+json \
		application/vnd.docker.distribution.manifest.v2+json "$@")
	# skopeo's dir: layout keeps the manifest only as manifest.json.
	mv "$dir/$(jq -r '.digest | ltrimstr("sha256:")' <<<"$desc")" "$dir/manifest.json"
	printf 'Directory Transport Version: 1.1\n' >"$dir/version"
}

# it_files DIR NAME=CONTENT...: create small files for a layer.
it_files() {
	local dir=$1 kv; shift
	for kv in "$@"; do
		mkdir -p "$dir/$(dirname "${kv%%=*}")"
		printf '%s\n' "${kv#*=}" >"$dir/${kv%%=*}"
	done
}

# it_flip_byte FILE OFFSET: invert the bits of one byte of FILE in place.
it_flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the octal escape
	printf "\\$(printf '%03o' $(((b ^ 0xff) & 0xff)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# it_random_file FILE BYTES SEED: deterministic pseudo-random content
# (AES-128-CTR keystream over zeros, key derived from SEED).
it_random_file() {
	local key
	key=$(printf '%s' "$3" | md5sum | cut -c1-32)
	head -c "$2" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 \
			>"$1"
}

# it_make_sample_images DIR: the sample set used by the tests and the demo:
#   DIR/app-a, DIR/app-b  OCI layouts, tag 1.0, sharing their base layer
#   DIR/multi             OCI index (linux/amd64, linux/arm64/v8), tag 1.0
#   DIR/big               one uncompressed 64 MiB layer, tag 1.0
#   DIR/docker2           Docker schema2 image in skopeo dir: layout
# IT_BIG_BYTES overrides the big layer's size (the demo keeps it small).
it_make_sample_images() {
	local out=$1 src=$IT_TMP/src base l1 l2 amd arm
	rm -rf "$out" "$src"
	mkdir -p "$out" "$src"
	it_files "$src/base" "etc/os-release=ID=barge-sample" "etc/hostname=sample"
	it_files "$src/app-a" "app/a.txt=application A" "app/version=1.0"
	it_files "$src/app-b" "app/b.txt=application B" "app/version=1.0"
	it_files "$src/amd64" "app/arch=amd64"
	it_files "$src/arm64" "app/arch=arm64"
	it_files "$src/docker2" "app/docker2.txt=schema2 image"
	mkdir -p "$src/big/data"
	it_random_file "$src/big/data/big.bin" "${IT_BIG_BYTES:-67108864}" barge-big

	it_layout_init "$out/app-a"
	base=$(it_layer "$out/app-a/blobs/sha256" "$src/base")
	l1=$(it_layer "$out/app-a/blobs/sha256" "$src/app-a")
	it_make_image "$out/app-a" 1.0 linux/amd64 "$base" "$l1" >/dev/null

	it_layout_init "$out/app-b"
	base=$(it_layer "$out/app-b/blobs/sha256" "$src/base")
	l1=$(it_layer "$out/app-b/blobs/sha256" "$src/app-b")
	it_make_image "$out/app-b" 1.0 linux/amd64 "$base" "$l1" >/dev/null

	it_layout_init "$out/multi"
	base=$(it_layer "$out/multi/blobs/sha256" "$src/base")
	l1=$(it_layer "$out/multi/blobs/sha256" "$src/amd64")
	l2=$(it_layer "$out/multi/blobs/sha256" "$src/arm64")
	amd=$(it_make_image "$out/multi" "" linux/amd64 "$base" "$l1")
	arm=$(it_make_image "$out/multi" "" linux/arm64/v8 "$base" "$l2")
	it_make_index "$out/multi" 1.0 "$amd" "$arm"

	it_layout_init "$out/big"
	l1=$(it_layer "$out/big/blobs/sha256" "$src/big" tar)
	it_make_image "$out/big" 1.0 linux/amd64 "$l1" >/dev/null

	mkdir -p "$out/docker2"
	base=$(it_layer "$out/docker2" "$src/base")
	l1=$(it_layer "$out/docker2" "$src/docker2")
	it_make_docker2 "$out/docker2" linux/amd64 "$base" "$l1"
	rm -rf "$src"
}

# it_top_digest DIR NAME: the digest upstream serves for NAME:1.0.
it_top_digest() {
	if [ -f "$1/$2/manifest.json" ]; then
		echo "sha256:$(it_sha256 "$1/$2/manifest.json")"
	else
		jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "1.0")
			| .digest' "$1/$2/index.json"
	fi
}

# --- pushing ----------------------------------------------------------------

# it_push DIR NAME: push sample NAME:1.0 to IT_REGISTRY/library/NAME:1.0
# keeping every digest, and check the registry serves the same manifest.
it_push() {
	local dir=$1 name=$2 src served want
	if [ -f "$dir/$name/manifest.json" ]; then
		src=dir:$dir/$name
	else
		src=oci:$dir/$name:1.0
	fi
	skopeo copy -q --all --preserve-digests --dest-tls-verify=false \
		"$src" "docker://$IT_REGISTRY/library/$name:1.0" >&2
	want=$(it_top_digest "$dir" "$name")
	served=sha256:$(skopeo inspect --raw --tls-verify=false \
		"docker://$IT_REGISTRY/library/$name:1.0" | sha256sum | cut -d' ' -f1)
	[ "$served" = "$want" ] ||
		it_die "registry serves $name:1.0 as $served, layout has $want"
}

it_push_samples() {
	local n
	for n in app-a app-b multi big docker2; do
		it_push "$1" "$n"
	done
}

# --- containerd -------------------------------------------------------------

# it_containerd_start: a private containerd (root, state and socket under
# IT_TMP/containerd); sets IT_CTR_SOCK and IT_SNAPSHOTTER.
it_containerd_start() {
	local dir=$IT_TMP/containerd probe
	mkdir -p "$dir"
	# overlayfs needs kernel support and a non-overlay upper dir; fall back
	# to the copying "native" snapshotter where a probe mount fails.
	IT_SNAPSHOTTER=native
	probe=$dir/probe
	mkdir -p "$probe/l" "$probe/u" "$probe/w" "$probe/m"
	if mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" \
		"$probe/m" 2>/dev/null; then
		umount "$probe/m"
		IT_SNAPSHOTTER=overlayfs
	fi
	rm -rf "$probe"
	cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$dir/c.sock"
[ttrpc]
  address = "$dir/c.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
	IT_CTR_SOCK=$dir/c.sock
	it_spawn "$dir/log" containerd --config "$dir/config.toml"
	it_wait_for 30 ctr --address "$IT_CTR_SOCK" version ||
		it_die "containerd did not start: $(tail -20 "$dir/log")"
}

# --- bundles (added for the loader tests) -------------------------------------

# it_build_bundle OUT NAME VERSION IMAGE...: `$BARGE build` a bundle of the
# pushed samples docker.io/library/IMAGE:1.0 (from IT_REGISTRY) into OUT.
it_build_bundle() {
	local out=$1 name=$2 version=$3 img; shift 3
	{
		printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\n'
		printf 'metadata: {name: %s, version: %s}\n' "$name" "$version"
		printf 'spec:\n  platforms: [linux/amd64, linux/arm64]\n  project: edge\n'
		printf '  packs:\n    - name: all\n      images:\n'
		for img in "$@"; do printf '        - docker.io/library/%s:1.0\n' "$img"; done
	} >"$IT_TMP/$name-$version.yaml"
	SOURCE_DATE_EPOCH=0 "$BARGE" build "$IT_TMP/$name-$version.yaml" --output-file "$out" \
		--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
		2>"$IT_TMP/build-$name.err" ||
		it_die "barge build $name failed: $(cat "$IT_TMP/build-$name.err")"
}

# --- more registries (added for the bundler auth and fault tests) -------------

# it_registry_start_conf NAME [EXTRA_YAML]: another docker-registry with its
# state under IT_TMP/NAME (data/, config.yml, log) and EXTRA_YAML (e.g. an
# auth: section) appended to its config.  Sets IT_REG_ADDR (127.0.0.1:PORT),
# IT_REG_DIR and IT_REG_PID.  Up once /v2/ answers, whatever the status.
it_registry_start_conf() {
	local name=$1 extra=${2:-} port dir
	port=$(it_free_port)
	dir=$IT_TMP/$name
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<EOF2
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
$extra
EOF2
	IT_REG_ADDR=127.0.0.1:$port
	IT_REG_DIR=$dir
	it_registry_restart_conf "$name"
}

# it_registry_restart_conf NAME: start registry NAME again (same port, same
# data), e.g. after it_stop "$IT_REG_PID".  Sets IT_REG_PID.
it_registry_restart_conf() {
	local dir=$IT_TMP/$1 addr
	addr=$(sed -n 's/^  addr: //p' "$dir/config.yml")
	it_spawn "$dir/log" docker-registry serve "$dir/config.yml"
	IT_REG_PID=$IT_LAST_PID
	it_wait_for 30 sh -c "curl -s -o /dev/null -w '%{http_code}' http://$addr/v2/ | grep -qv '^000'" ||
		it_die "docker-registry $1 did not start: $(cat "$dir/log")"
}

# it_registry_blob_file DIR DIGEST: where registry storage DIR keeps a blob.
it_registry_blob_file() {
	local hex=${2#sha256:}
	echo "$1/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}
