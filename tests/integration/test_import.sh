#!/usr/bin/env bash
# Automatic import: `barged serve --import-watch DIR` loads what appears in
# DIR.  A bundle copied in is loaded exactly once (a second copy under
# another name is skipped by its barge.json digest); a directory that
# appears later with a bundle inside (a stick being mounted) is loaded; a
# corrupt bundle is refused once, reported in the log and /metrics, and the
# store is unchanged; a part set copied part by part, its parts list first,
# is loaded when complete and not before; an ISO made by xorriso is loaded.
# A restart loads nothing again.  With trusted keys configured an unsigned
# bundle is refused even without --require-signature (import.require_signature
# auto), and loaded with --import-require-signature false.  Only 127.0.0.1.
#
# Env: BARGE, BARGED (default build/...).  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl xorriso split sha256sum sqlite3; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
export IT_BIG_BYTES=$((7 * 512 * 1024)) # 3.5 MiB: barge split into 1 MiB parts gives four
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi big; do it_push "$UP" "$n"; done
it_log "building bundles"
B=$IT_TMP/bundles
mkdir -p "$B"
it_build_bundle "$B/first-1.0.tar.zst" first 1.0.0 app-a
it_build_bundle "$B/stick-1.0.tar.zst" stick 1.0.0 multi
it_build_bundle "$B/parts-1.0.tar.zst" parts 1.0.0 big
it_build_bundle "$B/iso-1.0.tar.zst" iso 1.0.0 app-b
it_build_bundle "$B/bad-1.0.tar.zst" bad 1.0.0 app-b multi
KEYS=$IT_TMP/keys
mkdir -p "$KEYS"
"$BARGE" keygen --out "$KEYS/ci" >/dev/null 2>&1 || it_die "barge keygen failed"
mv "$KEYS/ci.key" "$IT_TMP/ci.key"
it_build_bundle "$B/signed-1.0.tar.zst" signed 1.0.0 app-a
SOURCE_DATE_EPOCH=0 "$BARGE" build "$IT_TMP/signed-1.0.0.yaml" --output-file "$B/signed-1.0.tar.zst" \
	--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
	--sign-key "$IT_TMP/ci.key" 2>"$IT_TMP/build-signed.err" ||
	it_die "barge build --sign-key failed: $(cat "$IT_TMP/build-signed.err")"

DATA=$IT_TMP/data
WATCH=$IT_TMP/watch
LOG=$IT_TMP/serve.log
mkdir -p "$WATCH"
PORT=
PID=

# start [ARGS...]: barged serve watching WATCH (settle 500 ms) on a kernel-picked port.
start() {
	it_barged_serve "$LOG" "$DATA" --plain-http --import-watch "$WATCH" --import-settle-ms 500 "$@"
	PID=$IT_LAST_PID PORT=$IT_PORT
}

# nbundles: bundles in the store.
nbundles() { "$BARGED" ls bundles --data-dir "$DATA" --output json | jq length; }
# has_bundle NAME: the store has bundle NAME.
has_bundle() {
	"$BARGED" ls bundles --data-dir "$DATA" --output json |
		jq -e --arg n "$1" 'map(select(.name == $n)) | length == 1' >/dev/null
}
# counter RESULT: barged_imports_total{result=RESULT}.
counter() {
	curl -fsS "http://127.0.0.1:$PORT/metrics" |
		sed -n "s/^barged_imports_total{result=\"$1\"} //p"
}
# counter_is RESULT N: barged_imports_total{result=RESULT} is N (for it_wait_for).
counter_is() { [ "$(counter "$1")" = "$2" ]; }
# logged PATTERN: lines of the log matching PATTERN.
logged() { grep -c -e "$1" "$LOG" || true; }
# logged_is N PATTERN: N lines of the log match PATTERN (for it_wait_for).
logged_is() { [ "$(logged "$2")" = "$1" ]; }
# state: what a failed import must leave alone: tags and blob files.
state() {
	sqlite3 "$DATA/barge.db" "SELECT r.name || ':' || t.name || '@' || t.digest FROM tags t
		JOIN repositories r ON r.id = t.repo_id ORDER BY 1"
	(cd "$DATA/blobs" && find . -type f | sort)
}
# served NAME: barged serves NAME:1.0 with upstream's digest.
served() {
	local got
	got=$(skopeo inspect --raw --tls-verify=false \
		"docker://127.0.0.1:$PORT/edge/docker.io/library/$1:1.0" | sha256sum | cut -d' ' -f1)
	[ "sha256:$got" = "$(it_top_digest "$UP" "$1")" ]
}

