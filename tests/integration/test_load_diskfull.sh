#!/usr/bin/env bash
# A full disk: the store on an 8 MiB tmpfs (then a 24 MiB one).
#   1. A bundle that fits loads; one whose new blobs do not fit is refused by
#      the free-space check before anything is written, with a message naming
#      the bytes needed and available; the store is exactly as it was and the
#      first bundle's images still serve.
#   2. The disk fills up in the middle of a load (the bundle comes through a
#      FIFO: barged passes the check, writes its first blobs, then the test
#      fills the filesystem and lets the rest through): the load fails with
#      "No space left on device", leaves the store as it was, and the images
#      loaded before still serve.
# Needs root for mount; prints SKIP and passes where mounting is not allowed.
#
# Env: BARGE, BARGED.  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl zstd tar sqlite3 mkfifo; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
MNT=$IT_TMP/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=8m tmpfs "$MNT" 2>"$IT_TMP/mount.err"; then
	echo "SKIP: cannot mount a tmpfs here ($(cat "$IT_TMP/mount.err")); disk-full test not run"
	exit 0
fi
# Unmount before lib.sh removes the temp dir (lazily: a server may still hold it);
# set +e, so that a failing command here cannot skip the cleanup.
trap 'rc=$?; set +e; umount -l "$MNT" 2>/dev/null; (exit $rc); it_cleanup' EXIT

export IT_BIG_BYTES=$((12 * 1024 * 1024))
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a multi big; do it_push "$UP" "$n"; done
SMALL=$IT_TMP/small-1.0.0.tar.zst
BIG=$IT_TMP/big-1.0.0.tar.zst
it_build_bundle "$SMALL" small 1.0.0 app-a multi
it_build_bundle "$BIG" big 1.0.0 big

DATA=$MNT/data
state() {
	(cd "$DATA" && find . \( -name barge.db -o -name barge.db-wal -o -name barge.db-shm \) \
		-prune -o -printf '%y %p %s\n' | sort)
	(cd "$DATA" && find . -type f ! -name 'barge.db*' -exec sha256sum {} + | sort)
	sqlite3 "$DATA/barge.db" .dump
}
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
# serves LABEL: app-a and multi are served from DATA with their upstream digests.
serves() {
	local port pid n
	port=$(it_free_port)
	it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$DATA" \
		--listen "127.0.0.1:$port" --plain-http --project edge
	pid=$IT_LAST_PID
	it_wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$port/v2/" ||
		it_die "barged serve does not answer: $(cat "$IT_TMP/serve.log")"
	for n in app-a multi; do
		it_check_eq "$1: $n:1.0 still served with the upstream digest" \
			"$(it_top_digest "$UP" "$n")" \
			"sha256:$(curl -sf -H "Accept: $ACCEPT" \
				"http://127.0.0.1:$port/v2/edge/docker.io/library/$n/manifests/1.0" |
				sha256sum | cut -d' ' -f1)"
	done
	it_stop "$pid"
}

# --- 1. the free-space check --------------------------------------------------

if "$BARGED" load --data-dir "$DATA" "$SMALL" >/dev/null 2>"$IT_TMP/small.err"; then
	it_pass "a bundle that fits loads into the 8 MiB store"
else
	cat "$IT_TMP/small.err"
	it_fail "a bundle that fits loads into the 8 MiB store"
fi
BEFORE=$(state)
if "$BARGED" load --data-dir "$DATA" "$BIG" >/dev/null 2>"$IT_TMP/big.err"; then
	it_fail "a bundle that does not fit is refused"
else
	it_pass "a bundle that does not fit is refused"
	it_check "the refusal says there is not enough free space" \
		grep -q "not enough free space in $DATA" "$IT_TMP/big.err"
	it_check "the refusal names the bytes needed and available" \
		grep -qE "needs [0-9]+ bytes for its new blobs, [0-9]+ bytes are available" \
		"$IT_TMP/big.err"
fi
it_check_eq "the refused load left the store as it was" "$BEFORE" "$(state)"
it_check_eq "nothing was left in tmp/" "" "$(ls -A "$DATA/tmp")"
serves "after the refusal"

# --- 2. the disk fills up during a load ----------------------------------------

umount "$MNT"
mount -t tmpfs -o size=24m tmpfs "$MNT"
"$BARGED" load --data-dir "$DATA" "$SMALL" >/dev/null 2>&1 || it_die "reloading small failed"
BEFORE=$(state)
mkfifo "$IT_TMP/fifo"
# The first MiB, then wait for the go, then the rest.
bash -c 'head -c 1048576 "$1"; while [ ! -e "$2" ]; do sleep 0.1; done; tail -c +1048577 "$1"' \
	feed "$BIG" "$IT_TMP/go" >"$IT_TMP/fifo" &
FEED=$!
IT_PIDS+=("$FEED")
"$BARGED" load --data-dir "$DATA" - <"$IT_TMP/fifo" >/dev/null 2>"$IT_TMP/full.err" &
LOADER=$!
IT_PIDS+=("$LOADER")
# barged has passed the free-space check and is writing the big layer when tmp/ has a file.
writing() { [ -n "$(ls -A "$DATA/tmp")" ]; }
it_wait_for 30 writing ||
	it_fail "barged never started writing a blob: $(cat "$IT_TMP/full.err")"
dd if=/dev/zero of="$MNT/filler" bs=1M status=none 2>/dev/null || true
touch "$IT_TMP/go"
status=0
wait "$LOADER" || status=$?
it_check_eq "a load that runs out of space exits 1" 1 "$status"
it_check "its error says the device is full" grep -q "No space left on device" "$IT_TMP/full.err"
wait "$FEED" 2>/dev/null || true
rm -f "$MNT/filler"
it_check_eq "the failed load left the store as it was" "$BEFORE" "$(state)"
it_check_eq "nothing was left in tmp/" "" "$(ls -A "$DATA/tmp")"
serves "after running out of space"

it_summary
