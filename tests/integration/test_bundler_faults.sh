#!/usr/bin/env bash
# barge build when the upstream misbehaves, against a real docker-registry on
# 127.0.0.1 behind tools/fault_proxy.py:
#   - 429 Too Many Requests (Retry-After: 1) for the first requests: the
#     build waits, retries and succeeds with upstream's exact bytes;
#   - the registry stopped in the middle of a blob: the build fails naming
#     the registry, leaves no bundle; once the registry is back, the rebuild
#     reuses the blobs already cached and resumes the cut blob with a Range
#     request instead of fetching it again;
#   - a blob corrupted in the registry's storage: the build fails naming the
#     digest, leaves no bundle and caches nothing of it;
#   - barge killed by SIGTERM or SIGKILL while it downloads and writes:
#     nothing named after the bundle is left;
#   - the output's file system full (a 4 MiB tmpfs; needs root for mount,
#     skipped where mounting is not allowed): a clear error, nothing left.
#
# Env: BARGE (path of the binary; default build/...).  IT_KEEP_TMP=1 keeps
# the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
PROXY=$IT_LIB_DIR/tools/fault_proxy.py
BIG_BYTES=$((6 * 1024 * 1024))
RATE=$((1024 * 1024)) # bytes/s through the slow proxy: the big layer takes ~6 s

for tool in "$BARGE" docker-registry skopeo python3 jq curl zstd tar; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
T=$IT_TMP
export SOURCE_DATE_EPOCH=0
export DOCKER_CONFIG=$T/docker # no credentials from the machine
mkdir -p "$DOCKER_CONFIG"

it_log "generating sample images in $T"
IT_BIG_BYTES=$BIG_BYTES it_make_sample_images "$T/images"
UP=$T/images
it_registry_start_conf up
REG=$IT_REG_ADDR
IT_REGISTRY=$REG
for n in app-a app-b big; do it_push "$UP" "$n"; done

BIG_LAYER=$(jq -r '.layers[0].digest' \
	"$UP/big/blobs/sha256/$(it_top_digest "$UP" big | cut -d: -f2)")
APPB_LAYER=$(jq -r '.layers[1].digest' \
	"$UP/app-b/blobs/sha256/$(it_top_digest "$UP" app-b | cut -d: -f2)")
APPA_LAYER=$(jq -r '.layers[1].digest' \
	"$UP/app-a/blobs/sha256/$(it_top_digest "$UP" app-a | cut -d: -f2)")

PROXY_PID=""
# proxy PORT ARGS...: (re)start the fault proxy on PORT in front of REG.
proxy() {
	local port=$1; shift
	[ -z "$PROXY_PID" ] || it_stop "$PROXY_PID"
	it_spawn "$T/proxy-$port.log" python3 "$PROXY" --port "$port" --upstream "$REG" "$@"
	PROXY_PID=$IT_LAST_PID
	it_wait_for 30 it_port_busy "$port" || it_die "proxy did not start: $(cat "$T/proxy-$port.log")"
}

# profile FILE ADDR IMAGE...: a profile naming ADDR/library/IMAGE:1.0.
profile() {
	local f=$1 addr=$2 i; shift 2
	{
		printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\n'
		printf 'metadata: {name: faults, version: 1.0.0}\n'
		printf 'spec:\n  platforms: [linux/amd64]\n  packs:\n    - name: all\n      images:\n'
		for i in "$@"; do printf '        - %s/library/%s:1.0\n' "$addr" "$i"; done
	} >"$f"
}

# bundle_blob BUNDLE DIGEST: the sha256 of blob DIGEST as the bundle holds it.
bundle_blob() {
	zstd -dcq "$1" | tar -xO "blobs/sha256/${2#sha256:}" | sha256sum | cut -d' ' -f1
}

# says FILE TEXT DESCRIPTION
says() {
	if grep -qF -- "$2" "$1"; then it_pass "$3"; else it_fail "$3 (got: $(cat "$1"))"; fi
}

# --- 429 with Retry-After ----------------------------------------------------

it_log "429 Too Many Requests from a proxy"
P1=$(it_free_port)
proxy "$P1" --throttle 3
profile "$T/throttle.yaml" "127.0.0.1:$P1" app-a app-b
start=$SECONDS
if "$BARGE" build "$T/throttle.yaml" --output-file "$T/throttle.tar.zst" --cache-dir "$T/cache-throttle" \
	2>"$T/throttle.err"; then
	it_pass "throttled: barge build exits 0"
else
	it_fail "throttled: barge build exits 0 ($(cat "$T/throttle.err"))"
fi
it_check_eq "throttled: the proxy answered 429 three times" 3 \
	"$(grep -c '^429 ' "$T/proxy-$P1.log" || true)"
