#!/usr/bin/env bash
# barge's CI side against a real docker-registry on 127.0.0.1: profiles with
# manifests and values -> images / resolve (lock pins the registry's
# digests) -> build --locked (byte-identical in two directories, still the
# pinned content after the tag moved, a clear failure once the pinned
# manifest is gone) -> delta bundles loaded by barged -> signed bundles,
# verify and inspect -> bad inputs that leave no output behind.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).
# IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl zstd tar sha256sum; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
# Relative paths below run from other directories.
BARGE=$(realpath "$BARGE")
BARGED=$(realpath "$BARGED")

it_tmpdir
T=$IT_TMP
it_log "generating sample images in $T"
# The big sample is not used here; keep it small so the test stays fast.
IT_BIG_BYTES=4096 it_make_sample_images "$T/images"
UP=$T/images
it_registry_start
it_push_samples "$UP"
REG=$IT_REGISTRY
MIRROR=(--registry-mirror "docker.io=http://$REG")
export SOURCE_DATE_EPOCH=1700000000

# child DIGEST-OF-INDEX-NAME ARCH: the digest of an index entry upstream.
child() {
	jq -r --arg a "$2" '.manifests[] | select(.platform.architecture == $a) | .digest' \
		"$UP/$1/blobs/sha256/$(it_top_digest "$UP" "$1" | cut -d: -f2)"
}
# entries BUNDLE: its tar entry names.
entries() { zstd -dcq "$1" | tar -t; }
# meta BUNDLE: its barge.json.
meta() { zstd -dcq "$1" | tar -xO barge.json; }

# --- profiles ---------------------------------------------------------------

mkdir -p "$T/prof/layers" "$T/prof/rendered" "$T/prof/values"
cat >"$T/prof/layers/base.yaml" <<'Y'
apiVersion: barge.dev/v1
kind: ClusterProfile
spec:
  platforms: [linux/amd64]
  packs:
    - name: base
      images: [docker.io/library/app-a:1.0]
Y
cat >"$T/prof/rendered/app.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: app-b}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-b}
spec:
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec:
      initContainers:
        - {name: init, image: "app-a:1.0"}
      containers:
        - name: b
          image: app-b:1.0
Y
cat >"$T/prof/values/multi.yaml" <<'Y'
multi:
  image:
    registry: docker.io
    repository: library/multi
    tag: "1.0"
    pullPolicy: IfNotPresent
Y
cat >"$T/prof/edge.yaml" <<'Y'
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: edge, version: 2.0.0}
spec:
  include: [layers/base.yaml]
  platforms: [linux/amd64, linux/arm64]
  packs:
    - name: app
      manifests: [rendered/app.yaml]
    - name: multi
      values: [values/multi.yaml]
    - name: legacy
      images: [docker.io/library/docker2:1.0, docker.io/library/big:1.0]
  exclude: ["docker.io/library/big:*"]
Y
cat >"$T/prof/base-only.yaml" <<'Y'
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: edge, version: 1.0.0}
spec:
  platforms: [linux/amd64, linux/arm64]
  packs:
    - name: old
      images: [docker.io/library/app-a:1.0, docker.io/library/app-b:1.0]
Y
PROFILE=$T/prof/edge.yaml
SOURCES='["docker.io/library/app-a:1.0","docker.io/library/app-b:1.0","docker.io/library/multi:1.0","docker.io/library/docker2:1.0"]'

# --- images -----------------------------------------------------------------

it_log "barge images"
if "$BARGE" images "$PROFILE" --no-resolve --output json >"$T/images0.json" 2>"$T/images0.err"; then
	it_check_eq "images --no-resolve: every source, in order, big excluded" "$SOURCES" \
		"$(jq -c '[.images[].source]' "$T/images0.json")"
	it_check_eq "images --no-resolve: app-a from pack base and pack app (initContainer)" \
		'base layers/base.yaml:7:16 app rendered/app.yaml:15:31' \
		"$(jq -r '.images[0].origins | map("\(.pack) \(.file | sub(".*/prof/"; "")):\(.line):\(.column)") | join(" ")' "$T/images0.json")"
	it_check_eq "images --no-resolve: multi from the values file" \
		'multi values/multi.yaml:4' \
		"$(jq -r '.images[2].origins[0] | "\(.pack) \(.file | sub(".*/prof/"; "")):\(.line)"' "$T/images0.json")"
	it_check_eq "images --no-resolve: no digests" null "$(jq -c '.images[0].digest' "$T/images0.json")"