start

# --- a bundle copied in: loaded once -----------------------------------------
cp "$B/first-1.0.tar.zst" "$WATCH/"
it_check "a bundle copied in is loaded" it_wait_for 30 has_bundle first
it_check_eq "one load line for it" 1 "$(logged 'import: loaded first 1.0.0 from')"
it_check "its image is served" served app-a
cp "$B/first-1.0.tar.zst" "$WATCH/again.tar.zst"
it_check "a second copy under another name is skipped" \
	it_wait_for 30 grep -q "again.tar.zst: first 1.0.0 is already loaded; skipped" "$LOG"
it_check_eq "still one bundle" 1 "$(nbundles)"
it_check_eq "still one load line" 1 "$(logged 'import: loaded first 1.0.0 from')"

# --- a directory appearing later (a stick mounted under /media/USER) ----------
mkdir -p "$IT_TMP/stick" "$WATCH/media/user"
cp "$B/stick-1.0.tar.zst" "$IT_TMP/stick/"
mv "$IT_TMP/stick" "$WATCH/media/user/STICK"
it_check "a bundle in a directory that appeared later is loaded" it_wait_for 30 has_bundle stick
it_check "its index is served" served multi

# --- a corrupt bundle: refused once, reported, store unchanged ----------------
before=$(state)
cp "$B/bad-1.0.tar.zst" "$IT_TMP/bad.tar.zst"
it_flip_byte "$IT_TMP/bad.tar.zst" $(($(it_size "$IT_TMP/bad.tar.zst") * 3 / 4))
cp "$IT_TMP/bad.tar.zst" "$WATCH/bad.tar.zst"
it_check "a corrupt bundle is refused in the log" \
	it_wait_for 30 grep -q "import: .*bad.tar.zst refused: " "$LOG"
it_check "and counted as failed in /metrics" it_wait_for 10 counter_is failed 1
it_check "the store is unchanged" test "$before" = "$(state)"
it_check "no bundle record for it" test "$(nbundles)" = 2
sleep 2
it_check_eq "refused once, not in a loop" 1 "$(logged 'bad.tar.zst refused: ')"
touch "$WATCH/bad.tar.zst"
it_check "retried once when the file changes" \
	it_wait_for 30 logged_is 2 'bad.tar.zst refused: '
it_check "the store is still unchanged" test "$before" = "$(state)"

# --- a part set copied part by part, its parts list first ---------------------
P=$B/parts-1.0.tar.zst
# barge split writes the parts and the list the watcher reads; about four parts.
mib=$(( ($(it_size "$P") / 4 + 1048575) / 1048576 ))
mkdir -p "$IT_TMP/split"
cp "$P" "$IT_TMP/split/"
"$BARGE" split "$IT_TMP/split/parts-1.0.tar.zst" --size "${mib}M" >/dev/null 2>&1 ||
	it_die "barge split failed"
