#!/usr/bin/env bash
# Signed bundles and deltas, as barge makes them (`barge keygen`, `barge
# build --sign-key`, `barge build --base`), loaded by barged:
#   - --require-signature with the key in --keys-dir (or --trusted-key) loads
#     a bundle signed by it and refuses an unsigned one, one signed by
#     another key, and one whose signature belongs to another barge.json;
#     refusals leave the store as it was;
#   - a delta without its base is refused, listing the missing blobs;
#   - a directory holding the delta (first by name) and its base loads the
#     base first, then the delta; fsck is clean and the delta's images serve.
#
# Env: BARGE, BARGED.  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl zstd tar sqlite3 python3; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi; do it_push "$UP" "$n"; done

KEYS=$IT_TMP/keys
mkdir -p "$KEYS" "$IT_TMP/otherkeys"
"$BARGE" keygen --out "$KEYS/ci" >/dev/null 2>&1 || it_die "barge keygen failed"
"$BARGE" keygen --out "$IT_TMP/otherkeys/other" >/dev/null 2>&1 || it_die "barge keygen failed"
# Only public keys belong in a trust directory.
mv "$KEYS/ci.key" "$IT_TMP/ci.key"

# build OUT NAME VERSION ARGS... -- IMAGES...: barge build with extra flags.
build() {
	local out=$1 name=$2 version=$3 img args=(); shift 3
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	{
		printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\n'
		printf 'metadata: {name: %s, version: %s}\n' "$name" "$version"
		printf 'spec:\n  platforms: [linux/amd64, linux/arm64]\n  project: edge\n'
		printf '  packs:\n    - name: all\n      images:\n'
		for img in "$@"; do printf '        - docker.io/library/%s:1.0\n' "$img"; done
	} >"$IT_TMP/$name-$version.yaml"
	SOURCE_DATE_EPOCH=0 "$BARGE" build "$IT_TMP/$name-$version.yaml" --output-file "$out" \
		--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
		"${args[@]}" 2>"$IT_TMP/build.err" ||
		it_die "barge build $name $version failed: $(cat "$IT_TMP/build.err")"
}
BASE=$IT_TMP/edge-1.0.0.tar.zst
DELTA=$IT_TMP/edge-1.1.0.tar.zst
UNSIGNED=$IT_TMP/plain-1.0.0.tar.zst
OTHER=$IT_TMP/other-1.0.0.tar.zst
build "$BASE" edge 1.0.0 --sign-key "$IT_TMP/ci.key" -- app-a multi
build "$DELTA" edge 1.1.0 --sign-key "$IT_TMP/ci.key" --base "$BASE" -- app-a multi app-b
build "$UNSIGNED" plain 1.0.0 -- app-a
build "$OTHER" other 1.0.0 --sign-key "$IT_TMP/otherkeys/other.key" -- app-a
it_check_eq "the delta requires blobs from its base" true \
	"$(zstd -dcq "$DELTA" | tar -xO barge.json | jq '(.requires | length) > 0')"

# The base's barge.json with the delta's signature: a signature of other bytes.
python3 - "$BASE" "$DELTA" "$IT_TMP/swapped.tar" <<'PY'
import io, subprocess, sys, tarfile
def members(path):
    tar = subprocess.run(["zstd", "-dcq", path], capture_output=True, check=True).stdout
    t = tarfile.open(fileobj=io.BytesIO(tar))
    return [(m, t.extractfile(m).read()) for m in t.getmembers()]
base, delta = members(sys.argv[1]), members(sys.argv[2])
sig = dict((m.name, d) for m, d in delta)["barge.json.sig"]
with tarfile.open(sys.argv[3], "w", format=tarfile.PAX_FORMAT) as out:
    for m, d in base:
        if m.name == "barge.json.sig":
            d = sig
        m.size = len(d)
        out.addfile(m, io.BytesIO(d))
PY
zstd -q --check --rm -f "$IT_TMP/swapped.tar" -o "$IT_TMP/swapped-1.0.0.tar.zst"

state() {
	(cd "$1" && find . \( -name barge.db -o -name barge.db-wal -o -name barge.db-shm \) \
		-prune -o -printf '%y %p %s\n' | sort)
	sqlite3 "$1/barge.db" .dump
}
# refused LABEL WANT DATA ARGS...: barged load exits 1, says WANT, changes nothing.
refused() {
	local label=$1 want=$2 data=$3 before; shift 3
	before=$(state "$data")
	if "$BARGED" load --data-dir "$data" "$@" >/dev/null 2>"$IT_TMP/err"; then
		it_fail "$label: refused"
		return
	fi
	it_check "$label: refused, saying '$want'" grep -qF -- "$want" "$IT_TMP/err"
	it_check_eq "$label: store unchanged" "$before" "$(state "$data")"
}

