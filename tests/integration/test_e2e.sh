#!/usr/bin/env bash
# End-to-end: generated images in a real docker-registry -> `barge build` ->
# `barged load` -> `barged serve` (HTTPS and plain HTTP) -> pulled back with
# skopeo and containerd.  Every check compares what a user would compare:
# manifest digests, blob bytes, exit codes and error text.  Only 127.0.0.1.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).  Needs root
# for containerd.  IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
IMAGES=(app-a app-b multi big docker2)

for tool in "$BARGE" "$BARGED" docker-registry skopeo containerd ctr jq curl zstd tar openssl; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
it_log "generating sample images in $IT_TMP"
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
it_push_samples "$UP"
it_log "upstream docker-registry at $IT_REGISTRY"

# --- helpers ----------------------------------------------------------------

# blob_dir NAME: where the upstream blobs of sample NAME are.
blob_dir() {
	if [ -d "$UP/$1/blobs/sha256" ]; then echo "$UP/$1/blobs/sha256"; else echo "$UP/$1"; fi
}

# manifest_file NAME [DIGEST]: the upstream file holding a manifest of
# sample NAME (default: its top-level one).
manifest_file() {
	local d=${2:-$(it_top_digest "$UP" "$1")}
	if [ -f "$(blob_dir "$1")/${d#sha256:}" ]; then
		echo "$(blob_dir "$1")/${d#sha256:}"
	else
		echo "$UP/$1/manifest.json"
	fi
}

# layers NAME [PLATFORM-MANIFEST-DIGEST]: the layer digests of an image.
layers() { jq -r '.layers[].digest' "$(manifest_file "$@")"; }

# child_digests NAME: the manifests an index lists (empty for an image).
child_digests() { jq -r '.manifests[]?.digest' "$(manifest_file "$1")"; }

# raw_digest TLSARGS... REF: sha256 of the manifest bytes served for REF.
raw_digest() {
	skopeo inspect --raw "$@" >"$IT_TMP/raw" || return 1
	echo "sha256:$(it_sha256 "$IT_TMP/raw")"
}

# same_blobs OUT UPSTREAM: OUT's blob files are named by their sha256 and
# are exactly UPSTREAM's blob files, byte for byte, none missing or extra.
same_blobs() {
	local out=$1 up=$2 f n=0
	for f in "$out"/*; do
		case ${f##*/} in manifest.json | version | oci-layout | index.json) continue ;; esac
		[ "$(it_sha256 "$f")" = "${f##*/}" ] || { echo "bad digest: $f"; return 1; }
		cmp -s "$f" "$up/${f##*/}" || { echo "differs from upstream: ${f##*/}"; return 1; }
		n=$((n + 1))
	done
	for f in "$up"/*; do
		case ${f##*/} in manifest.json | version | oci-layout | index.json) continue ;; esac
		[ -f "$out/${f##*/}" ] || { echo "missing: ${f##*/}"; return 1; }
	done
	if [ -f "$up/manifest.json" ]; then
		cmp -s "$out/manifest.json" "$up/manifest.json" || { echo "manifest differs"; return 1; }
	fi
	[ "$n" -gt 0 ]
}

# serve NAME ARGS...: start `barged serve` in the background, logging to
# IT_TMP/NAME.log; the end of the test stops each one and checks its exit.
SERVES=()
serve() {
	local name=$1; shift
	it_spawn "$IT_TMP/$name.log" "$BARGED" serve "$@"
	SERVES+=("$name:$IT_LAST_PID")
}

# answers URL CURLARGS...: the server answers /v2/ with any HTTP status.
answers() {
	local url=$1 code; shift
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url") || return 1
	[ "$code" != 000 ]
}

# --- build ------------------------------------------------------------------

cat >"$IT_TMP/profile.yaml" <<EOF
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: e2e, version: 1.0.0}
spec:
  platforms: [linux/amd64, linux/arm64]
  project: edge
  packs:
    - name: base
      images:
        - docker.io/library/app-a:1.0
        - docker.io/library/app-b:1.0
        - docker.io/library/multi:1.0
        - docker.io/library/big:1.0
        - docker.io/library/docker2:1.0
EOF

MIRROR=(--registry-mirror "docker.io=http://$IT_REGISTRY")
BUNDLE=$IT_TMP/e2e-1.0.0.tar.zst
export SOURCE_DATE_EPOCH=0
it_log "barge build"
if "$BARGE" build "$IT_TMP/profile.yaml" --output-file "$BUNDLE" "${MIRROR[@]}" \
	--cache-dir "$IT_TMP/cache" 2>"$IT_TMP/build.err"; then
	it_pass "barge build exits 0"