else
	cat "$T/images0.err"
	it_fail "barge images --no-resolve exits 0"
fi
if "$BARGE" images "$PROFILE" "${MIRROR[@]}" --output json >"$T/images.json" 2>"$T/images.err"; then
	want=""
	got=""
	for n in app-a app-b multi docker2; do
		want="$want $(it_top_digest "$UP" $n)"
	done
	it_check_eq "images --output json: digests are the registry's" "${want# }" \
		"$(jq -r '[.images[].digest] | join(" ")' "$T/images.json")"
	it_check_eq "images --output json: platforms" '["linux/amd64","linux/arm64/v8"]' \
		"$(jq -c .platforms "$T/images.json")"
	it_check_eq "images --output json: multi's platform manifests" \
		"$(child multi amd64) $(child multi arm64)" \
		"$(jq -r '.images[2].manifests | map(.digest) | join(" ")' "$T/images.json")"
else
	cat "$T/images.err"
	it_fail "barge images exits 0"
fi
"$BARGE" images "$PROFILE" "${MIRROR[@]}" >"$T/images.txt" 2>/dev/null || true
it_check "images (text): one line per image with digest and origin" \
	grep -q "^docker.io/library/app-b:1.0	$(it_top_digest "$UP" app-b)	app " "$T/images.txt"

# --- resolve ----------------------------------------------------------------

it_log "barge resolve"
LOCK=$T/edge.lock.json
if "$BARGE" resolve "$PROFILE" "${MIRROR[@]}" --output-file "$LOCK" 2>"$T/resolve.err"; then
	it_pass "barge resolve exits 0"
else
	cat "$T/resolve.err"
	it_die "barge resolve failed"
fi
for n in app-a app-b multi docker2; do
	it_check_eq "lock pins $n:1.0 to the registry's digest" "$(it_top_digest "$UP" $n)" \
		"$(jq -r --arg s "docker.io/library/$n:1.0" '.images[] | select(.source == $s) | .digest' "$LOCK")"
done
it_check_eq "lock keeps multi's amd64 and arm64 manifests" \
	"linux/amd64=$(child multi amd64) linux/arm64/v8=$(child multi arm64)" \
	"$(jq -r '.images[] | select(.source == "docker.io/library/multi:1.0") | .manifests | map("\(.platform)=\(.digest)") | join(" ")' "$LOCK")"
it_check_eq "lock records every file read with its sha256" \
	"$(sha256sum "$PROFILE" "$T/prof/layers/base.yaml" "$T/prof/rendered/app.yaml" "$T/prof/values/multi.yaml" | awk '{printf "sha256:%s ", $1}')" \
	"$(jq -r '.files | map(.sha256) | join(" ")' "$LOCK") "
it_check_eq "lock: name, version, project" "edge 2.0.0 edge" \
	"$(jq -r '"\(.name) \(.version) \(.project)"' "$LOCK")"
"$BARGE" resolve "$PROFILE" "${MIRROR[@]}" >"$T/lock-stdout.json" 2>/dev/null
it_check "resolve twice gives the same lock" cmp "$LOCK" "$T/lock-stdout.json"

# -o/--output is a format in every verb; where a verb writes, --output-file
# (or --output-dir) names the path, and a path given to -o is refused.
it_log "-o/--output: a format, never a path"
(cd "$T" && "$BARGE" resolve "$PROFILE" "${MIRROR[@]}" --output json >lock-json.out 2>/dev/null) ||
	it_fail "resolve --output json exits 0"
it_check "resolve --output json writes no file named json" test ! -e "$T/json"
it_check "resolve --output json prints the lock" cmp "$LOCK" "$T/lock-json.out"
it_check_eq "resolve -o yaml prints the lock as YAML" "$(jq -c . "$LOCK")" \
	"$("$BARGE" resolve "$PROFILE" "${MIRROR[@]}" -o yaml 2>/dev/null | it_yaml2json)"
