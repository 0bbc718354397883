#!/usr/bin/env bash
# barged load from every kind of SOURCE: a bundle file, its split parts,
# standard input, a directory, ISO 9660 images made with Debian's xorriso and
# genisoimage (and, where loop devices work, the same image as a block
# device).  Each source must give exactly the tags and blobs that loading the
# bundle files gives, `barged fsck` must find the store clean, and the images
# must serve.  Reloading changes nothing.  Only 127.0.0.1.
#
# Env: BARGE, BARGED (default build/...).  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl zstd tar openssl sqlite3 \
	xorriso split; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
export IT_BIG_BYTES=$((3 * 1024 * 1024))
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi big; do it_push "$UP" "$n"; done
it_log "building bundles"
SMALL=$IT_TMP/small-1.0.0.tar.zst
OTHER=$IT_TMP/other-1.0.0.tar.zst
BIG=$IT_TMP/big-1.0.0.tar.zst
it_build_bundle "$SMALL" small 1.0.0 app-a multi
it_build_bundle "$OTHER" other 1.0.0 app-b
it_build_bundle "$BIG" big 1.0.0 big

# tags DATA: every tag of the store as repo:tag@digest, sorted.
tags() {
	sqlite3 "$1/barge.db" "SELECT r.name || ':' || t.name || '@' || t.digest FROM tags t
		JOIN repositories r ON r.id = t.repo_id ORDER BY 1"
}
# blobs DATA: every blob file with its content hash.
blobs() { (cd "$1/blobs" && find . -type f -exec sha256sum {} + | sort); }
# fsck_clean DATA: barged fsck finds nothing wrong.
fsck_clean() { "$BARGED" fsck --data-dir "$1" >"$IT_TMP/fsck.out" 2>&1; }

# load LABEL DATA ARGS...: barged load into DATA, checked to exit 0.
load() {
	local label=$1 data=$2; shift 2
	if "$BARGED" load --data-dir "$data" "$@" >"$IT_TMP/load.out" 2>"$IT_TMP/load.err"; then
		it_pass "$label: barged load exits 0"
	else
		cat "$IT_TMP/load.err"
		it_fail "$label: barged load exits 0"
	fi
}

# --- reference: the bundle files ---------------------------------------------

REF=$IT_TMP/ref
load "bundle files" "$REF" "$SMALL" "$OTHER" "$BIG"
it_check "summary names each bundle" grep -q "loaded small 1.0.0: " "$IT_TMP/load.out"
it_check "summary totals" grep -q "3 of 3 bundles loaded" "$IT_TMP/load.out"
for n in app-a app-b multi big; do
	it_check_eq "$n:1.0 tagged with the upstream digest" \
		"edge/docker.io/library/$n:1.0@$(it_top_digest "$UP" "$n")" \
		"$(tags "$REF" | grep "^edge/docker.io/library/$n:")"
done
it_check "fsck clean after loading the files" fsck_clean "$REF"
WANT_TAGS=$(tags "$REF")
WANT_BLOBS=$(blobs "$REF")

# Reloading is fast and changes nothing: no blob written, same rows.
DUMP=$(sqlite3 "$REF/barge.db" .dump)
load "reload" "$REF" "$SMALL"
it_check "reload reports no new blob" grep -q "loaded small 1.0.0 (again): .*(0 new," "$IT_TMP/load.out"
it_check_eq "reload leaves the database as it was" "$DUMP" "$(sqlite3 "$REF/barge.db" .dump)"
it_check_eq "reload leaves the blobs as they were" "$WANT_BLOBS" "$(blobs "$REF")"

# --- split parts, standard input, a directory --------------------------------

mkdir -p "$IT_TMP/parts"
split -n 4 -d -a 3 "$BIG" "$IT_TMP/parts/big-1.0.0.tar.zst.part"
D=$IT_TMP/d-parts
load "parts" "$D" "$SMALL" "$OTHER" "$IT_TMP/parts/big-1.0.0.tar.zst.part000"
it_check_eq "parts: same tags" "$WANT_TAGS" "$(tags "$D")"
it_check_eq "parts: same blobs" "$WANT_BLOBS" "$(blobs "$D")"
mv "$IT_TMP/parts/big-1.0.0.tar.zst.part002" "$IT_TMP/parts/gap"
if "$BARGED" load --data-dir "$IT_TMP/d-gap" "$IT_TMP/parts/big-1.0.0.tar.zst.part000" \
	2>"$IT_TMP/gap.err"; then
	it_fail "a part set with a gap is refused"
else
	it_check "a part set with a gap is refused, naming the gap" \
		grep -q "part 2 is missing" "$IT_TMP/gap.err"
fi
mv "$IT_TMP/parts/gap" "$IT_TMP/parts/big-1.0.0.tar.zst.part002"