else
	cat "$IT_TMP/build.err"
	it_fail "barge build exits 0"
	it_die "cannot go on without a bundle"
fi
it_check "bundle file written" test -s "$BUNDLE"

# The bundle is a zstd-compressed tar: barge.json first, then an OCI layout
# holding every upstream blob.
zstd -dcq "$BUNDLE" >"$IT_TMP/bundle.tar"
tar -tf "$IT_TMP/bundle.tar" >"$IT_TMP/bundle.list"
it_check_eq "bundle starts with barge.json" barge.json "$(head -1 "$IT_TMP/bundle.list")"
missing=0
for n in "${IMAGES[@]}"; do
	for f in "$(blob_dir "$n")"/* "$(it_top_digest "$UP" "$n")"; do
		f=${f#sha256:}
		case ${f##*/} in manifest.json | version) continue ;; esac
		grep -qx "blobs/sha256/${f##*/}" "$IT_TMP/bundle.list" || {
			echo "not in bundle: $n ${f##*/}"
			missing=$((missing + 1))
		}
	done
done
it_check_eq "bundle holds every upstream blob" 0 "$missing"
it_check_eq "bundle holds each blob once" "" "$(sort "$IT_TMP/bundle.list" | uniq -d)"

# Reproducible: a second build (from the cache) gives the same bytes.
if "$BARGE" build "$IT_TMP/profile.yaml" --output-file "$IT_TMP/again.tar.zst" "${MIRROR[@]}" \
	--cache-dir "$IT_TMP/cache" 2>"$IT_TMP/build2.err"; then
	it_check "rebuild is byte-identical" cmp "$BUNDLE" "$IT_TMP/again.tar.zst"
else
	cat "$IT_TMP/build2.err"
	it_fail "second barge build exits 0"
fi
rm -f "$IT_TMP/again.tar.zst"

