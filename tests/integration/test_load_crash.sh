#!/usr/bin/env bash
# Crash safety of `barged load`: SIGKILL at many points of a load, each into
# a fresh copy of a store that already holds another bundle.  After every
# kill:
#   - no tag, manifest or manifest reference points at a missing blob file
#     (sqlite3 over barge.db and the blob files), and `barged fsck` is clean;
#   - the load is all or nothing: the victim bundle's tags are all there or
#     none is;
#   - the bundle loaded before is intact: its tags, and the bytes of its blobs;
#   - loading the victim again completes.
# At the end, the last store serves both bundles' manifests.
#
# Half the kill points are times (spread over a measured load), half are
# byte counts: the bundle comes through a FIFO on standard input that
# delivers only its first K bytes, and barged is killed while waiting for
# more.  BARGE_CRASH_POINTS (default 50) sets how many.
#
# Env: BARGE, BARGED.  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
POINTS=${BARGE_CRASH_POINTS:-50}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl zstd tar sqlite3 mkfifo; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
export IT_BIG_BYTES=$((8 * 1024 * 1024))
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi big docker2; do it_push "$UP" "$n"; done
BASE=$IT_TMP/base-1.0.0.tar.zst
VICTIM=$IT_TMP/victim-1.0.0.tar.zst
it_build_bundle "$BASE" base 1.0.0 app-a multi
it_build_bundle "$VICTIM" victim 1.0.0 app-b big docker2
VSIZE=$(stat -c %s "$VICTIM")

TEMPLATE=$IT_TMP/template
"$BARGED" load --data-dir "$TEMPLATE" "$BASE" >/dev/null || it_die "loading the base failed"

tags() {
	sqlite3 "$1/barge.db" "SELECT r.name || ':' || t.name || '@' || t.digest FROM tags t
		JOIN repositories r ON r.id = t.repo_id ORDER BY 1"
}
BASE_TAGS=$(tags "$TEMPLATE")
BASE_BLOBS=$(cd "$TEMPLATE/blobs" && find . -type f | sort)
VICTIM_REPOS="'edge/docker.io/library/app-b','edge/docker.io/library/big','edge/docker.io/library/docker2'"

# missing DATA: digests the metadata names whose blob file is absent.
missing() {
	local d
	sqlite3 "$1/barge.db" "SELECT digest FROM tags UNION SELECT digest FROM manifests
		UNION SELECT child FROM refs WHERE parent IN (SELECT digest FROM manifests)" |
		while read -r d; do
			[ -f "$1/blobs/sha256/${d:7:2}/${d:7}" ] || echo "$d"
		done
}

# base_intact DATA: the base's tags are there and its blobs hash to their names.
base_intact() {
	local f
	[ "$(tags "$1" | grep -vE "/(app-b|big|docker2):" || true)" = "$BASE_TAGS" ] || return 1
	for f in $BASE_BLOBS; do
		[ "$(sha256sum "$1/blobs/$f" | cut -d' ' -f1)" = "${f##*/}" ] || return 1
	done
}

# victim_tags DATA: how many of the victim's tags the store has.
victim_tags() {
	sqlite3 "$1/barge.db" "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name IN ($VICTIM_REPOS)"
}

# Calibrate: how long a whole load of the victim takes here.
cp -a "$TEMPLATE" "$IT_TMP/calib"
t0=$(date +%s%N)
"$BARGED" load --data-dir "$IT_TMP/calib" "$VICTIM" >/dev/null || it_die "victim load failed"
LOAD_NS=$(($(date +%s%N) - t0))
VICTIM_TAGS=$(victim_tags "$IT_TMP/calib")
[ "$VICTIM_TAGS" -eq 3 ] || it_die "victim bundle brought $VICTIM_TAGS tags, want 3"
it_log "a full load takes $((LOAD_NS / 1000000)) ms; $POINTS kill points"