"$BARGE" resolve "$PROFILE" "${MIRROR[@]}" --output-file "$T/lock2.json" -o json >"$T/lock2.out" 2>/dev/null
it_check "resolve --output-file F -o json: the file and stdout are the lock" \
	cmp "$T/lock2.json" "$T/lock2.out"
(cd "$T" && it_check_refused "resolve -o lock.json is refused, naming --output-file" \
	"resolve: -o/--output lock.json: not a format (json, yaml, text); to write the lock file use --output-file lock.json" \
	"$BARGE" resolve "$PROFILE" "${MIRROR[@]}" -o lock.json)
it_check "a refused resolve -o lock.json writes no lock.json" test ! -e "$T/lock.json"
it_check_refused "resolve --output=text: the lock has no text form" \
	"-o/--output text: this verb prints json, yaml" "$BARGE" resolve "$PROFILE" --output=text
it_check_refused "build -o FILE is refused, naming --output-file" \
	"to write the bundle use --output-file $T/o.tar.zst" \
	"$BARGE" build --locked "$LOCK" -o "$T/o.tar.zst"
it_check "a refused build -o FILE writes nothing" test ! -e "$T/o.tar.zst"
it_check_refused "keygen -o PREFIX is refused, naming --out" \
	"to write the key pair use --out $T/kx" "$BARGE" keygen -o "$T/kx"
it_check "a refused keygen -o PREFIX writes no key" test ! -e "$T/kx.key"
it_check_refused "images -o FILE is refused" "-o/--output $T/i.json: not a format (json, yaml, text)" \
	"$BARGE" images "$PROFILE" --no-resolve -o "$T/i.json"
it_check_refused "images --output xml is refused" "not a format (json, yaml, text)" \
	"$BARGE" images "$PROFILE" --no-resolve --output xml
it_check_eq "images -o yaml equals -o json" \
	"$("$BARGE" images "$PROFILE" --no-resolve -o json | jq -c .)" \
	"$("$BARGE" images "$PROFILE" --no-resolve -o yaml | it_yaml2json)"

# --- build --locked: reproducible in different directories ------------------

it_log "barge build --locked, twice, in two directories"
mkdir -p "$T/dir1" "$T/dir2"
(cd "$T/dir1" && "$BARGE" build --locked "$LOCK" "${MIRROR[@]}" --cache-dir cache \
	--output-file edge.tar.zst --jobs 2 --level 5 >build.out 2>build.err) || { cat "$T/dir1/build.err"; it_fail "build --locked in dir1 exits 0"; }
(cd "$T/dir2" && cp "$LOCK" lock.json && "$BARGE" build --locked lock.json "${MIRROR[@]}" \
	--cache-dir "$T/dir2/c" --output-file out.tar.zst --level 5 2>build.err) || { cat "$T/dir2/build.err"; it_fail "build --locked in dir2 exits 0"; }
B1=$T/dir1/edge.tar.zst
it_check_eq "build --locked twice in two directories: same sha256" \
	"$(it_sha256 "$B1")" "$(it_sha256 "$T/dir2/out.tar.zst" 2>/dev/null || echo none)"
it_check_eq "off a terminal: a one-line summary on stdout" \
	"1 wrote edge.tar.zst: 4 images" "$(wc -l <"$T/dir1/build.out") $(cut -d, -f1 "$T/dir1/build.out")"
it_check "off a terminal: no progress bars (escape sequences) on stderr" \
	test "$(grep -c $'\033' "$T/dir1/build.err")" = 0
# On a terminal the bundle being written has a line of its own, whose total
# is the bytes of the bundle's entries and whose bar is full only once the
# bundle is written: the pull bars alone stood at 100 % while a level-19
# compression went on for seconds.
if command -v script >/dev/null; then
	script -qec "cd '$T/dir1' && '$BARGE' build --locked '$LOCK' ${MIRROR[*]} --cache-dir cache \
		--output-file tty.tar.zst --level 19" /dev/null 2>&1 | tr -d '\r' >"$T/tty.out" || true
	total=$(zstd -dcq "$T/dir1/tty.tar.zst" | tar -tv | awk '{ s += $3 } END { print s }')
	# As fmtsize writes it.
	want=$(awk -v n="$total" 'BEGIN { if (n < 1024) { printf "%d B", n; exit }
		split("KiB MiB GiB TiB PiB", u); v = n / 1024; i = 1
		while (v >= 1024 && i < 5) { v /= 1024; i++ }
		printf "%.1f %s", v, u[i] }')
	it_check "on a terminal: a line for the bundle, of its entries' $want" \
		grep -qE "/ $want +.*(writing|bundle written)" "$T/tty.out"
	it_check "on a terminal: the bundle's bar is full only once it is written" \
		sh -c "! grep -F '/ $want' '$T/tty.out' | grep -F '[########################]' | grep -vqF 'bundle written'"