first429=$(grep -m1 '^429 ' "$T/proxy-$P1.log" | cut -d' ' -f3)
it_check "throttled: the refused request was sent again and served" \
	grep -qF "fwd 200 GET $first429 " "$T/proxy-$P1.log"
it_check "throttled: barge waited for Retry-After (>= 1 s)" test $((SECONDS - start)) -ge 1
it_check_eq "throttled: app-b's layer as upstream" "${APPB_LAYER#sha256:}" \
	"$(bundle_blob "$T/throttle.tar.zst" "$APPB_LAYER")"

# --- registry stopped mid-build ---------------------------------------------

it_log "registry stopped in the middle of a blob"
P2=$(it_free_port)
proxy "$P2" --rate "$RATE"
profile "$T/stop.yaml" "127.0.0.1:$P2" app-a app-b big
it_spawn "$T/stop.err" "$BARGE" build "$T/stop.yaml" --output-file "$T/stop.tar.zst" \
	--cache-dir "$T/cache-stop"
BUILD_PID=$IT_LAST_PID
# Wait until the big layer is on its way, and some of it has arrived.
it_wait_for 60 grep -qF "blobs/$BIG_LAYER" "$T/proxy-$P2.log" ||
	it_die "the big layer was never asked for: $(cat "$T/stop.err")"
sleep 2
it_stop "$IT_REG_PID"
it_stop "$PROXY_PID"
PROXY_PID=""
rc=0
wait "$BUILD_PID" || rc=$?
it_check_eq "stopped: barge build exits 1" 1 "$rc"
says "$T/stop.err" "cannot reach http://127.0.0.1:$P2" "stopped: the error names the registry"
says "$T/stop.err" "$BIG_LAYER" "stopped: the error names the blob"
it_check "stopped: no bundle left" test ! -e "$T/stop.tar.zst"
it_check "stopped: nothing named after the bundle left" \
	test -z "$(find "$T" -maxdepth 1 -name 'stop.tar.zst*')"
it_check "stopped: app-a's layer, fetched before the stop, stays cached" \
	test -f "$T/cache-stop/blobs/sha256/${APPA_LAYER#sha256:}"
partial=$T/cache-stop/tmp/sha256-${BIG_LAYER#sha256:}.partial
have=$(stat -c %s "$partial" 2>/dev/null || echo 0)
it_check "stopped: part of the big layer is kept ($have of $BIG_BYTES+ bytes)" \
	test "$have" -gt 0

it_log "registry back: rebuild"
it_registry_restart_conf up
proxy "$P2"
if "$BARGE" build "$T/stop.yaml" --output-file "$T/stop.tar.zst" --cache-dir "$T/cache-stop" \
	2>"$T/stop2.err"; then
	it_pass "restarted: barge build exits 0"
else
	it_fail "restarted: barge build exits 0 ($(cat "$T/stop2.err"))"
fi
it_check "restarted: app-a's layer was not fetched again" \
	sh -c "! grep -qF 'blobs/$APPA_LAYER' '$T/proxy-$P2.log'"
it_check "restarted: the big layer resumed from byte $have" \
	grep -qF "blobs/$BIG_LAYER range=bytes=$have-" "$T/proxy-$P2.log"
it_check_eq "restarted: the big layer as upstream" "${BIG_LAYER#sha256:}" \
	"$(bundle_blob "$T/stop.tar.zst" "$BIG_LAYER")"
it_check "restarted: no partial download left" test ! -e "$partial"

# --- a blob corrupted in the registry's storage -----------------------------

it_log "a blob corrupted in the registry's storage"
it_flip_byte "$(it_registry_blob_file "$IT_REG_DIR" "$APPB_LAYER")" 100
profile "$T/corrupt.yaml" "$REG" app-b
rc=0
"$BARGE" build "$T/corrupt.yaml" --output-file "$T/corrupt.tar.zst" --cache-dir "$T/cache-corrupt" \
	2>"$T/corrupt.err" || rc=$?
it_check_eq "corrupt: barge build exits 1" 1 "$rc"
says "$T/corrupt.err" "$APPB_LAYER" "corrupt: the error names the digest"
says "$T/corrupt.err" "digest mismatch" "corrupt: the error says digest mismatch"
it_check "corrupt: no bundle left" test ! -e "$T/corrupt.tar.zst"
it_check "corrupt: the bad blob is not cached" \
	test ! -e "$T/cache-corrupt/blobs/sha256/${APPB_LAYER#sha256:}"
it_check "corrupt: nor kept to be resumed" \
	test ! -e "$T/cache-corrupt/tmp/sha256-${APPB_LAYER#sha256:}.partial"

# --- barge killed mid-build -------------------------------------------------

# The bundle is written while blobs download: a build killed by a signal,
# even SIGKILL, must leave nothing named after its output.
P4=$(it_free_port)
proxy "$P4" --rate "$RATE"
profile "$T/kill.yaml" "127.0.0.1:$P4" app-a big # app-b was corrupted above
for sig in TERM KILL; do
	it_log "barge build killed by SIG$sig while it downloads and writes"
	: >"$T/proxy-$P4.log"
	it_spawn "$T/kill-$sig.err" "$BARGE" build "$T/kill.yaml" --output-file "$T/kill-$sig.tar.zst" \
		--cache-dir "$T/cache-kill-$sig"
	BUILD_PID=$IT_LAST_PID
	it_wait_for 60 grep -qF "blobs/$BIG_LAYER" "$T/proxy-$P4.log" ||
		it_die "the big layer was never asked for: $(cat "$T/kill-$sig.err")"
	kill -"$sig" "$BUILD_PID"
	rc=0
	wait "$BUILD_PID" || rc=$?
	it_check "SIG$sig: barge build did not succeed (exit $rc)" test "$rc" -ne 0
	it_check "SIG$sig: nothing named after the bundle left" \
		test -z "$(find "$T" -maxdepth 1 -name "kill-$sig.tar.zst*")"
done
it_stop "$PROXY_PID"
PROXY_PID=""

# --- an upstream that accepts connections and never answers ----------------

it_log "an upstream that never answers: --timeout and --retries"
P3=$(it_free_port)
it_spawn "$T/silent.log" python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])
' "$P3"
it_wait_for 30 it_port_busy "$P3" || it_die "silent listener did not start"
profile "$T/silent.yaml" "127.0.0.1:$P3" app-a
rc=0
"$BARGE" build "$T/silent.yaml" --output-file "$T/silent.tar.zst" --cache-dir "$T/cache-silent" \
	--timeout 2 --retries 2 2>"$T/silent.err" || rc=$?
