#!/usr/bin/env bash
# Offline media built by barge: `barge iso` images read by Debian's xorriso
# and isoinfo (Rock Ridge and Joliet names, BARGE.JSON's sizes and sha256
# equal to the bundles'), loaded by `barged load` from the file and, where
# losetup -r is permitted, from a read-only loop device, with the same tags
# and blobs as loading the bundle files; `--base` keeps the El Torito boot
# record of an installer made with `xorriso -as mkisofs`; a barge iso killed
# by SIGTERM, SIGINT or SIGKILL leaves no file; `barge split` and
# `barge build --split` parts concatenate to the bundle and load like it.
# Only 127.0.0.1.
#
# Files over 4 GiB (multi-extent) are too heavy for CI: BARGE_BIG_ISO=1 adds
# a 4.5 GiB bundle file (a real bundle with zeros after it) and checks its
# size, extents and bytes in the image.
#
# Env: BARGE, BARGED (default build/...).  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl sqlite3 xorriso isoinfo; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

LOOP=""
# The loop device is detached whatever happens; then the library cleans up.
trap 'rc=$?; [ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true; (exit $rc); it_cleanup' EXIT

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

tags() {
	sqlite3 "$1/barge.db" "SELECT r.name || ':' || t.name || '@' || t.digest FROM tags t
		JOIN repositories r ON r.id = t.repo_id ORDER BY 1"
}
blobs() { (cd "$1/blobs" && find . -type f -exec sha256sum {} + | sort); }
fsck_clean() { "$BARGED" fsck --data-dir "$1" >"$IT_TMP/fsck.out" 2>&1; }
load() {
	local label=$1 data=$2; shift 2
	if "$BARGED" load --data-dir "$data" "$@" >"$IT_TMP/load.out" 2>"$IT_TMP/load.err"; then
		it_pass "$label: barged load exits 0"
	else
		cat "$IT_TMP/load.err"
		it_fail "$label: barged load exits 0"
	fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# extract ISO PATH OUT: a file of the image, as xorriso reads it.
extract() { xorriso -osirrox on -indev "$1" -extract "$2" "$3" >/dev/null 2>&1; }

REF=$IT_TMP/ref
load "bundle files" "$REF" "$SMALL" "$OTHER" "$BIG"
WANT_TAGS=$(tags "$REF")
WANT_BLOBS=$(blobs "$REF")
REF_BIG=$IT_TMP/ref-big
load "big bundle file" "$REF_BIG" "$BIG"
WANT_BIG_TAGS=$(tags "$REF_BIG")
WANT_BIG_BLOBS=$(blobs "$REF_BIG")

# --- barge iso ------------------------------------------------------------------

ISO=$IT_TMP/media.iso
if SOURCE_DATE_EPOCH=0 "$BARGE" iso "$SMALL" "$OTHER" "$BIG" --output-file "$ISO" --volume-label EDGE_MEDIA \
	>"$IT_TMP/iso.out" 2>"$IT_TMP/iso.err"; then
	it_pass "barge iso exits 0"
else
	cat "$IT_TMP/iso.err"
	it_die "barge iso failed"
fi
it_check "barge iso reports 3 bundles" grep -q "wrote $ISO: 3 bundles" "$IT_TMP/iso.out"
it_check_eq "no temporary file left beside the image" "" \
	"$(find "$IT_TMP" -maxdepth 1 -name 'media.iso.tmp*')"

xorriso -indev "$ISO" -find / 2>/dev/null | tr -d "'" | sort >"$IT_TMP/find.out"
it_check_eq "xorriso lists the bundles, BARGE.JSON and README.TXT" \
	"$(printf '/\n/BARGE.JSON\n/README.TXT\n/big-1.0.0.tar.zst\n/other-1.0.0.tar.zst\n/small-1.0.0.tar.zst')" \
	"$(cat "$IT_TMP/find.out")"
isoinfo -d -i "$ISO" >"$IT_TMP/pvd.out"
it_check "isoinfo: Rock Ridge" grep -q "Rock Ridge signatures" "$IT_TMP/pvd.out"
it_check "isoinfo: Joliet" grep -q "Joliet with UCS level 3 found" "$IT_TMP/pvd.out"
it_check "isoinfo: the volume label" grep -q "Volume id: EDGE_MEDIA" "$IT_TMP/pvd.out"
it_check "isoinfo -R: Rock Ridge name, read-only" \
	grep -Eq -- '^-r--r--r-- .* small-1.0.0.tar.zst *$' <(isoinfo -l -R -i "$ISO")
it_check "isoinfo -J: Joliet name" grep -q ' other-1.0.0.tar.zst;1 *$' <(isoinfo -l -J -i "$ISO")
it_check "plain ISO 9660 name (no extensions)" grep -q ' BIG_1_0_0_TAR.ZST;1 *$' <(isoinfo -l -i "$ISO")

extract "$ISO" /BARGE.JSON "$IT_TMP/BARGE.JSON"
for b in "$SMALL" "$OTHER" "$BIG"; do
	f=$(basename "$b")
	it_check_eq "BARGE.JSON: $f sha256" "sha256:$(sha "$b")" \
		"$(jq -r --arg f "$f" '.bundles[] | select(.file == $f) | .sha256' "$IT_TMP/BARGE.JSON")"
	it_check_eq "BARGE.JSON: $f size" "$(it_size "$b")" \
		"$(jq -r --arg f "$f" '.bundles[] | select(.file == $f) | .size' "$IT_TMP/BARGE.JSON")"
done
it_check_eq "BARGE.JSON: names and versions" "small 1.0.0,other 1.0.0,big 1.0.0" \
	"$(jq -r '[.bundles[] | "\(.name) \(.version)"] | join(",")' "$IT_TMP/BARGE.JSON")"
extract "$ISO" /big-1.0.0.tar.zst "$IT_TMP/big.extracted"
it_check_eq "the bundle in the image is the bundle, byte for byte" "$(sha "$BIG")" \
	"$(sha "$IT_TMP/big.extracted")"
extract "$ISO" /README.TXT "$IT_TMP/README.TXT"
it_check "README.TXT says how to load" grep -q "barged load /dev/sr0" "$IT_TMP/README.TXT"

# Reproducible: the same bundles and SOURCE_DATE_EPOCH give the same bytes.
touch "$SMALL"
SOURCE_DATE_EPOCH=0 "$BARGE" iso -q "$SMALL" "$OTHER" "$BIG" --output-file "$IT_TMP/again.iso" \
	--volume-label EDGE_MEDIA -o json >"$IT_TMP/again.json"
it_check "same inputs, same image bytes" cmp -s "$ISO" "$IT_TMP/again.iso"
it_check_eq "iso -o json: the image, its bundles and sizes" \
	"$IT_TMP/again.iso 3 $(($(it_size "$SMALL") + $(it_size "$OTHER") + $(it_size "$BIG"))) $(it_size "$ISO") null" \
	"$(jq -r '"\(.file) \(.bundles) \(.bundleBytes) \(.imageBytes) \(.base)"' "$IT_TMP/again.json")"
rm -f "$IT_TMP/again.iso"

D=$IT_TMP/d-iso
load "barge-made ISO" "$D" "$ISO"
it_check "ISO: 3 of 3 bundles loaded" grep -q "3 of 3 bundles loaded" "$IT_TMP/load.out"
it_check_eq "ISO: same tags" "$WANT_TAGS" "$(tags "$D")"
it_check_eq "ISO: same blobs" "$WANT_BLOBS" "$(blobs "$D")"
it_check "ISO: fsck clean" fsck_clean "$D"

if LOOP=$(losetup -r -f --show "$ISO" 2>"$IT_TMP/losetup.err"); then
	D=$IT_TMP/d-loop
	load "read-only loop device $LOOP" "$D" "$LOOP"
	it_check_eq "loop device: same tags" "$WANT_TAGS" "$(tags "$D")"
	it_check_eq "loop device: same blobs" "$WANT_BLOBS" "$(blobs "$D")"
	losetup -d "$LOOP" || true
	LOOP=""
else
	LOOP=""
	echo "SKIP: losetup -r not permitted here ($(cat "$IT_TMP/losetup.err")); loop device untested"
fi

# Refusals: nothing written.
echo "not a bundle" >"$IT_TMP/junk.tar.zst"
if "$BARGE" iso "$SMALL" "$IT_TMP/junk.tar.zst" --output-file "$IT_TMP/bad.iso" 2>"$IT_TMP/bad.err"; then
	it_fail "barge iso refuses a file that is not a bundle"
else
	it_check "barge iso refuses a file that is not a bundle, naming it" \
		grep -q "junk.tar.zst" "$IT_TMP/bad.err"
fi
it_check_eq "a refused image leaves no file" "" "$(find "$IT_TMP" -maxdepth 1 -name 'bad.iso*')"
set +e
"$BARGE" iso "$SMALL" 2>/dev/null
rc=$?
set -e
it_check_eq "barge iso without --output-file is a usage error" 2 "$rc"
it_check_refused "barge iso -o ISO is refused, naming --output-file" \
	"iso: -o/--output $IT_TMP/old.iso: not a format (json, yaml, text); to write the image use --output-file $IT_TMP/old.iso" \
	"$BARGE" iso "$SMALL" -o "$IT_TMP/old.iso"
it_check_eq "a refused barge iso -o ISO writes nothing" "" "$(find "$IT_TMP" -maxdepth 1 -name 'old.iso*')"

# A killed barge iso leaves nothing: SIGTERM and SIGINT stop the write
# (exit by the signal, saying so), SIGKILL finds the image still unnamed
# (O_TMPFILE).  The bundle is 3 GiB, zeros after a real bundle, so that the
# write is still going when the signal comes.
mkdir -p "$IT_TMP/kill"
KB=$IT_TMP/kill/killme-1.0.0.tar.zst
cp "$SMALL" "$KB"
truncate -s 3G "$KB"
for sig in TERM:143 INT:130 KILL:137; do
	"$BARGE" iso "$KB" --output-file "$IT_TMP/kill/out.iso" 2>"$IT_TMP/kill.err" &
	pid=$!
	it_wait_for 60 grep -q "writing" "$IT_TMP/kill.err" || it_fail "SIG${sig%:*}: barge iso starts writing"
	sleep 0.3
	kill -"${sig%:*}" "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	it_check_eq "SIG${sig%:*}: barge iso exits by the signal" "${sig#*:}" "$rc"
	[ "${sig%:*}" = KILL ] ||
		it_check "SIG${sig%:*}: says no image was written" grep -q "SIG${sig%:*}: no image written" \
			"$IT_TMP/kill.err"
	it_check_eq "SIG${sig%:*}: no image and no temporary file left" "killme-1.0.0.tar.zst" \
		"$(ls "$IT_TMP/kill")"
done
rm -rf "$IT_TMP/kill"

# --- --base: bundles riding on an installer image ----------------------------------

mkdir -p "$IT_TMP/inst/isolinux"
head -c 2048 /dev/urandom >"$IT_TMP/inst/isolinux/boot.img"
echo "installer" >"$IT_TMP/inst/INSTALL.TXT"
xorriso -as mkisofs -quiet -R -J -V INSTALLER -b isolinux/boot.img -no-emul-boot \
	-boot-load-size 4 -o "$IT_TMP/base.iso" "$IT_TMP/inst" 2>"$IT_TMP/base.err" ||
	it_die "xorriso failed: $(cat "$IT_TMP/base.err")"
it_check "the base has an El Torito boot record" \
	grep -q "El Torito boot img" <(xorriso -indev "$IT_TMP/base.iso" -report_el_torito plain 2>/dev/null)
OUT=$IT_TMP/out.iso
"$BARGE" iso --base "$IT_TMP/base.iso" "$SMALL" --output-file "$OUT" >"$IT_TMP/base.out" 2>"$IT_TMP/base.err" ||
	it_fail "barge iso --base exits 0: $(cat "$IT_TMP/base.err")"
it_check "barge iso --base reports the boot image kept" grep -q "1 boot image kept" \
	"$IT_TMP/base.out"
it_check "--base: no warning about partitions for a base without them" \
	test -z "$(grep "has partitions" "$IT_TMP/base.err")"
xorriso -indev "$OUT" -report_el_torito plain 2>/dev/null >"$IT_TMP/eltorito.out"
it_check "--base: El Torito boot image still there" \
	grep -q "El Torito boot img : *1 *BIOS *y *none" "$IT_TMP/eltorito.out"
it_check "--base: boot image path kept" grep -q "/isolinux/boot.img" "$IT_TMP/eltorito.out"
it_check "--base: isoinfo sees El Torito" grep -q "El Torito" <(isoinfo -d -i "$OUT")
it_check "--base: the volume label kept" grep -q "Volume id: INSTALLER" <(isoinfo -d -i "$OUT")
extract "$OUT" /isolinux/boot.img "$IT_TMP/boot.extracted"
it_check "--base: boot image bytes unchanged" cmp -s "$IT_TMP/inst/isolinux/boot.img" \
	"$IT_TMP/boot.extracted"
extract "$OUT" /INSTALL.TXT "$IT_TMP/install.extracted"
it_check "--base: the installer's files kept" cmp -s "$IT_TMP/inst/INSTALL.TXT" \
	"$IT_TMP/install.extracted"
D=$IT_TMP/d-base
load "installer ISO with a bundle" "$D" "$OUT"
it_check "installer ISO: the bundle loaded" grep -q "^loaded small 1.0.0: " "$IT_TMP/load.out"
D2=$IT_TMP/d-small
load "small bundle file" "$D2" "$SMALL"
it_check_eq "installer ISO: same tags as the bundle file" "$(tags "$D2")" "$(tags "$D")"

# An EFI and hybrid installer: El Torito entries for BIOS and UEFI, an
# isohybrid MBR and a GPT that names the EFI image (xorriso takes any 432
# bytes as MBR boot code; the boot images are random: nothing is booted).
mkdir -p "$IT_TMP/hyb/isolinux" "$IT_TMP/hyb/EFI/boot"
head -c 2048 /dev/urandom >"$IT_TMP/hyb/isolinux/boot.img"
head -c 1474560 /dev/urandom >"$IT_TMP/hyb/EFI/boot/efi.img"
head -c 432 /dev/urandom >"$IT_TMP/mbr.bin"
xorriso -as mkisofs -quiet -R -J -V HYBRID -b isolinux/boot.img -no-emul-boot -boot-load-size 4 \
	-boot-info-table -eltorito-alt-boot -e EFI/boot/efi.img -no-emul-boot \
	-isohybrid-mbr "$IT_TMP/mbr.bin" -isohybrid-gpt-basdat -o "$IT_TMP/hybrid.iso" "$IT_TMP/hyb" \
	2>"$IT_TMP/hybrid.err" || it_die "xorriso failed: $(cat "$IT_TMP/hybrid.err")"
xorriso -indev "$IT_TMP/hybrid.iso" -report_system_area plain 2>/dev/null >"$IT_TMP/hybrid.sa"
it_check "the hybrid base has an MBR with an EFI partition" \
	grep -q "MBR partition path :   2  /EFI/boot/efi.img" "$IT_TMP/hybrid.sa"
it_check "the hybrid base has a GPT" grep -q "GPT disk GUID" "$IT_TMP/hybrid.sa"
OUT=$IT_TMP/hybrid-out.iso
"$BARGE" iso --base "$IT_TMP/hybrid.iso" "$SMALL" --output-file "$OUT" >"$IT_TMP/hout.out" 2>"$IT_TMP/hout.err" ||
	it_fail "barge iso --base HYBRID exits 0: $(cat "$IT_TMP/hout.err")"
it_check "hybrid --base: both boot images kept" grep -q "2 boot images kept" "$IT_TMP/hout.out"
# xorriso exits 32 here: the copied GPT's backup header lies past the new image's end.
xorriso -indev "$OUT" -report_el_torito plain 2>/dev/null >"$IT_TMP/hout.eltorito" || true
it_check "hybrid --base: the BIOS boot image" \
	grep -q "El Torito boot img : *1 *BIOS *y *none" "$IT_TMP/hout.eltorito"
it_check "hybrid --base: the UEFI boot image" \
	grep -q "El Torito boot img : *2 *UEFI *y *none" "$IT_TMP/hout.eltorito"
it_check "hybrid --base: the UEFI boot image's path" \
	grep -q "El Torito img path : *2 */EFI/boot/efi.img" "$IT_TMP/hout.eltorito"
it_check "hybrid --base: the boot info table option kept" \
	grep -q "El Torito img opts : *1 *boot-info-table" "$IT_TMP/hout.eltorito"
extract "$OUT" /EFI/boot/efi.img "$IT_TMP/efi.extracted" || true
it_check "hybrid --base: the EFI image's bytes unchanged" cmp -s "$IT_TMP/hyb/EFI/boot/efi.img" \
	"$IT_TMP/efi.extracted"
it_check "hybrid --base: the MBR boot code kept" cmp -s -n 432 "$IT_TMP/mbr.bin" "$OUT"
# The partitions are copied, not laid out anew: barge says so (docs/media.md).
it_check "hybrid --base: warns that the partitions are copied as they were" \
	grep -q "hybrid.iso has partitions" "$IT_TMP/hout.err"
D=$IT_TMP/d-hybrid
load "hybrid installer ISO with a bundle" "$D" "$OUT"
it_check_eq "hybrid installer ISO: same tags as the bundle file" "$(tags "$D2")" "$(tags "$D")"

# --- split ------------------------------------------------------------------------

mkdir -p "$IT_TMP/stick"
cp "$BIG" "$IT_TMP/stick/"
S=$IT_TMP/stick/big-1.0.0.tar.zst
"$BARGE" split "$S" --size 1M -o json >"$IT_TMP/split.out" 2>"$IT_TMP/split.err" ||
	it_fail "barge split exits 0: $(cat "$IT_TMP/split.err")"
NPARTS=$(find "$IT_TMP/stick" -name 'big-1.0.0.tar.zst.part*' | wc -l)
it_check_eq "split: parts of at most 1 MiB" "$(((($(it_size "$BIG") + 1048575) / 1048576)))" "$NPARTS"
it_check_eq "split: cat part* is the bundle" "$(sha "$BIG")" \
	"$(cat "$IT_TMP"/stick/big-1.0.0.tar.zst.part* | sha256sum | cut -d' ' -f1)"
it_check_eq "split.json: the whole's sha256" "sha256:$(sha "$BIG")" \
	"$(jq -r .sha256 "$S.split.json")"
it_check_eq "split.json: each part's sha256" \
	"$(cd "$IT_TMP/stick" && for p in big-1.0.0.tar.zst.part*; do echo "$p sha256:$(sha "$p")"; done)" \
	"$(jq -r '.parts[] | "\(.file) \(.sha256)"' "$S.split.json")"
it_check_eq "split -o json: the whole, the list and every part as written" \
	"$S sha256:$(sha "$BIG") $S.split.json $(cd "$IT_TMP/stick" && for p in big-1.0.0.tar.zst.part*; do printf '%s sha256:%s %s ' "$IT_TMP/stick/$p" "$(sha "$p")" "$(it_size "$p")"; done)" \
	"$(jq -r '"\(.file) \(.sha256) \(.list) " + ([.parts[] | "\(.path) \(.sha256) \(.size) "] | join(""))' "$IT_TMP/split.out")"
rm "$S"
D=$IT_TMP/d-split
load "split parts" "$D" "$S.part000"
it_check_eq "split: same tags as the whole" "$WANT_BIG_TAGS" "$(tags "$D")"
it_check_eq "split: same blobs as the whole" "$WANT_BIG_BLOBS" "$(blobs "$D")"
D=$IT_TMP/d-stick
load "stick directory" "$D" "$IT_TMP/stick"
it_check_eq "stick directory: same tags as the whole" "$WANT_BIG_TAGS" "$(tags "$D")"

mkdir -p "$IT_TMP/bs"
SOURCE_DATE_EPOCH=0 "$BARGE" build "$IT_TMP/big-1.0.0.yaml" --output-file "$IT_TMP/bs/big-1.0.0.tar.zst" \
	--split 1M --registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
	>/dev/null 2>"$IT_TMP/bs.err" || it_fail "barge build --split exits 0: $(cat "$IT_TMP/bs.err")"
it_check_eq "build --split: only parts and the list" \
	"$(printf 'big-1.0.0.tar.zst.part%03d\n' $(seq 0 $((NPARTS - 1))); echo big-1.0.0.tar.zst.split.json)" \
	"$(ls "$IT_TMP/bs")"
it_check_eq "build --split: the parts are the bundle" "$(sha "$BIG")" \
	"$(cat "$IT_TMP"/bs/big-1.0.0.tar.zst.part* | sha256sum | cut -d' ' -f1)"
set +e
"$BARGE" split "$BIG" --size 1000 2>"$IT_TMP/size.err"
rc=$?
set -e
it_check_eq "split --size below 1M is a usage error" 2 "$rc"

# --- over 4 GiB (multi-extent), only with BARGE_BIG_ISO=1 ----------------------------

if [ "${BARGE_BIG_ISO:-}" = 1 ]; then
	HUGE=$IT_TMP/huge-1.0.0.tar.zst
	cp "$SMALL" "$HUGE"
	truncate -s $((4608 * 1048576)) "$HUGE"
	"$BARGE" iso -q "$HUGE" --output-file "$IT_TMP/huge.iso" >/dev/null 2>"$IT_TMP/huge.err" ||
		it_fail "barge iso with a 4.5 GiB file: $(cat "$IT_TMP/huge.err")"
	xorriso -indev "$IT_TMP/huge.iso" -find /huge-1.0.0.tar.zst -exec report_sections \
		2>/dev/null >"$IT_TMP/sections.out"
	it_check "4.5 GiB file: more than one extent" \
		test "$(grep -c '^File data lba: *[0-9]' "$IT_TMP/sections.out")" -gt 1
	extract "$IT_TMP/huge.iso" /huge-1.0.0.tar.zst "$IT_TMP/huge.extracted"
	it_check_eq "4.5 GiB file: same bytes" "$(sha "$HUGE")" "$(sha "$IT_TMP/huge.extracted")"
	rm -f "$IT_TMP/huge.iso" "$IT_TMP/huge.extracted" "$HUGE"
else
	echo "SKIP: files over 4 GiB (multi-extent) need BARGE_BIG_ISO=1 (writes about 9 GiB)"
fi

it_summary
