#!/usr/bin/env bash
# Mutated and hostile bundles: every one is refused by `barged load` with
# exit status 1 and an error message, and the store is exactly as it was.
#
# The mutations of a real bundle (built by barge from a real registry), all
# deterministic (fixed seeds):
#   - bit flips in the compressed file (any flip that changes the tar it
#     decompresses to; a flip zstd decodes to the same bytes, such as a larger
#     window size, is not a corruption and is skipped);
#   - bit flips in the decompressed tar, recompressed with `zstd --check`:
#     in entry headers (not the checksum field) and in blob contents;
#   - truncations;
#   - each hostile entry kind: "..", absolute and control-character names,
#     symbolic and hard links, devices, fifos, directories, a duplicated
#     blob, an unlisted entry, a huge barge.json, malformed barge.json, a
#     blob whose bytes or size do not match barge.json, a missing blob,
#     entries out of order, GNU tar headers, pax headers rewriting a name,
#     garbage after the zstd frame;
#   - ustar headers libarchive would read as regular files or fold into the
#     next entry (typeflags 7, S, K, L, g and an unknown letter), a pax header
#     describing a sparse file, and zstd frames without a content checksum.
#   - an entry carrying more than barge.json declares: 64 MiB of zeros (a
#     bundle of a few KB) behind a sparse pax header that declares 1 KiB, for
#     a new blob and for one the store holds; the reader refuses the sparse
#     header.  Every load runs with a 4 MiB file size limit, so a write far
#     past the declared size would kill it.
#
# "Exactly as it was", after every single load:
#   - every path under the data dir (type, name, size) and the sha256 of
#     every file except barge.db, barge.db-wal and barge.db-shm;
#   - `sqlite3 barge.db .dump`, the database's full content.  The raw bytes
#     of barge.db are not compared: the sqlite3 process that reads it
#     checkpoints the WAL into it on exit, so the file changes by being read.
# And nothing is written outside the data dir: the loads run in an empty
# directory, which stays empty, and the escape targets never appear.
#
# Env: BARGE, BARGED; BARGE_MUTATIONS_SEED (default 1).  IT_KEEP_TMP=1
# keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq zstd tar sqlite3 python3; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
it_make_sample_images "$IT_TMP/images"
it_registry_start
for n in app-a app-b multi; do it_push "$IT_TMP/images" "$n"; done
it_build_bundle "$IT_TMP/base-1.0.0.tar.zst" base 1.0.0 app-b
it_build_bundle "$IT_TMP/victim-1.0.0.tar.zst" victim 1.0.0 app-a multi

DATA=$IT_TMP/data
"$BARGED" load --data-dir "$DATA" "$IT_TMP/base-1.0.0.tar.zst" >/dev/null ||
	it_die "loading the base bundle failed"

it_log "generating mutations"
MUT=$IT_TMP/mut
mkdir -p "$MUT"
ESCAPE=$IT_TMP/escaped
ABS=/tmp/barge-mutation-abs-$$
cat >"$IT_TMP/gen.py" <<'PY'
import hashlib, io, json, os, random, subprocess, sys, tarfile

src, out, escape, absname, seed = sys.argv[1:6]
rng = random.Random(int(seed))
comp = open(src, "rb").read()


def unzstd(b):
    p = subprocess.run(["zstd", "-dcq"], input=b, capture_output=True)
    return p.stdout if p.returncode == 0 else None


def zstd(b):
    return subprocess.run(["zstd", "-q", "--check", "-c"], input=b, capture_output=True,
                          check=True).stdout


tar = unzstd(comp)
assert tar is not None
members = []
with tarfile.open(fileobj=io.BytesIO(tar)) as t:
    for m in t.getmembers():
        members.append((m, t.extractfile(m).read()))
names = [m.name for m, _ in members]
assert names[0] == "barge.json", names
meta = json.loads(members[0][1])
blob_idx = [i for i, n in enumerate(names) if n.startswith("blobs/")]
listing = []
count = 0


def emit(kind, data, expect=""):
    global count
    name = "%03d-%s.tar.zst" % (count, kind)
    count += 1
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    listing.append("%s\t%s" % (name, expect))