it_check_eq "silent: barge build exits 1" 1 "$rc"
says "$T/silent.err" "timed out" "silent: the error says the registry timed out"
says "$T/silent.err" "127.0.0.1:$P3/library/app-a:1.0" "silent: the error names the reference"
it_check "silent: no bundle left" test ! -e "$T/silent.tar.zst"
rc=0
"$BARGE" build "$T/silent.yaml" --output-file "$T/silent.tar.zst" --timeout 0 2>"$T/silent2.err" || rc=$?
it_check_eq "--timeout 0 is a usage error (exit 2)" 2 "$rc"

# --- a full disk -------------------------------------------------------------

# The output on a 4 MiB tmpfs, the big layer 6 MiB of random bytes: the write
# fails with the system's reason, names the output, and leaves nothing there.
FULL=$T/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=4m tmpfs "$FULL" 2>"$T/mount.err"; then
	trap 'rc=$?; set +e; umount -l "$FULL" 2>/dev/null; (exit $rc); it_cleanup' EXIT
	it_log "a full disk under the output"
	profile "$T/full.yaml" "$REG" app-a big
	rc=0
	"$BARGE" build "$T/full.yaml" --output-file "$FULL/full.tar.zst" --cache-dir "$T/cache-full" \
		2>"$T/full.err" || rc=$?
	it_check_eq "full disk: barge build exits 1" 1 "$rc"
	says "$T/full.err" "No space left on device" "full disk: the error gives the reason"
	says "$T/full.err" "$FULL/full.tar.zst" "full disk: the error names the output"
	it_check "full disk: nothing left on the full file system" test -z "$(ls -A "$FULL")"
	it_check_eq "full disk: its space is free again" 0 \
		"$(df --output=used -B1 "$FULL" | tail -1 | tr -d ' ')"
	umount "$FULL"
else
	echo "SKIP: cannot mount a tmpfs here ($(cat "$T/mount.err")); full-disk check not run"
fi

# --- a name that is valid upstream but too long on barged -------------------
# 255 bytes is the longest repository name; "edge/" in front makes this one
# 260 on barged, which would refuse the bundle at load.  The build says so
# before it pulls anything (no registry is contacted: docker.io is not here).
it_log "an image whose repository on barged is too long"
long=$(printf 'a%.0s' $(seq 237))
jq --arg s "docker.io/library/$long:1" '.images = [.images[0] | .source = $s]' \
	"$IT_REPO_ROOT/tests/data/locks/good.json" >"$T/long.json"
rc=0
"$BARGE" build --locked "$T/long.json" --output-file "$T/long.tar.zst" --cache-dir "$T/cache-long" \
	2>"$T/long.err" || rc=$?
it_check_eq "long name: barge build exits 1" 1 "$rc"
says "$T/long.err" "docker.io/library/$long:1: its repository on barged" \
	"long name: the error names the image"
says "$T/long.err" "(260 bytes), is longer than a repository name may be" \
	"long name: the error says why"
it_check "long name: no bundle written" test ! -e "$T/long.tar.zst"

it_summary