bad=0 partial=0 interrupted=0
for i in $(seq 0 $((POINTS - 1))); do
	D=$IT_TMP/crash-$i
	cp -a "$TEMPLATE" "$D"
	if [ $((i % 2)) -eq 0 ]; then
		# A byte count: barged gets the first K bytes, then waits for more.
		K=$((VSIZE * i / POINTS))
		rm -f "$IT_TMP/fifo"
		mkfifo "$IT_TMP/fifo"
		# Started by hand, not with it_spawn, whose own redirections would hide the FIFO.
		bash -c 'head -c "$1" "$2"; exec sleep 600' feed "$K" "$VICTIM" >"$IT_TMP/fifo" &
		FEED=$!
		IT_PIDS+=("$FEED")
		"$BARGED" load --data-dir "$D" - <"$IT_TMP/fifo" >"$IT_TMP/crash.log" 2>&1 &
		LOADER=$!
		IT_PIDS+=("$LOADER")
		# Once the feeder sleeps, the K bytes are in the pipe; give barged time to take them.
		it_wait_for 30 grep -qx sleep "/proc/$FEED/comm" || true
		sleep 0.3
		point="after $K of $VSIZE bytes"
	else
		it_spawn "$IT_TMP/crash.log" "$BARGED" load --data-dir "$D" "$VICTIM"
		LOADER=$IT_LAST_PID
		delay_ns=$((LOAD_NS * i / POINTS))
		sleep "$(printf '%d.%09d' $((delay_ns / 1000000000)) $((delay_ns % 1000000000)))"
		FEED=""
		point="after $((delay_ns / 1000000)) ms"
	fi
	kill -KILL "$LOADER" 2>/dev/null || true
	# 137 (128 + SIGKILL) when the kill landed before barged finished.
	status=0
	wait "$LOADER" 2>/dev/null || status=$?
	[ "$status" -ne 137 ] || interrupted=$((interrupted + 1))
	[ -z "$FEED" ] || it_stop "$FEED"

	m=$(missing "$D")
	if [ -n "$m" ]; then
		it_fail "kill $point: metadata names missing blobs: $m"
		bad=$((bad + 1))
	fi
	v=$(victim_tags "$D")
	if [ "$v" -ne 0 ] && [ "$v" -ne "$VICTIM_TAGS" ]; then
		it_fail "kill $point: $v of $VICTIM_TAGS victim tags: a partial load is visible"
		partial=$((partial + 1))
	fi
	if ! base_intact "$D"; then
		it_fail "kill $point: the base bundle's tags or blobs changed"
		bad=$((bad + 1))
	fi
	if ! "$BARGED" fsck --data-dir "$D" >"$IT_TMP/fsck.out" 2>&1; then
		it_fail "kill $point: fsck: $(tail -5 "$IT_TMP/fsck.out")"
		bad=$((bad + 1))
	fi
	if ! "$BARGED" load --data-dir "$D" "$VICTIM" >/dev/null 2>"$IT_TMP/reload.err"; then
		it_fail "kill $point: reloading fails: $(cat "$IT_TMP/reload.err")"
		bad=$((bad + 1))
	elif [ "$(victim_tags "$D")" -ne "$VICTIM_TAGS" ] || [ -n "$(missing "$D")" ]; then
		it_fail "kill $point: after reloading, tags or blobs are missing"
		bad=$((bad + 1))
	fi
	[ "$i" -eq $((POINTS - 1)) ] || rm -rf "$D"
done
it_log "$interrupted of $POINTS loads were killed before they finished"
it_check "most kills landed inside a load" test "$interrupted" -ge $((POINTS / 2))
it_check_eq "no kill left the metadata naming a missing blob, a changed base, or fsck problems" \
	0 "$bad"
it_check_eq "no kill left a partial load visible" 0 "$partial"

# The last store serves both bundles.
PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$IT_TMP/crash-$((POINTS - 1))" \
	--listen "127.0.0.1:$PORT" --plain-http --project edge
SERVE_PID=$IT_LAST_PID
it_wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" ||
	it_die "barged serve does not answer: $(cat "$IT_TMP/serve.log")"
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
ACCEPT="$ACCEPT,application/vnd.docker.distribution.manifest.v2+json"
for n in app-a multi app-b big docker2; do
	it_check_eq "after the crashes, $n:1.0 served with the upstream digest" \
		"$(it_top_digest "$UP" "$n")" \
		"sha256:$(curl -sf -H "Accept: $ACCEPT" \
			"http://127.0.0.1:$PORT/v2/edge/docker.io/library/$n/manifests/1.0" |
			sha256sum | cut -d' ' -f1)"
done
it_stop "$SERVE_PID"

it_summary