def build(entries, fmt=tarfile.USTAR_FORMAT):
    """entries: (TarInfo, bytes or None)."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return b.getvalue()


def reg(name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    return ti, data


def orig(replace=None, drop=(), extra=(), meta_bytes=None):
    ents = []
    for i, (m, d) in enumerate(members):
        if i in drop:
            continue
        if replace and i in replace:
            ents.extend(replace[i])
            continue
        if i == 0 and meta_bytes is not None:
            d = meta_bytes
        ents.append(reg(m.name, d))
    ents.extend(extra)
    return ents


# 1. bit flips in the compressed bundle: 100 that change the decompressed tar.
tries = 0
while sum(1 for l in listing if "-zflip-" in l) < 100:
    tries += 1
    assert tries < 5000
    off = rng.randrange(len(comp))
    bit = rng.randrange(8)
    b = bytearray(comp)
    b[off] ^= 1 << bit
    if unzstd(bytes(b)) == tar:
        continue
    emit("zflip-%d.%d" % (off, bit), bytes(b))

# 2. bit flips in the tar, recompressed: 30 in headers, 40 in blob contents.
headers = []
data_ranges = []
for m, d in members:
    hdr = m.offset_data - 512  # the member's own ustar header block
    headers.extend(p for p in range(hdr, hdr + 512) if not 148 <= p - hdr < 156)
    if m.name.startswith("blobs/") and m.size > 0:
        data_ranges.append((m.offset_data, m.size))
for i in range(30):
    off = rng.choice(headers)
    b = bytearray(tar)
    b[off] ^= 1 << rng.randrange(8)
    emit("hflip-%d" % off, zstd(bytes(b)))
for i in range(40):
    start, size = rng.choice(data_ranges)
    off = start + rng.randrange(size)
    b = bytearray(tar)
    b[off] ^= 1 << rng.randrange(8)
    emit("bflip-%d" % off, zstd(bytes(b)))

# 3. truncations, the tiny ones included.
for n in [0, 1, 3, 4, 5, 12, len(comp) - 1, len(comp) - 4] + \
        [rng.randrange(len(comp)) for _ in range(22)]:
    emit("trunc-%d" % n, comp[:n])

# 4. hostile entries, each kind.
first_blob = blob_idx[0]
last_blob = blob_idx[-1]
bname = names[first_blob]
junk = b"not listed anywhere\n"


def special(name, typ, link=""):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.linkname = link
    ti.mode = 0o644
    if typ in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti, None


hostile = [
    ("dotdot", orig(extra=[reg("blobs/../../" + os.path.basename(escape), junk)]), '".." path'),
    ("dotdot-first", [reg("../" + os.path.basename(escape), junk)] + orig(), '".." path'),
    ("absolute", orig(extra=[reg(absname, junk)]), "absolute path"),
    ("backslash", orig(extra=[reg("blobs\\..\\x", junk)]), "backslash"),
    ("control-char", orig(extra=[reg("blobs/a\nb", junk)]), "control character"),
    ("dot-component", orig(extra=[reg("blobs/./x", junk)]), '"." path'),
    ("symlink", orig(replace={first_blob: [special(bname, tarfile.SYMTYPE, "/etc/passwd")]}),
     "symbolic link not allowed"),
    ("hardlink", orig(replace={first_blob: [special(bname, tarfile.LNKTYPE, "barge.json")]}),
     "hard link not allowed"),
    ("chardev", orig(replace={first_blob: [special(bname, tarfile.CHRTYPE)]}),
     "device not allowed"),
    ("blockdev", orig(replace={first_blob: [special(bname, tarfile.BLKTYPE)]}),
     "device not allowed"),
    ("fifo", orig(replace={first_blob: [special(bname, tarfile.FIFOTYPE)]}),
     "fifo not allowed"),
    ("directory", orig(extra=[special("blobs/sha256/dir", tarfile.DIRTYPE)]),
     "directory not allowed"),
    ("duplicate", orig(extra=[reg(names[last_blob], members[last_blob][1])]), "appears twice"),
    ("duplicate-meta", orig(extra=[reg("barge.json", members[0][1])]), "unexpected entry"),
    ("unlisted", orig(extra=[reg("blobs/sha256/" + hashlib.sha256(junk).hexdigest(), junk)]),
     "not listed in barge.json"),
    ("unexpected-name", orig(extra=[reg("README", junk)]), "unexpected entry"),
    ("missing-blob", orig(drop=(last_blob,)), "missing from the bundle"),
    ("meta-not-first", orig()[1:2] + orig()[0:1] + orig()[2:], "first entry"),
    ("sig-late", orig(extra=[reg("barge.json.sig", b"{}")]), "out of place"),
    ("no-entries", [], "no entries"),
]
# A blob with another blob's bytes under its name, and a blob whose size barge.json misstates.
a, b = blob_idx[0], blob_idx[1]
hostile.append(("swapped-blob", orig(replace={a: [reg(names[a], members[b][1])]}), ""))
m2 = json.loads(members[0][1])
m2["blobs"][-1]["size"] += 1
hostile.append(("size-mismatch", orig(meta_bytes=json.dumps(m2).encode()), ""))
# barge.json: over the bound (valid JSON padded with spaces), malformed in several ways.
big = members[0][1] + b" " * (64 * 1024 * 1024 + 1 - len(members[0][1]))
hostile.append(("meta-huge", orig(meta_bytes=big), "more than the limit"))
for kind, mb in [("meta-truncated", members[0][1][: len(members[0][1]) // 2]),
                 ("meta-not-json", b"\x00\x01garbage"),
                 ("meta-empty", b""),
                 ("meta-array", b"[]"),
                 ("meta-schema2", json.dumps(dict(meta, schemaVersion=2)).encode()),
                 ("meta-bad-digest", json.dumps(dict(meta, blobs=[{"digest": "sha256:xyz",
                                                                   "size": 1}])).encode()),
                 ("meta-negative-size",
                  json.dumps(dict(meta, blobs=[dict(meta["blobs"][0], size=-5)] +
                                  meta["blobs"][1:])).encode())]:
    hostile.append((kind, orig(meta_bytes=mb), "barge.json"))
for kind, ents, expect in hostile:
    emit(kind, zstd(build(ents)), expect)
# GNU tar headers, and a pax header that renames an entry to escape.
emit("gnu-format", zstd(build(orig(), tarfile.GNU_FORMAT)), "pax or ustar tar expected")
ti, d = reg(names[last_blob], members[last_blob][1])
ti.pax_headers = {"path": "../../" + os.path.basename(escape)}
emit("pax-path", zstd(build(orig(drop=(last_blob,)) + [(ti, d)], tarfile.PAX_FORMAT)),
     '".." path')
# Typeflags libarchive reads as regular files (7, S, unknown letters) or folds
# into the next entry (GNU long link and name, pax global header), in place
# of a blob with its own bytes, and a pax header saying the blob is sparse.
for typ, what in [("7", "contiguous file"), ("S", "GNU sparse file"), ("Q", "unknown entry type"),
                  ("K", "GNU long link name"), ("L", "GNU long name"),
                  ("g", "pax global header")]:
    ti, d = reg(bname, members[first_blob][1])
    ti.type = typ.encode()
    emit("typeflag-" + typ, zstd(build(orig(replace={first_blob: [(ti, d)]}))),
         "%s (typeflag '%s') not allowed" % (what, typ))
ti, d = reg(bname, members[first_blob][1])
ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
emit("pax-sparse", zstd(build(orig(replace={first_blob: [(ti, d)]}), tarfile.PAX_FORMAT)),
     "sparse file (pax keyword")
# zstd frames without their content checksum: the whole bundle, or its second frame.
def zstd_nocheck(b):
    return subprocess.run(["zstd", "-q", "--no-check", "-c"], input=b, capture_output=True,
                          check=True).stdout


emit("zstd-no-checksum", zstd_nocheck(tar), "has no content checksum")
emit("zstd-second-frame-no-checksum", zstd(tar[:4096]) + zstd_nocheck(tar[4096:]),
     "zstd frame 2")
emit("trailing-garbage", comp + b"garbage after the frame", "zstd")


# Entries longer than barge.json declares: a pax header (GNU sparse 1.0 with an
# empty map) makes libarchive report `declared` bytes and deliver `carried`.
def oversized(meta_obj, digest, declared, carried):
    mb = json.dumps(meta_obj).encode()
    name = "blobs/sha256/" + digest[len("sha256:"):]
    pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
           "GNU.sparse.realsize": str(declared)}
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti, d = reg("barge.json", mb)
        t.addfile(ti, io.BytesIO(d))
        ti = tarfile.TarInfo(name)
        ti.size = carried
        ti.pax_headers = pax
        t.addfile(ti, io.BytesIO(b"0\n" + bytes(carried - 2)))
    return zstd(b.getvalue())


kib = bytes(range(256)) * 4
kib_digest = "sha256:" + hashlib.sha256(kib).hexdigest()
m3 = json.loads(members[0][1])
m3["blobs"] = [{"digest": kib_digest, "size": 1024}] + m3["blobs"]
emit("oversized-new", oversized(m3, kib_digest, 1024, 64 << 20), "sparse file (pax keyword")
# The base bundle's first blob is in the store: the victim lists it with its size.
base_meta = json.load(open(os.path.join(os.path.dirname(src), "base.json")))
held = base_meta["blobs"][0]
m4 = json.loads(members[0][1])
if held["digest"] not in [x["digest"] for x in m4["blobs"]]:
    m4["blobs"] = [held] + m4["blobs"]
emit("oversized-held", oversized(m4, held["digest"], held["size"], 64 << 20),
     "sparse file (pax keyword")
emit("not-zstd", tar, "not a barge bundle")
open(os.path.join(out, "list.tsv"), "w").write("\n".join(listing) + "\n")
print(count)
PY
zstd -dcq "$IT_TMP/base-1.0.0.tar.zst" | tar -xOf - barge.json >"$IT_TMP/base.json"
N=$(cd "$IT_TMP" && python3 gen.py "$IT_TMP/victim-1.0.0.tar.zst" "$MUT" "$ESCAPE" "$ABS" \
	"${BARGE_MUTATIONS_SEED:-1}")
it_log "$N mutated bundles"
[ "$N" -ge 200 ] || it_fail "at least 200 mutations (got $N)"

# state: what must not change.
state() {
	(cd "$DATA" && find . \( -name barge.db -o -name barge.db-wal -o -name barge.db-shm \) \
		-prune -o -printf '%y %p %s\n' | sort)
	(cd "$DATA" && find . -type f ! -name 'barge.db*' -exec sha256sum {} + | sort)
	sqlite3 "$DATA/barge.db" .dump
}
BEFORE=$(state)
mkdir -p "$IT_TMP/cwd"

refused=0 changed=0 wrong=0
while IFS=$'\t' read -r f expect; do
	[ -n "$f" ] || continue
	# 4 MiB of file size (in 1 KiB blocks): more than any blob of these bundles.
	set +e
	(cd "$IT_TMP/cwd" && ulimit -f 4096 && "$BARGED" load --data-dir "$DATA" "$MUT/$f") \
		>"$IT_TMP/out" 2>"$IT_TMP/err"
	rc=$?
	set -e
	if [ "$rc" -ne 1 ] || ! grep -q "error" "$IT_TMP/err"; then
		it_fail "$f: exit status $rc, want 1 with an error: $(head -c 600 "$IT_TMP/err")"
		wrong=$((wrong + 1))
		continue
	fi
	if [ -n "$expect" ] && ! grep -qF -- "$expect" "$IT_TMP/err"; then
		it_fail "$f: error does not say '$expect': $(head -c 600 "$IT_TMP/err")"
		wrong=$((wrong + 1))
	fi
	if [ "$(state)" != "$BEFORE" ]; then
		it_fail "$f: the store changed"
		diff <(echo "$BEFORE") <(state) | head -20
		BEFORE=$(state)
		changed=$((changed + 1))
	fi
	refused=$((refused + 1))
done <"$MUT/list.tsv"

it_check_eq "every mutated bundle refused with exit status 1" "$N" "$refused"
it_check_eq "the store unchanged after every refusal" 0 "$changed"
it_check_eq "every hostile bundle's error names the problem" 0 "$wrong"
it_check_eq "nothing written in the working directory" "" "$(ls -A "$IT_TMP/cwd")"
it_check "no entry escaped beside the data dir" test ! -e "$ESCAPE"
it_check "no entry escaped to an absolute path" test ! -e "$ABS"
it_check "fsck clean after the mutations" "$BARGED" fsck --data-dir "$DATA"

# The untouched bundle still loads into the very same store.
if "$BARGED" load --data-dir "$DATA" "$IT_TMP/victim-1.0.0.tar.zst" >/dev/null 2>&1; then
	it_pass "the original bundle loads after all the refusals"
else
	it_fail "the original bundle loads after all the refusals"
fi

it_summary