PARTS=("$IT_TMP"/split/parts-1.0.tar.zst.part*)
nparts=${#PARTS[@]}
it_check "the bundle is in several parts" test "$nparts" -ge 3
cp "$IT_TMP/split/parts-1.0.tar.zst.split.json" "$WATCH/"
for f in "${PARTS[@]}"; do
	cp "$f" "$WATCH/"
	if [ "$f" != "${PARTS[-1]}" ]; then
		sleep 1.2 # longer than the settle time: only the list keeps it waiting
		has_bundle parts && it_fail "part set loaded before its last part (${f##*/})"
	fi
done
it_check "the part set is loaded once complete" it_wait_for 30 has_bundle parts
it_check "it waited for its parts" grep -q "parts-1.0.tar.zst.part000: waiting for the rest" "$LOG"
it_check_eq "no failure for the incomplete set" 2 "$(counter failed)"
it_check "its image is served" served big

# --- an ISO image dropped in ----------------------------------------------------
xorriso -as mkisofs -quiet -R -J -V BARGE -o "$IT_TMP/media.iso" "$B/iso-1.0.tar.zst" 2>/dev/null
cp "$IT_TMP/media.iso" "$WATCH/"
it_check "the bundle in an ISO image is loaded" it_wait_for 30 has_bundle iso
it_check "its image is served" served app-b

it_check_eq "four bundles" 4 "$(nbundles)"
it_check_eq "imports ok in /metrics" 4 "$(counter ok)"
it_check_eq "imports skipped in /metrics" 1 "$(counter skipped)"
it_check_eq "imports failed in /metrics" 2 "$(counter failed)"

# --- a restart loads nothing again ----------------------------------------------
it_stop "$PID"
: >"$LOG"
start
it_check "after a restart every bundle seen is skipped" \
	it_wait_for 30 counter_is skipped 5
it_check_eq "nothing loaded again" 0 "$(counter ok)"
it_check_eq "still four bundles" 4 "$(nbundles)"

# --- the signature policy: --require-signature with a trusted key -----------------
it_stop "$PID"
DATA=$IT_TMP/data-signed
WATCH=$IT_TMP/watch-signed
LOG=$IT_TMP/serve-signed.log
mkdir -p "$WATCH"
start --require-signature --keys-dir "$KEYS"
cp "$B/first-1.0.tar.zst" "$WATCH/"
it_check "--require-signature: an unsigned bundle is refused" \
	it_wait_for 30 grep -q "first-1.0.tar.zst refused: .*not signed" "$LOG"
cp "$B/signed-1.0.tar.zst" "$WATCH/"
it_check "--require-signature: a bundle signed by a trusted key is loaded" \
	it_wait_for 30 has_bundle signed
it_check_eq "only that one" 1 "$(nbundles)"
it_check "the log names its signer" \
	grep -q "import: loaded signed 1.0.0 from .*, signed by sha256:" "$LOG"

# --- trusted keys alone: import.require_signature auto refuses unsigned bundles -----
it_stop "$PID"
DATA=$IT_TMP/data-keys
WATCH=$IT_TMP/watch-keys
LOG=$IT_TMP/serve-keys.log
mkdir -p "$WATCH"
start --keys-dir "$KEYS"
it_check "the log says only signed bundles are imported" \
	grep -q "import: only bundles signed by a trusted key are imported" "$LOG"
cp "$B/first-1.0.tar.zst" "$WATCH/"
it_check "trusted keys: an unsigned bundle is refused" \
	it_wait_for 30 grep -q "first-1.0.tar.zst refused: .*not signed" "$LOG"
cp "$B/signed-1.0.tar.zst" "$WATCH/"
it_check "trusted keys: a signed bundle is loaded" it_wait_for 30 has_bundle signed
it_check_eq "only that one" 1 "$(nbundles)"
it_stop "$PID"
: >"$LOG"
start --keys-dir "$KEYS" --import-require-signature false
it_check "--import-require-signature false: the log warns" \
	grep -q "import: unsigned bundles are imported (import.require_signature: false)" "$LOG"
touch "$WATCH/first-1.0.tar.zst"
it_check "--import-require-signature false: the unsigned bundle is loaded" \
	it_wait_for 30 has_bundle first

# --- --no-import watches nothing ------------------------------------------------
it_stop "$PID"
: >"$LOG"
it_spawn "$LOG" "$BARGED" serve --listen 127.0.0.1:0 --plain-http --data-dir "$DATA" \
	--access-log off --import-watch "$WATCH" --no-import
PID=$IT_LAST_PID
it_wait_for 30 grep -q "serving http on" "$LOG" || it_die "barged serve --no-import did not start"
sleep 1
it_check_eq "--no-import: no import log line" 0 "$(logged 'import:')"
it_stop "$PID"

it_summary