else
	it_log "skipped: no script(1) to give barge a terminal"
fi
it_check_eq "bundle images pinned to the lock" \
	"$(jq -c '[.images[].digest]' "$LOCK")" "$(meta "$B1" | jq -c '[.images[].digest]')"
# The same profile built without a lock, resolved now, is the same bundle.
"$BARGE" build "$PROFILE" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" --output-file "$T/fromprofile.tar.zst" \
	--level 5 2>/dev/null
it_check_eq "build PROFILE equals build --locked of its fresh lock" \
	"$(it_sha256 "$B1")" "$(it_sha256 "$T/fromprofile.tar.zst" 2>/dev/null || echo none)"
# --output json: the summary on stdout for CI.
"$BARGE" build --locked "$LOCK" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" --output-file "$T/j.tar.zst" \
	--level 5 --output json >"$T/build.json" 2>/dev/null || true
it_check_eq "build --output json: digest is barge.json's sha256" \
	"sha256:$(meta "$B1" | sha256sum | cut -d' ' -f1)" "$(jq -r .digest "$T/build.json")"
it_check_eq "build --output json: counts" "4 $(entries "$B1" | grep -c '^blobs/')" \
	"$(jq -r '"\(.images) \(.blobs)"' "$T/build.json")"

# The summary's blob counts add up, on a cold cache and a warm one, in JSON
# and in text: every blob the bundle carries was downloaded or taken from the
# cache.  Manifests are fetched by digest on every build; configs and layers
# come from the cache once they are in it.
it_log "build summary: downloaded + cached = blobs, cold and warm"
nman=$(jq '[.images[] | 1 + (.manifests | length)] | add' "$LOCK")
nblobs=$(entries "$B1" | grep -c '^blobs/')
for run in cold warm; do
	if [ $run = cold ]; then want="$nblobs 0"; else want="$nman $((nblobs - nman))"; fi
	if "$BARGE" build --locked "$LOCK" "${MIRROR[@]}" --cache-dir "$T/count-json" \
		--output-file "$T/count.tar.zst" --level 1 -o json >"$T/count-$run.json" 2>"$T/count-$run.err"; then
		it_check_eq "build --output json, $run cache: downloadedBlobs + cachedBlobs = blobs" \
			"$nblobs" "$(jq '.downloadedBlobs + .cachedBlobs' "$T/count-$run.json")"
		it_check_eq "build --output json, $run cache: downloaded, cached" "$want" \
			"$(jq -r '"\(.downloadedBlobs) \(.cachedBlobs)"' "$T/count-$run.json")"
	else
		cat "$T/count-$run.err"
		it_fail "build --output json ($run cache) exits 0"
	fi
	"$BARGE" build --locked "$LOCK" "${MIRROR[@]}" --cache-dir "$T/count-text" \
		--output-file "$T/count.tar.zst" --level 1 >"$T/count-$run.txt" 2>/dev/null || true
	it_check_eq "build summary text, $run cache: N blobs (D downloaded, C cached" \
		"$nblobs $want" \
		"$(sed -nE 's/.* ([0-9]+) blobs \(([0-9]+) downloaded, ([0-9]+) cached.*/\1 \2 \3/p' "$T/count-$run.txt")"
done

# A profile naming other images than the lock is refused, naming them.
sed 's|docker.io/library/docker2:1.0, ||' "$PROFILE" >"$T/prof/edge-less.yaml"
if "$BARGE" build "$T/prof/edge-less.yaml" --locked "$LOCK" "${MIRROR[@]}" \
	--cache-dir "$T/dir1/cache" --output-file "$T/mismatch.tar.zst" 2>"$T/mismatch.err"; then
	it_fail "build PROFILE --locked LOCK with other images exits non-zero"