# --- signatures -----------------------------------------------------------------

D=$IT_TMP/signed
REQ=(--require-signature --keys-dir "$KEYS")
if "$BARGED" load --data-dir "$D" "${REQ[@]}" "$BASE" >"$IT_TMP/out" 2>"$IT_TMP/err"; then
	it_pass "a bundle signed by a trusted key loads with --require-signature"
else
	cat "$IT_TMP/err"
	it_fail "a bundle signed by a trusted key loads with --require-signature"
fi
KEYID=$(zstd -dcq "$BASE" | tar -xO barge.json.sig | jq -r .keyId)
it_check "the summary names the verified signer" grep -q "signed by $KEYID\$" "$IT_TMP/out"
refused "unsigned, --require-signature" "not signed" "$D" "${REQ[@]}" "$UNSIGNED"
refused "signed by an untrusted key" "not trusted" "$D" "${REQ[@]}" "$OTHER"
refused "untrusted key, keys configured, no requirement" "not trusted" "$D" --keys-dir "$KEYS" \
	"$OTHER"
refused "a signature of another barge.json" "does not match" "$D" "${REQ[@]}" \
	"$IT_TMP/swapped-1.0.0.tar.zst"
refused "a --keys-dir that does not exist" "No such file or directory" "$D" \
	--require-signature --keys-dir "$IT_TMP/no-such-dir" "$BASE"
mkdir -p "$IT_TMP/nokeys"
refused "--require-signature with an empty keys dir" "no trusted key" "$D" --require-signature \
	--keys-dir "$IT_TMP/nokeys" "$BASE"
if "$BARGED" load --data-dir "$D" "${REQ[@]}" --trusted-key "$IT_TMP/otherkeys/other.pub" \
	"$OTHER" >/dev/null 2>"$IT_TMP/err"; then
	it_pass "--trusted-key adds a trusted key"
else
	cat "$IT_TMP/err"
	it_fail "--trusted-key adds a trusted key"
fi
if "$BARGED" load --data-dir "$D" --keys-dir "$IT_TMP/nokeys" "$OTHER" >"$IT_TMP/out" 2>&1; then
	it_check "without keys a signature is shown, not verified" grep -q "not verified" \
		"$IT_TMP/out"
else
	it_fail "without keys and without --require-signature a signed bundle loads"
fi

# --- deltas ------------------------------------------------------------------------

D=$IT_TMP/delta-alone
"$BARGED" load --data-dir "$D" "$UNSIGNED" >/dev/null 2>&1 || it_die "loading plain failed"
refused "a delta without its base" "load the base bundle first" "$D" "$DELTA"
# Every required blob the store lacks is named (there are fewer than 8 here).
absent=""
for d in $(zstd -dcq "$DELTA" | tar -xO barge.json | jq -r '.requires[].digest'); do
	[ -f "$D/blobs/sha256/${d:7:2}/${d:7}" ] || absent="$absent $d"
done
listed=0
for d in $absent; do grep -qF "$d" "$IT_TMP/err" && listed=$((listed + 1)); done
it_check "some required blobs are missing" test -n "$absent"
it_check_eq "the refusal lists every missing blob" "$(wc -w <<<"$absent")" "$listed"

STICK=$IT_TMP/stick
mkdir -p "$STICK"
cp "$DELTA" "$STICK/a-edge-1.1.0.tar.zst"
cp "$BASE" "$STICK/b-edge-1.0.0.tar.zst"
D=$IT_TMP/delta-dir
if "$BARGED" load --data-dir "$D" "${REQ[@]}" "$STICK" >"$IT_TMP/out" 2>"$IT_TMP/err"; then
	it_pass "a directory with a delta and its base loads"
else
	cat "$IT_TMP/err"
	it_fail "a directory with a delta and its base loads"
fi
it_check_eq "the base loads before the delta" "1.0.0 1.1.0" \
	"$(sed -n 's/^loaded edge \([0-9.]*\).*/\1/p' "$IT_TMP/out" | xargs)"
it_check "fsck clean after the delta" "$BARGED" fsck --data-dir "$D"

PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$D" --listen "127.0.0.1:$PORT" \
	--plain-http --project edge
SERVE_PID=$IT_LAST_PID
it_wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" ||
	it_die "barged serve does not answer: $(cat "$IT_TMP/serve.log")"
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
for n in app-a multi app-b; do
	it_check_eq "$n:1.0 served with the upstream digest after base + delta" \
		"$(it_top_digest "$UP" "$n")" \
		"sha256:$(curl -sf -H "Accept: $ACCEPT" \
			"http://127.0.0.1:$PORT/v2/edge/docker.io/library/$n/manifests/1.0" |
			sha256sum | cut -d' ' -f1)"
done
it_stop "$SERVE_PID"

it_summary