# --platform keeps only that platform of a multi-arch image: the index
# bytes stay (so its digest does), the other platform's manifest and its
# own layer are left out.
sed -n '1,/images:/p' "$IT_TMP/profile.yaml" >"$IT_TMP/multi.yaml"
echo "        - docker.io/library/multi:1.0" >>"$IT_TMP/multi.yaml"
if "$BARGE" build "$IT_TMP/multi.yaml" --output-file "$IT_TMP/arm64.tar.zst" "${MIRROR[@]}" \
	--platform linux/arm64 --cache-dir "$IT_TMP/cache" 2>"$IT_TMP/build3.err"; then
	zstd -dcq "$IT_TMP/arm64.tar.zst" | tar -t >"$IT_TMP/arm64.list"
	child() { jq -r --arg a "$1" '.manifests[] | select(.platform.architecture == $a) | .digest' \
		"$(manifest_file multi)"; }
	# Expected: "+D" for blobs that must be in, "-D" for those left out.
	want="+$(it_top_digest "$UP" multi) +$(child arm64)"
	for d in $(layers multi "$(child arm64)"); do want="$want +$d"; done
	want="$want -$(child amd64) -$(layers multi "$(child amd64)" | tail -1)"
	got=""
	for d in $want; do
		if grep -qx "blobs/sha256/${d#?sha256:}" "$IT_TMP/arm64.list"; then
			got="$got +${d#?}"
		else
			got="$got -${d#?}"
		fi
	done
	got=${got# }
	it_check_eq "--platform linux/arm64: index and arm64 blobs in, amd64-only blobs out" "$want" "$got"
else
	cat "$IT_TMP/build3.err"
	it_fail "barge build --platform linux/arm64 exits 0"
fi

# --- load and serve ---------------------------------------------------------

DATA=$IT_TMP/data
it_log "barged load"
if "$BARGED" load --data-dir "$DATA" "$BUNDLE" 2>"$IT_TMP/load.err"; then
	it_pass "barged load exits 0"
else
	cat "$IT_TMP/load.err"
	it_fail "barged load exits 0"
fi
if "$BARGED" load --data-dir "$DATA" "$BUNDLE" -o json >"$IT_TMP/load2.json" 2>"$IT_TMP/load2.err"; then
	it_pass "loading the same bundle again exits 0"
else
	cat "$IT_TMP/load2.err"
	it_fail "loading the same bundle again exits 0"
fi
it_check_eq "load -o json: reloaded, nothing new, the bundle's id" "true 0 true number" \
	"$(jq -r '.bundles[0] | "\(.reloaded) \(.blobsNew) \(.blobsPresent > 0) \(.bundleId | type)"' "$IT_TMP/load2.json")"
it_check_eq "load -o json: every key camelCase" "" \
	"$(jq -r '[paths | .[-1] | strings | select(test("_"))] | unique | join(" ")' "$IT_TMP/load2.json")"

PTLS=$(it_free_port)
serve serve-tls --data-dir "$DATA" --listen "127.0.0.1:$PTLS" --project edge
it_wait_for 30 test -s "$DATA/ca.crt" || { cat "$IT_TMP/serve-tls.log"; it_die "no $DATA/ca.crt"; }
CERTS=$IT_TMP/certs
mkdir -p "$CERTS"
cp "$DATA/ca.crt" "$CERTS/ca.crt"
it_wait_for 30 answers "https://127.0.0.1:$PTLS/v2/" --cacert "$CERTS/ca.crt" ||
	{ cat "$IT_TMP/serve-tls.log"; it_die "barged serve (HTTPS) does not answer"; }
it_pass "barged serve answers over HTTPS, verified against its ca.crt"

PPLAIN=$(it_free_port)
while [ "$PPLAIN" = "$PTLS" ]; do PPLAIN=$(it_free_port); done
serve serve-plain --data-dir "$DATA" --listen "127.0.0.1:$PPLAIN" --plain-http --project edge
it_wait_for 30 answers "http://127.0.0.1:$PPLAIN/v2/" ||
	{ cat "$IT_TMP/serve-plain.log"; it_die "barged serve --plain-http does not answer"; }
it_pass "barged serve --plain-http answers"

TLS=(--cert-dir "$CERTS" --tls-verify=true)
PLAIN=(--tls-verify=false)
DEV_TLS=127.0.0.1:$PTLS/edge/docker.io/library
DEV_PLAIN=127.0.0.1:$PPLAIN/edge/docker.io/library

# check_manifests LABEL: every image's manifest (and an index's children)
# is served with the upstream bytes, over HTTPS and plain HTTP.
check_manifests() {
	local label=$1 n want c
	for n in "${IMAGES[@]}"; do
		want=$(it_top_digest "$UP" "$n")
		it_check_eq "$label: $n:1.0 manifest digest over HTTPS" "$want" \
			"$(raw_digest "${TLS[@]}" "docker://$DEV_TLS/$n:1.0" || echo error)"
		it_check_eq "$label: $n:1.0 manifest digest over plain HTTP" "$want" \
			"$(raw_digest "${PLAIN[@]}" "docker://$DEV_PLAIN/$n:1.0" || echo error)"
		for c in $(child_digests "$n"); do
			it_check_eq "$label: $n@${c:7:12} platform manifest served" "$c" \
				"$(raw_digest "${TLS[@]}" "docker://$DEV_TLS/$n@$c" || echo error)"
		done
	done
}
check_manifests served

tags=$(skopeo list-tags "${TLS[@]}" "docker://$DEV_TLS/multi" | jq -c .Tags)
it_check_eq "skopeo list-tags multi" '["1.0"]' "$tags"

# A containerd mirror request names the upstream host in ?ns=.
want=$(it_top_digest "$UP" app-a)
got=$(curl -sf --cacert "$CERTS/ca.crt" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"https://127.0.0.1:$PTLS/v2/library/app-a/manifests/1.0?ns=docker.io" | sha256sum | cut -d' ' -f1)
it_check_eq "mirror request /v2/library/app-a/manifests/1.0?ns=docker.io" "$want" "sha256:$got"
got=$(curl -sf -o /dev/null -w '%{http_code}' --cacert "$CERTS/ca.crt" \
	"https://127.0.0.1:$PTLS/v2/edge/docker.io/library/nosuch/manifests/1.0" || true)
it_check_eq "unknown repository answers 404" 404 "$got"

# Copy every image out of barged and compare the blobs with upstream's.
for n in "${IMAGES[@]}"; do
	out=$IT_TMP/pulled/$n
	mkdir -p "$IT_TMP/pulled"
	if [ -f "$UP/$n/manifest.json" ]; then
		dest=dir:$out # a Docker schema2 image cannot live in an OCI layout
		outblobs=$out
	else
		dest=oci:$out:1.0
		outblobs=$out/blobs/sha256
	fi
	if skopeo copy -q --all --preserve-digests --dest-oci-accept-uncompressed-layers \
		--src-cert-dir "$CERTS" --src-tls-verify=true \
		"docker://$DEV_TLS/$n:1.0" "$dest" 2>"$IT_TMP/copy.err"; then
		it_check "skopeo copy $n:1.0 from barged: blobs identical to upstream" \
			same_blobs "$outblobs" "$(blob_dir "$n")"
	else
		cat "$IT_TMP/copy.err"
		it_fail "skopeo copy $n:1.0 from barged (HTTPS)"
	fi
done

# A byte range of the big layer, as resumable pulls ask for it.
big_layer=$(layers big)
got=$(curl -sf --cacert "$CERTS/ca.crt" -r 1000-1999 \
	"https://127.0.0.1:$PTLS/v2/edge/docker.io/library/big/blobs/$big_layer" | sha256sum | cut -d' ' -f1)
want=$(dd if="$UP/big/blobs/sha256/${big_layer#sha256:}" bs=1000 skip=1 count=1 status=none |
	sha256sum | cut -d' ' -f1)
it_check_eq "Range request on the big layer returns those bytes" "$want" "$got"

# --- containerd -------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	it_fail "containerd checks need root"
else
	it_containerd_start
	CTR=(ctr --address "$IT_CTR_SOCK")
	# The mirror is the only way to the images: the upstream "server" is a
	# dead loopback port, so containerd never reaches out beyond 127.0.0.1
	# and a pull that bypassed barged would fail.
	mkdir -p "$IT_TMP/certs.d/docker.io"
	cat >"$IT_TMP/certs.d/docker.io/hosts.toml" <<EOF
server = "https://127.0.0.1:$(it_free_port)"

[host."https://127.0.0.1:$PTLS"]
  capabilities = ["pull", "resolve"]
  ca = "$DATA/ca.crt"
EOF
	# ctr_pull LABEL NAME PLATFORM PLATFORM-MANIFEST
	ctr_pull() {
		local label=$1 n=$2 plat=$3 pm=$4 l miss=0 want
		want=$(it_top_digest "$UP" "$n")
		if "${CTR[@]}" images pull --snapshotter "$IT_SNAPSHOTTER" --platform "$plat" \
			--hosts-dir "$IT_TMP/certs.d" "docker.io/library/$n:1.0" >"$IT_TMP/ctr.out" 2>&1; then
			it_pass "$label: ctr images pull docker.io/library/$n:1.0 ($plat)"
		else
			cat "$IT_TMP/ctr.out"
			it_fail "$label: ctr images pull docker.io/library/$n:1.0 ($plat)"
			return 0
		fi
		it_check_eq "$label: ctr images ls shows the upstream digest" "$want" \
			"$("${CTR[@]}" images ls 2>/dev/null | awk -v r="docker.io/library/$n:1.0" '$1 == r {print $3}')"
		"${CTR[@]}" content ls >"$IT_TMP/content.ls"
		for l in $(layers "$n" "$pm") "$pm"; do
			grep -q "$l" "$IT_TMP/content.ls" || { echo "not in containerd: $l"; miss=1; }
		done
		it_check_eq "$label: containerd holds every layer" 0 "$miss"
	}
	ctr_pull containerd app-a linux/amd64 "$(it_top_digest "$UP" app-a)"
	arm=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' \
		"$(manifest_file multi)")
	ctr_pull containerd multi linux/arm64 "$arm"
fi

# --- bad input --------------------------------------------------------------

# A bundle with one flipped byte (compressed stream) is refused, and the
# store keeps serving what it had.
cp "$BUNDLE" "$IT_TMP/flipped.tar.zst"
it_flip_byte "$IT_TMP/flipped.tar.zst" $(($(it_size "$BUNDLE") / 2))
if "$BARGED" load --data-dir "$DATA" "$IT_TMP/flipped.tar.zst" 2>"$IT_TMP/bad.err"; then
	it_fail "barged load of a corrupt bundle exits non-zero"
else
	it_pass "barged load of a corrupt bundle exits non-zero"
	it_check "corrupt bundle: error message on stderr" test -s "$IT_TMP/bad.err"
	head -3 "$IT_TMP/bad.err" | sed 's/^/  stderr: /'
fi
check_manifests "after corrupt load"
got=$(curl -sf --cacert "$CERTS/ca.crt" \
	"https://127.0.0.1:$PTLS/v2/edge/docker.io/library/big/blobs/$big_layer" | sha256sum | cut -d' ' -f1)
it_check_eq "after corrupt load: big layer bytes unchanged" "$big_layer" "sha256:$got"

# A well-formed bundle whose big layer has one byte changed: only the digest
# check can notice.  GNU tar -R gives the header block of each entry; the
# data starts one block later.
blk=$(tar -tvR -f "$IT_TMP/bundle.tar" | awk -v p="blobs/sha256/${big_layer#sha256:}" \
	'$NF == p {sub(":", "", $2); print $2}')
it_flip_byte "$IT_TMP/bundle.tar" $(((blk + 1) * 512 + 4096))
zstd -qf --rm "$IT_TMP/bundle.tar" -o "$IT_TMP/tampered.tar.zst"
if "$BARGED" load --data-dir "$IT_TMP/data2" "$IT_TMP/tampered.tar.zst" 2>"$IT_TMP/bad2.err"; then
	it_fail "barged load of a bundle with a tampered layer exits non-zero"
else
	it_pass "barged load of a bundle with a tampered layer exits non-zero"
	it_check "tampered bundle: error names the layer digest" \
		grep -q "${big_layer#sha256:}" "$IT_TMP/bad2.err"
	head -3 "$IT_TMP/bad2.err" | sed 's/^/  stderr: /'
fi

# A profile naming an image upstream lacks fails the build, names the
# reference and leaves no bundle behind.
sed 's|docker.io/library/app-b:1.0|docker.io/library/nosuch:9.9|' "$IT_TMP/profile.yaml" \
	>"$IT_TMP/missing.yaml"
if "$BARGE" build "$IT_TMP/missing.yaml" --output-file "$IT_TMP/missing.tar.zst" "${MIRROR[@]}" \
	--cache-dir "$IT_TMP/cache" 2>"$IT_TMP/missing.err"; then
	it_fail "barge build with a missing image exits non-zero"
else
	it_pass "barge build with a missing image exits non-zero"
	it_check "missing image: error names docker.io/library/nosuch:9.9" \
		grep -q "docker.io/library/nosuch:9.9" "$IT_TMP/missing.err"
	head -3 "$IT_TMP/missing.err" | sed 's/^/  stderr: /'
fi
it_check "missing image: no output file left" test ! -e "$IT_TMP/missing.tar.zst"

# The sparse arm64-only bundle, served: the index keeps its digest, the
# arm64 manifest is there, the amd64 one is not.
if [ -s "$IT_TMP/arm64.tar.zst" ] &&
	"$BARGED" load --data-dir "$IT_TMP/data3" "$IT_TMP/arm64.tar.zst" 2>"$IT_TMP/load3.err"; then
	P3=$(it_free_port)
	serve serve-sparse --data-dir "$IT_TMP/data3" --listen "127.0.0.1:$P3" --plain-http
	if it_wait_for 30 answers "http://127.0.0.1:$P3/v2/"; then
		SPARSE=127.0.0.1:$P3/edge/docker.io/library/multi
		it_check_eq "sparse index served with the upstream digest" \
			"$(it_top_digest "$UP" multi)" "$(raw_digest "${PLAIN[@]}" "docker://$SPARSE:1.0" || echo error)"
		it_check_eq "sparse index: arm64 manifest served" "$(child arm64)" \
			"$(raw_digest "${PLAIN[@]}" "docker://$SPARSE@$(child arm64)" || echo error)"
		it_check_eq "sparse index: amd64 manifest answers 404" 404 \
			"$(curl -s -o /dev/null -w '%{http_code}' \
				"http://127.0.0.1:$P3/v2/edge/docker.io/library/multi/manifests/$(child amd64)")"
	else
		it_fail "barged serve of the sparse store answers"
	fi
else
	cat "$IT_TMP/load3.err" 2>/dev/null || true
	it_fail "barged load of the arm64-only bundle exits 0"
fi

# Each barged serve stops cleanly on SIGTERM: exit 0, and (in a sanitizer
# build) no ASan, LeakSanitizer or UBSan report in its log.
for sv in "${SERVES[@]}"; do
	name=${sv%%:*} pid=${sv#*:} rc=0
	kill -TERM "$pid"
	it_wait_for 10 bash -c "! kill -0 $pid" || { rc=timeout; kill -KILL "$pid"; }
	wait "$pid" || rc=$?
	it_check_eq "$name: barged serve exits 0 on SIGTERM" 0 "$rc"
	if grep -qE 'Sanitizer|runtime error' "$IT_TMP/$name.log"; then
		cat "$IT_TMP/$name.log"
		it_fail "$name: sanitizer report in the log"
	fi
done

it_summary