else
	it_check "profile/lock mismatch names docker2" grep -q "only in the lock: docker.io/library/docker2:1.0" "$T/mismatch.err"
fi
it_check "profile/lock mismatch: no output file" test ! -e "$T/mismatch.tar.zst"

# --- inspect and verify -----------------------------------------------------

it_log "barge inspect / verify"
"$BARGE" inspect "$B1" --output json >"$T/inspect.json"
it_check_eq "inspect json: images" "$SOURCES" "$(jq -c '[.images[].source]' "$T/inspect.json")"
it_check_eq "inspect json: blob count equals blob entries" \
	"$(entries "$B1" | grep -c '^blobs/')" "$(jq .blobs "$T/inspect.json")"
it_check_eq "inspect json: unsigned" "false null" "$(jq -r '"\(.signed) \(.keyId)"' "$T/inspect.json")"
base_layer=$(jq -r '.layers[0].digest' "$UP/app-a/blobs/sha256/$(it_top_digest "$UP" app-a | cut -d: -f2)")
base_size=$(jq -r '.layers[0].size' "$UP/app-a/blobs/sha256/$(it_top_digest "$UP" app-a | cut -d: -f2)")
# app-a, app-b, multi and docker2 all have the same base layer: 3 copies saved.
it_check_eq "inspect json: bytes saved by sharing (the base layer, 3 times)" \
	"$((base_size * 3))" "$(jq .sharedBytes "$T/inspect.json")"
it_check_eq "inspect json: tags and platforms" '["1.0"] ["linux/amd64","linux/arm64/v8"]' \
	"$(jq -c '.images[0].tags' "$T/inspect.json") $(jq -c .platforms "$T/inspect.json")"
it_check "verify of a sound unsigned bundle exits 0" "$BARGE" verify "$B1"
"$BARGE" verify "$B1" -o json >"$T/verify.json" 2>/dev/null || it_fail "verify -o json exits 0"
it_check_eq "verify -o json: ok, every blob, unsigned" \
	"true $(entries "$B1" | grep -c '^blobs/') false null false" \
	"$(jq -r '"\(.ok) \(.blobs) \(.signed) \(.keyId) \(.signatureChecked)"' "$T/verify.json")"
it_check_eq "inspect -o yaml equals -o json" "$(jq -c . "$T/inspect.json")" \
	"$("$BARGE" inspect "$B1" -o yaml | it_yaml2json)"
it_check_refused "inspect -o FILE is refused" "not a format (json, yaml, text)" \
	"$BARGE" inspect "$B1" -o "$T/inspect.out"

# --- signing ----------------------------------------------------------------

it_log "signing"
# k1's key id comes from -o json: the signature checks below hold it to the real key.
"$BARGE" keygen --out "$T/k1" -o json >"$T/k1.json"
"$BARGE" keygen --out "$T/k2" >"$T/k2.out"
KEYID=$(jq -r .keyId "$T/k1.json")
it_check_eq "keygen -o json: the files" "$T/k1.key $T/k1.pub" \
	"$(jq -r '"\(.privateKey) \(.publicKey)"' "$T/k1.json")"