D=$IT_TMP/d-stdin
load "stdin (small)" "$D" - <"$SMALL"
load "stdin (other, a pipe)" "$D" - < <(cat "$OTHER")
load "stdin (big)" "$D" - <"$BIG"
it_check_eq "stdin: same tags" "$WANT_TAGS" "$(tags "$D")"
it_check_eq "stdin: same blobs" "$WANT_BLOBS" "$(blobs "$D")"

STICK=$IT_TMP/stick
mkdir -p "$STICK"
cp "$SMALL" "$OTHER" "$STICK/"
cp "$IT_TMP"/parts/* "$STICK/"
echo "not a bundle" >"$STICK/README.txt"
D=$IT_TMP/d-dir
load "directory" "$D" "$STICK"
it_check "directory: 3 of 3 bundles loaded" grep -q "3 of 3 bundles loaded" "$IT_TMP/load.out"
it_check_eq "directory: same tags" "$WANT_TAGS" "$(tags "$D")"
it_check_eq "directory: same blobs" "$WANT_BLOBS" "$(blobs "$D")"

# --- ISO 9660 images ----------------------------------------------------------

ROOT=$IT_TMP/isoroot
mkdir -p "$ROOT/bundles" "$ROOT/split"
cp "$SMALL" "$OTHER" "$ROOT/bundles/"
cp "$IT_TMP"/parts/* "$ROOT/split/"
ISO=$IT_TMP/media.iso
xorriso -as mkisofs -quiet -R -J -V BARGE -o "$ISO" "$ROOT" 2>"$IT_TMP/xorriso.err" ||
	it_die "xorriso failed: $(cat "$IT_TMP/xorriso.err")"
D=$IT_TMP/d-iso
load "ISO (xorriso)" "$D" --output json "$ISO"
it_check_eq "ISO: JSON summary says 3 loaded, 0 failed" "3 0" \
	"$(jq -r '"\(.loaded) \(.failed)"' "$IT_TMP/load.out")"
it_check_eq "ISO: JSON names the bundle inside the image" "$ISO:bundles/small-1.0.0.tar.zst" \
	"$(jq -r '.bundles[] | select(.name == "small") | .source' "$IT_TMP/load.out")"
it_check_eq "ISO: same tags" "$WANT_TAGS" "$(tags "$D")"
it_check_eq "ISO: same blobs" "$WANT_BLOBS" "$(blobs "$D")"
it_check "ISO: fsck clean" fsck_clean "$D"

if command -v genisoimage >/dev/null; then
	genisoimage -quiet -R -o "$IT_TMP/geniso.iso" "$ROOT" 2>"$IT_TMP/geniso.err" ||
		it_die "genisoimage failed: $(cat "$IT_TMP/geniso.err")"
	D=$IT_TMP/d-geniso
	load "ISO (genisoimage)" "$D" "$IT_TMP/geniso.iso"
	it_check_eq "genisoimage ISO: same tags" "$WANT_TAGS" "$(tags "$D")"
	it_check_eq "genisoimage ISO: same blobs" "$WANT_BLOBS" "$(blobs "$D")"
else
	echo "SKIP: genisoimage not installed"
fi

# The image as a block device, as a USB stick or /dev/sr0 would be.
LOOP=""
if LOOP=$(losetup -f --show -r "$ISO" 2>/dev/null); then
	D=$IT_TMP/d-loop
	load "block device $LOOP" "$D" "$LOOP"
	it_check_eq "block device: same tags" "$WANT_TAGS" "$(tags "$D")"
	losetup -d "$LOOP" || true
else
	echo "SKIP: no loop device here (losetup not permitted); block device source untested"
fi

# A file that is neither a bundle nor an image.
head -c 100000 /dev/urandom >"$IT_TMP/junk.iso"
if "$BARGED" load --data-dir "$IT_TMP/d-junk" "$IT_TMP/junk.iso" 2>"$IT_TMP/junk.err"; then
	it_fail "a random file is refused"
else
	it_check "a random file is refused as not a bundle" grep -q "not a barge bundle" \
		"$IT_TMP/junk.err"
fi

# --- serve what the ISO brought -------------------------------------------------

PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$IT_TMP/d-iso" \
	--listen "127.0.0.1:$PORT" --plain-http --project edge
SERVE_PID=$IT_LAST_PID
it_wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" ||
	it_die "barged serve does not answer: $(cat "$IT_TMP/serve.log")"
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
ACCEPT="$ACCEPT,application/vnd.docker.distribution.manifest.v2+json"
for n in app-a multi big; do
	it_check_eq "ISO-loaded $n:1.0 served with the upstream digest" \
		"$(it_top_digest "$UP" "$n")" \
		"sha256:$(curl -sf -H "Accept: $ACCEPT" \
			"http://127.0.0.1:$PORT/v2/edge/docker.io/library/$n/manifests/1.0" |
			sha256sum | cut -d' ' -f1)"
done
it_stop "$SERVE_PID"

it_summary