it_check "keygen (text): the key id" grep -Eq "^wrote $T/k2.key and $T/k2.pub: key id sha256:[0-9a-f]{64}$" "$T/k2.out"
it_check_eq "keygen: private key mode 0600" 600 "$(stat -c %a "$T/k1.key")"
if "$BARGE" build --locked "$LOCK" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" \
	--output-file "$T/signed.tar.zst" --sign-key "$T/k1.key" 2>"$T/signed.err"; then
	it_check_eq "signed bundle: barge.json.sig is the second entry" \
		"barge.json barge.json.sig" "$(entries "$T/signed.tar.zst" | head -2 | tr '\n' ' ' | sed 's/ $//')"
	it_check "verify --key with the signing key exits 0" \
		"$BARGE" verify "$T/signed.tar.zst" --key "$T/k1.pub"
	if "$BARGE" verify "$T/signed.tar.zst" --key "$T/k2.pub" >/dev/null 2>"$T/wrongkey.err"; then
		it_fail "verify with the wrong key exits non-zero"
	else
		it_pass "verify with the wrong key exits non-zero"
	fi
	it_check "verify without --key reports the key id" \
		grep -q "signed by $KEYID" <("$BARGE" verify "$T/signed.tar.zst")
	it_check_eq "verify --key -o json: signed by the trusted key" "true true $KEYID true" \
		"$("$BARGE" verify "$T/signed.tar.zst" --key "$T/k1.pub" -o json | jq -r '"\(.ok) \(.signed) \(.keyId) \(.signatureChecked)"')"
	it_check_eq "inspect json: signature key id" "true $KEYID" \
		"$("$BARGE" inspect "$T/signed.tar.zst" --output json | jq -r '"\(.signed) \(.keyId)"')"
	it_check "barged load of the signed bundle exits 0" \
		"$BARGED" load --data-dir "$T/signed-store" "$T/signed.tar.zst"
	if "$BARGE" verify "$B1" --key "$T/k1.pub" >/dev/null 2>"$T/unsigned.err"; then
		it_fail "verify --key of an unsigned bundle exits non-zero"
	else
		it_check "verify --key of an unsigned bundle says so" grep -q "not signed" "$T/unsigned.err"
	fi

	# Tampered: one byte of the app-b layer changed inside a well-formed tar.
	zstd -dcq "$T/signed.tar.zst" >"$T/t.tar"
	layer=$(jq -r '.layers[1].digest' "$UP/app-b/blobs/sha256/$(it_top_digest "$UP" app-b | cut -d: -f2)")
	blk=$(tar -tvR -f "$T/t.tar" | awk -v p="blobs/sha256/${layer#sha256:}" '$NF == p {sub(":", "", $2); print $2}')
	it_flip_byte "$T/t.tar" $(((blk + 1) * 512 + 10))
	zstd -qf "$T/t.tar" -o "$T/tampered.tar.zst"
	if "$BARGE" verify "$T/tampered.tar.zst" --key "$T/k1.pub" >/dev/null 2>"$T/tampered.err"; then
		it_fail "verify of a bundle with a tampered layer exits non-zero"
	else
		it_check "tampered layer: verify names the entry" grep -q "blobs/sha256/${layer#sha256:}" "$T/tampered.err"
	fi
	rc=0
	"$BARGE" verify "$T/tampered.tar.zst" -o json >"$T/tampered.json" 2>/dev/null || rc=$?
	it_check_eq "verify -o json of a tampered bundle: exit 1, ok false, the entry named" \
		"1 false true" \
		"$rc $(jq -r --arg e "blobs/sha256/${layer#sha256:}" '"\(.ok) \(.error | contains($e))"' "$T/tampered.json")"
	# Tampered barge.json: the signature no longer matches.
	mkdir -p "$T/re"
	tar -C "$T/re" -xf <(zstd -dcq "$T/signed.tar.zst")
	sed -i 's/"version": "2.0.0"/"version": "2.0.1"/' "$T/re/barge.json"
	(cd "$T/re" && entries "$T/signed.tar.zst" | tar -cf - --format=posix -T - | zstd -q -o "$T/resigned.tar.zst")
	if "$BARGE" verify "$T/resigned.tar.zst" --key "$T/k1.pub" >/dev/null 2>"$T/resigned.err"; then
		it_fail "verify of a bundle with an edited barge.json exits non-zero"
	else
		it_pass "verify of a bundle with an edited barge.json exits non-zero"
	fi
else
	cat "$T/signed.err"
	it_fail "build --sign-key exits 0"
fi

# --- delta ------------------------------------------------------------------

it_log "delta bundles"
"$BARGE" resolve "$T/prof/base-only.yaml" "${MIRROR[@]}" --output-file "$T/base.lock.json" 2>/dev/null
"$BARGE" build --locked "$T/base.lock.json" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" \
	--output-file "$T/base.tar.zst" 2>/dev/null
for kind in bundle lock; do
	if [ $kind = bundle ]; then base=$T/base.tar.zst; else base=$T/base.lock.json; fi
	if "$BARGE" build --locked "$LOCK" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" \
		--base "$base" --output-file "$T/delta-$kind.tar.zst" 2>"$T/delta-$kind.err"; then
		it_pass "build --base ($kind) exits 0"
	else
		cat "$T/delta-$kind.err"
		it_fail "build --base ($kind) exits 0"
	fi
done
D=$T/delta-bundle.tar.zst
base_blobs=$(meta "$T/base.tar.zst" | jq -r '.blobs[].digest' | sort)
it_check_eq "delta requires exactly the base's blobs it uses (all of them here)" \
	"$base_blobs" "$(meta "$D" | jq -r '.requires[].digest' | sort)"
left=0
for d in $base_blobs; do
	if entries "$D" | grep -qx "blobs/sha256/${d#sha256:}"; then left=$((left + 1)); fi
done
it_check_eq "delta carries none of the base's blobs" 0 "$left"
it_check "delta carries multi's arm64 manifest" grep -qx "blobs/sha256/$(child multi arm64 | cut -d: -f2)" <(entries "$D")
it_check_eq "delta from a base lock equals delta from the base bundle" \
	"$(it_sha256 "$D")" "$(it_sha256 "$T/delta-lock.tar.zst")"
if "$BARGED" load --data-dir "$T/empty-store" "$D" >/dev/null 2>"$T/delta-alone.err"; then
	it_fail "barged load of a delta without its base exits non-zero"
else
	it_check "delta without base: loader says to load the base first" grep -q "load the base bundle first" "$T/delta-alone.err"
fi
if "$BARGED" load --data-dir "$T/store" "$T/base.tar.zst" >/dev/null 2>"$T/load-base.err" &&
	"$BARGED" load --data-dir "$T/store" "$D" >/dev/null 2>"$T/load-delta.err"; then
	it_pass "barged load of the base, then the delta, exits 0"
else
	cat "$T/load-base.err" "$T/load-delta.err"
	it_fail "barged load of the base, then the delta, exits 0"
fi
it_check "verify of a delta bundle exits 0" "$BARGE" verify "$D"

# --- the tag moves upstream; then the pinned manifest disappears -------------

it_log "upstream moves"
skopeo copy -q --all --preserve-digests --dest-tls-verify=false \
	"oci:$UP/app-b:1.0" "docker://$REG/library/app-a:1.0" >&2
it_check_eq "upstream app-a:1.0 now serves app-b's manifest" "$(it_top_digest "$UP" app-b)" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://$REG/library/app-a:1.0" | sha256sum | cut -d' ' -f1)"
(cd "$T/dir2" && "$BARGE" build --locked lock.json "${MIRROR[@]}" --cache-dir "$T/dir2/c" \
	--output-file moved.tar.zst --level 5 2>moved.err) || cat "$T/dir2/moved.err"
it_check_eq "after the tag moved, build --locked gives the same bundle" \
	"$(it_sha256 "$B1")" "$(it_sha256 "$T/dir2/moved.tar.zst" 2>/dev/null || echo none)"
curl -sf -X DELETE "http://$REG/v2/library/app-a/manifests/$(it_top_digest "$UP" app-a)" >/dev/null ||
	it_fail "deleting the pinned app-a manifest from the registry"
if (cd "$T/dir2" && "$BARGE" build --locked lock.json "${MIRROR[@]}" --cache-dir "$T/dir2/c" \
	--output-file gone.tar.zst 2>gone.err); then
	it_fail "build --locked with the pinned manifest gone exits non-zero"
else
	it_check "pinned manifest gone: error names the image and digest" \
		grep -q "docker.io/library/app-a:1.0: pinned manifest $(it_top_digest "$UP" app-a) can no longer be fetched" "$T/dir2/gone.err"
	sed 's/^/  stderr: /' "$T/dir2/gone.err" | head -2
fi
it_check "pinned manifest gone: no output file" test ! -e "$T/dir2/gone.tar.zst"

# --- bad input --------------------------------------------------------------

it_log "bad input"
# bad_input NAME EXPECTED-TEXT: `barge build` of $T/bad/NAME.yaml fails with
# EXPECTED-TEXT on stderr and leaves no bundle.
mkdir -p "$T/bad"
bad_input() {
	local name=$1 want=$2
	if "$BARGE" build "$T/bad/$name.yaml" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" \
		--output-file "$T/bad/$name.tar.zst" 2>"$T/bad/$name.err"; then
		it_fail "$name: build exits non-zero"
	else
		it_check "$name: error says \"$want\"" grep -qF "$want" "$T/bad/$name.err"
	fi
	it_check "$name: no output file" test ! -e "$T/bad/$name.tar.zst"
}
printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: x, version: "1"\nspec: {}\n' >"$T/bad/malformed.yaml"
bad_input malformed "malformed.yaml:"
printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: x, version: "1"}\nspec:\n  pakcs: []\n' >"$T/bad/unknown.yaml"
bad_input unknown 'unknown.yaml:5:3: unknown key "pakcs"; did you mean "packs"?'
printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: x, version: "1"}\nspec:\n  include: [cycle2.yaml]\n  packs: [{name: a, images: [app-a:1.0]}]\n' >"$T/bad/cycle.yaml"
printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nspec:\n  include: [cycle.yaml]\n' >"$T/bad/cycle2.yaml"
bad_input cycle "include cycle: $T/bad/cycle.yaml -> $T/bad/cycle2.yaml -> $T/bad/cycle.yaml"
printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: x, version: "1"}\nspec:\n  packs:\n    - name: extra\n      images:\n        - app-b:1.0\n        - nosuch:9.9\n' >"$T/bad/missing.yaml"
bad_input missing "pack \"extra\" ($T/bad/missing.yaml:9): docker.io/library/nosuch:9.9"
if "$BARGE" resolve "$T/bad/missing.yaml" "${MIRROR[@]}" --output-file "$T/bad/missing.lock" 2>/dev/null; then
	it_fail "resolve of a missing image exits non-zero"
else
	it_check "resolve of a missing image leaves no lock" test ! -e "$T/bad/missing.lock"
fi
# Every image that cannot be resolved is reported, not only the first; then
# the build fails with status 1 and writes nothing.
printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: x, version: "1"}\nspec:\n  packs:\n    - name: extra\n      images:\n        - nosuch:9.9\n        - app-b:1.0\n        - alsonot:1.0\n' >"$T/bad/missing2.yaml"
for verb in build resolve; do
	rc=0
	if [ $verb = build ]; then
		"$BARGE" build "$T/bad/missing2.yaml" "${MIRROR[@]}" --cache-dir "$T/dir1/cache" \
			--output-file "$T/bad/missing2.out" >/dev/null 2>"$T/bad/missing2-$verb.err" || rc=$?
	else
		"$BARGE" resolve "$T/bad/missing2.yaml" "${MIRROR[@]}" \
			>"$T/bad/missing2.stdout" 2>"$T/bad/missing2-$verb.err" || rc=$?
		it_check "resolve, two images missing: no lock on stdout" test ! -s "$T/bad/missing2.stdout"
	fi
	it_check_eq "$verb, two images missing: exit status 1" 1 "$rc"
	for img in "8): docker.io/library/nosuch:9.9" "10): docker.io/library/alsonot:1.0"; do
		it_check "$verb, two images missing: names pack \"extra\" ($T/bad/missing2.yaml:$img with the registry's answer" \
			grep -qE "pack \"extra\" \($T/bad/missing2.yaml:${img//./\\.}.*(manifest unknown|not found)" "$T/bad/missing2-$verb.err"
	done
	it_check "$verb, two images missing: says how many" \
		grep -qF "2 of 3 images could not be resolved" "$T/bad/missing2-$verb.err"
	it_check "$verb, two images missing: no output" test ! -e "$T/bad/missing2.out"
done
sed 's/^/  stderr: /' "$T/bad/missing2-build.err"
printf '{"lockVersion": 1, "name": "x"}' >"$T/bad/lock.json"
if "$BARGE" build --locked "$T/bad/lock.json" --output-file "$T/bad/lock.tar.zst" 2>"$T/bad/lock.err"; then
	it_fail "build --locked of a bad lock exits non-zero"
else
	it_check "bad lock: error names the field" grep -q "lock.json: version: missing" "$T/bad/lock.err"
fi
it_check "no temporary files left next to outputs" test -z "$(find "$T" -name '*.tmp*' -o -name '.*.tar.zst.*' | head -1)"

it_summary
