#!/usr/bin/env bash
# Store lifecycle with the real binaries: two bundles built by `barge build`
# from a real docker-registry share blobs; `barged ls`, `rm`, `gc` and `fsck`
# look after the store while `barged serve` serves it, and skopeo pulls what
# must still be there.  A flipped byte in a blob file is found by fsck,
# removed by fsck --repair, and a reload brings the image back.  Only
# 127.0.0.1.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).
# IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl sha256sum; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
# The big sample is not used here; keep it small.
IT_BIG_BYTES=4096 it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
for n in app-a app-b multi; do it_push "$UP" "$n"; done

DATA=$IT_TMP/data
MIRROR=(--registry-mirror "docker.io=http://$IT_REGISTRY")
export SOURCE_DATE_EPOCH=0

# bundle VERSION IMAGE...: build life-VERSION.tar.zst holding IMAGEs (tag 1.0).
bundle() {
	local version=$1 n; shift
	{
		printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\n'
		printf 'metadata: {name: life, version: "%s"}\n' "$version"
		printf 'spec:\n  platforms: [linux/amd64, linux/arm64]\n  project: edge\n'
		printf '  packs:\n    - name: all\n      images:\n'
		for n in "$@"; do printf '        - docker.io/library/%s:1.0\n' "$n"; done
	} >"$IT_TMP/life-$version.yaml"
	"$BARGE" build "$IT_TMP/life-$version.yaml" --output-file "$IT_TMP/life-$version.tar.zst" \
		"${MIRROR[@]}" --cache-dir "$IT_TMP/cache" 2>"$IT_TMP/build-$version.err" ||
		{ cat "$IT_TMP/build-$version.err"; it_die "barge build life $version"; }
}

# store_blobs: every blob file of the store, as sha256:<hex>, sorted.
store_blobs() {
	find "$DATA/blobs/sha256" -type f -printf 'sha256:%f\n' | sort
}

# upstream_blobs NAME...: every blob of the samples NAMEs, sorted, once.
upstream_blobs() {
	local n
	for n in "$@"; do
		find "$UP/$n/blobs/sha256" -type f -printf 'sha256:%f\n'
	done | sort -u
}

# pulled_digest REF: sha256 of the manifest bytes barged serves for REF.
pulled_digest() {
	skopeo inspect --raw --tls-verify=false "docker://$DEV/$1" >"$IT_TMP/raw" 2>/dev/null ||
		{ echo missing; return 0; }
	echo "sha256:$(it_sha256 "$IT_TMP/raw")"
}

# pulls NAME: skopeo copies NAME:1.0 (every platform) out of barged, and
# every blob it got is byte-identical to upstream's.
pulls() {
	local out=$IT_TMP/pulled/$1 f
	rm -rf "$out"
	mkdir -p "$IT_TMP/pulled"
	skopeo copy -q --all --preserve-digests --src-tls-verify=false \
		"docker://$DEV/$1:1.0" "oci:$out:1.0" 2>"$IT_TMP/copy.err" ||
		{ cat "$IT_TMP/copy.err"; return 1; }
	for f in "$out"/blobs/sha256/*; do
		cmp -s "$f" "$UP/$1/blobs/sha256/${f##*/}" || { echo "differs: $f"; return 1; }
	done
	[ "$(pulled_digest "$1:1.0")" = "$(it_top_digest "$UP" "$1")" ]
}

# jqe FILTER FILE: jq -e, quietly: true when FILTER holds.
jqe() { jq -e "$@" >/dev/null; }

# --- two bundles sharing blobs ------------------------------------------------

it_log "building life 1.0 (app-a, multi) and life 2.0 (app-b, multi)"
bundle 1.0 app-a multi
bundle 2.0 app-b multi
for v in 1.0 2.0; do
	it_check "barged load life-$v exits 0" \
		"$BARGED" load --data-dir "$DATA" "$IT_TMP/life-$v.tar.zst"
done
it_check_eq "the store holds every blob of the three images, once" \
	"$(upstream_blobs app-a app-b multi)" "$(store_blobs)"

PORT=$(it_free_port)
it_spawn "$IT_TMP/serve.log" "$BARGED" serve --data-dir "$DATA" \
	--listen "127.0.0.1:$PORT" --plain-http --project edge
SERVE_PID=$IT_LAST_PID
it_wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" ||
	{ cat "$IT_TMP/serve.log"; it_die "barged serve does not answer"; }
DEV=127.0.0.1:$PORT/edge/docker.io/library

# --- ls -------------------------------------------------------------------------

"$BARGED" ls images --data-dir "$DATA" --output json >"$IT_TMP/images.json"
it_check_eq "ls images: one entry per image" \
	"edge/docker.io/library/app-a edge/docker.io/library/app-b edge/docker.io/library/multi" \
	"$(jq -r '[.[].repository] | join(" ")' "$IT_TMP/images.json")"
for n in app-a app-b multi; do
	it_check_eq "ls images: $n digest is upstream's" "$(it_top_digest "$UP" "$n")" \
		"$(jq -r --arg r "edge/docker.io/library/$n" \
			'.[] | select(.repository == $r) | .digest' "$IT_TMP/images.json")"
done
it_check_eq "ls images: multi is an index with tag 1.0" \
	'application/vnd.oci.image.index.v1+json ["1.0"]' \
	"$(jq -r '.[2] | "\(.mediaType) \(.tags | tojson)"' "$IT_TMP/images.json")"
it_check_eq "ls images: multi is pinned by both bundles" '["life:1.0","life:2.0"]' \
	"$(jq -c '[.[2].bundles[] | "\(.name):\(.version)"]' "$IT_TMP/images.json")"
want=0
for f in $(upstream_blobs app-a); do want=$((want + $(it_size "$UP/app-a/blobs/sha256/${f#sha256:}"))); done
it_check_eq "ls images: app-a size is the bytes of its blobs" "$want" \
	"$(jq '.[0].size' "$IT_TMP/images.json")"
it_check "ls images: every field present and typed" jqe \
	'all(.[]; (.repository | type) == "string" and (.digest | startswith("sha256:"))
	 and (.mediaType | type) == "string" and (.size | type) == "number"
	 and (.manifestSize | type) == "number" and (.tags | type) == "array"
	 and (.bundles | type) == "array")' "$IT_TMP/images.json"

"$BARGED" ls bundles --data-dir "$DATA" --output json >"$IT_TMP/bundles.json"
it_check_eq "ls bundles: both, two images each" "life 1.0 2|life 2.0 2" \
	"$(jq -r '[.[] | "\(.name) \(.version) \(.images)"] | join("|")' "$IT_TMP/bundles.json")"
it_check "ls bundles: id, digest, loadedAt, bytes" jqe \
	'all(.[]; (.id | type) == "number" and (.digest | startswith("sha256:"))
	 and (.loadedAt | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) and .bytes > 0)' \
	"$IT_TMP/bundles.json"
it_check "ls (text) names every repository" \
	bash -c "'$BARGED' ls --data-dir '$DATA' | grep -q 'edge/docker.io/library/multi'"
it_check_eq "ls -o json equals --output json" "$(jq -c . "$IT_TMP/bundles.json")" \
	"$("$BARGED" ls bundles --data-dir "$DATA" -o json | jq -c .)"
it_check_refused "ls -o FILE is refused" \
	"barged ls: -o/--output $IT_TMP/ls.json: not a format (json, yaml, text)" \
	"$BARGED" ls --data-dir "$DATA" -o "$IT_TMP/ls.json"
it_check "a refused ls -o FILE writes no file" test ! -e "$IT_TMP/ls.json"

# --- rm -------------------------------------------------------------------------

rc=0
"$BARGED" rm --data-dir "$DATA" life >"$IT_TMP/rm.out" 2>"$IT_TMP/rm.err" || rc=$?
it_check_eq "rm of an ambiguous name exits 1" 1 "$rc"
it_check "rm of an ambiguous name lists both matches" \
	bash -c "grep -q 'life:1.0' '$IT_TMP/rm.err' && grep -q 'life:2.0' '$IT_TMP/rm.err'"
rc=0
"$BARGED" rm --data-dir "$DATA" life:9 2>/dev/null || rc=$?
it_check_eq "rm of an unknown bundle exits 1" 1 "$rc"
it_check_refused "rm --output xml is refused" "not a format (json, yaml, text)" \
	"$BARGED" rm --data-dir "$DATA" --untag life:1.0 --output xml
# life 1.0 pins app-a and multi; app-a's tag goes, multi's stays (2.0 pins it).
"$BARGED" rm --data-dir "$DATA" --untag life:1.0 -o json >"$IT_TMP/rm.json" ||
	it_fail "rm --untag life:1.0 exits 0"
it_check_eq "rm -o json: the bundle, its pins and the tags removed" "life 1.0 2 1 number" \
	"$(jq -r '"\(.name) \(.version) \(.pins) \(.tags) \(.id | type)"' "$IT_TMP/rm.json")"
it_check_eq "ls bundles: life 2.0 is left" "life:2.0" \
	"$(jq -r '[.[] | "\(.name):\(.version)"] | join(" ")' \
		<("$BARGED" ls bundles --data-dir "$DATA" --output json))"
it_check_eq "multi keeps its tag: bundle 2.0 pins it" "$(it_top_digest "$UP" multi)" \
	"$(pulled_digest multi:1.0)"

# --- gc -------------------------------------------------------------------------

# app-a's own blobs: its manifest, config and layer; its base layer is shared.
exclusive=$(comm -23 <(upstream_blobs app-a) <(upstream_blobs app-b multi))
it_check_eq "app-a has three blobs of its own" 3 "$(wc -l <<<"$exclusive")"
before=$(store_blobs)
"$BARGED" gc --data-dir "$DATA" --dry-run -v >"$IT_TMP/dry.out"
it_check_eq "gc --dry-run removes nothing" "$before" "$(store_blobs)"
it_check_eq "gc --dry-run names exactly app-a's own blobs" "$exclusive" \
	"$(awk '$1 == "blob" {print $2}' "$IT_TMP/dry.out" | sort)"
it_check "gc --dry-run says what it would free" grep -q '^would remove 1 manifest, 3 blobs' \
	"$IT_TMP/dry.out"
# -o json: one document on stdout; -v's names go to stderr.
"$BARGED" gc --data-dir "$DATA" --dry-run -v -o json >"$IT_TMP/dry.json" 2>"$IT_TMP/dry.err"
it_check_eq "gc -o json: what a dry run would remove" \
	"true 1 3 0 $(awk '$1 == "blob" {n += $3} END {print n}' "$IT_TMP/dry.out")" \
	"$(jq -r '"\(.dryRun) \(.manifests) \(.blobs) \(.orphans) \(.bytes)"' "$IT_TMP/dry.json")"
it_check_eq "gc -v -o json: the blobs named on stderr" "$exclusive" \
	"$(sed -n 's/^barged: blob \(sha256:[0-9a-f]*\) .*/\1/p' "$IT_TMP/dry.err" | sort)"
it_check_eq "gc -o yaml equals -o json" "$(jq -c . "$IT_TMP/dry.json")" \
	"$("$BARGED" gc --data-dir "$DATA" --dry-run -o yaml | it_yaml2json)"
"$BARGED" gc --data-dir "$DATA" >"$IT_TMP/gc.out"
it_check_eq "gc removes exactly app-a's own blobs" "$exclusive" \
	"$(comm -23 <(echo "$before") <(store_blobs))"
freed=0
for f in $exclusive; do freed=$((freed + $(it_size "$UP/app-a/blobs/sha256/${f#sha256:}"))); done
it_check_eq "gc -v reports each blob's size" "$freed" \
	"$(awk '$1 == "blob" {n += $3} END {print n}' "$IT_TMP/dry.out")"
it_check "gc prints what it removed and freed" \
	grep -q "^removed 1 manifest, 3 blobs (0 orphans): .* freed$" "$IT_TMP/gc.out"
it_check_eq "the store holds exactly app-b's and multi's blobs" \
	"$(upstream_blobs app-b multi)" "$(store_blobs)"
it_check_eq "app-a is gone from barged" missing "$(pulled_digest app-a:1.0)"
it_check "app-b still pulls, blobs identical to upstream" pulls app-b
it_check "multi still pulls (both platforms), blobs identical" pulls multi
"$BARGED" gc --data-dir "$DATA" >"$IT_TMP/gc2.out"
it_check "a second gc finds nothing" grep -q '^removed 0 manifests, 0 blobs' "$IT_TMP/gc2.out"

# --- readers during loads and gcs ---------------------------------------------------

# While life 1.0 is loaded, removed and collected again and again, a client
# keep pulling through barged serve.  app-a comes and goes: each of its
# manifest GETs is upstream's bytes or a 404, never anything else.  app-b and
# multi never go: their manifests and app-b's blobs are always upstream's.
ACCEPT='application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'
V2=http://127.0.0.1:$PORT/v2/edge/docker.io/library
appb_blobs=$(jq -r '.config.digest, .layers[].digest' \
	"$UP/app-b/blobs/sha256/$(it_top_digest "$UP" app-b | cut -c8-)")
reader() {
	local rounds=0 name code got dg
	while [ ! -e "$IT_TMP/stop" ] && [ -d "$IT_TMP" ]; do
		for name in app-a app-b multi; do
			code=$(curl -s -o "$IT_TMP/r.$name" -w '%{http_code}' -H "Accept: $ACCEPT" \
				"$V2/$name/manifests/1.0") || code=000
			if [ "$code" = 200 ]; then
				got=sha256:$(it_sha256 "$IT_TMP/r.$name")
				[ "$got" = "$(it_top_digest "$UP" "$name")" ] ||
					echo "$name: served $got"
			elif [ "$name:$code" != app-a:404 ]; then
				echo "$name: HTTP $code"
			fi
		done
		for dg in $appb_blobs; do
			curl -sf -o "$IT_TMP/r.blob" "$V2/app-b/blobs/$dg" || { echo "app-b $dg: failed"; continue; }
			[ "sha256:$(it_sha256 "$IT_TMP/r.blob")" = "$dg" ] || echo "app-b $dg: wrong bytes"
		done
		rounds=$((rounds + 1))
		echo >>"$IT_TMP/progress"
	done
	echo "rounds $rounds"
}
rm -f "$IT_TMP/stop" "$IT_TMP/progress"
touch "$IT_TMP/progress"
reader >"$IT_TMP/reader.out" 2>&1 &
READER=$!
IT_PIDS+=("$READER")
# At least six cycles, and on until the readers made six rounds (at most 30).
cycles=0 cycles_ok=0
while [ "$cycles" -lt 6 ] || { [ "$(wc -l <"$IT_TMP/progress")" -lt 6 ] && [ "$cycles" -lt 30 ]; }; do
	cycles=$((cycles + 1))
	"$BARGED" load --data-dir "$DATA" "$IT_TMP/life-1.0.tar.zst" >/dev/null 2>&1 &&
		"$BARGED" rm --data-dir "$DATA" --untag life:1.0 >/dev/null &&
		"$BARGED" gc --data-dir "$DATA" >/dev/null && cycles_ok=$((cycles_ok + 1))
done
touch "$IT_TMP/stop"
wait "$READER"
it_check_eq "every load, rm, gc cycle while clients pull succeeds" "$cycles" "$cycles_ok"
it_check_eq "readers never saw a wrong byte, a 5xx or a vanished kept image" "" \
	"$(grep -v '^rounds' "$IT_TMP/reader.out" | sort | uniq -c)"
it_check "readers pulled throughout" grep -qE '^rounds [1-9]' "$IT_TMP/reader.out"
it_log "readers: $(grep '^rounds' "$IT_TMP/reader.out") during $cycles cycles"
it_check_eq "after the cycles the store holds exactly app-b's and multi's blobs" \
	"$(upstream_blobs app-b multi)" "$(store_blobs)"

# --- fsck -------------------------------------------------------------------------

it_check "fsck of a sound store exits 0" "$BARGED" fsck --data-dir "$DATA"
"$BARGED" fsck --data-dir "$DATA" --output json >"$IT_TMP/fsck.json" || true
it_check_eq "fsck --output json: clean, no problems" "true 0" \
	"$(jq -r '"\(.clean) \(.problems | length)"' "$IT_TMP/fsck.json")"
it_check_eq "fsck -o yaml equals -o json" "$(jq -c . "$IT_TMP/fsck.json")" \
	"$("$BARGED" fsck --data-dir "$DATA" -o yaml | it_yaml2json)"

# app-b's own layer: the one not shared with multi.
victim=$(comm -23 <(jq -r '.layers[].digest' \
	"$UP/app-b/blobs/sha256/$(it_top_digest "$UP" app-b | cut -c8-)" | sort) \
	<(upstream_blobs multi))
hex=${victim#sha256:}
it_flip_byte "$DATA/blobs/sha256/${hex:0:2}/$hex" 20
rc=0
"$BARGED" fsck --data-dir "$DATA" >"$IT_TMP/fsck.out" || rc=$?
it_check_eq "fsck of a corrupt blob exits 1" 1 "$rc"
it_check "fsck names the corrupt blob" grep -q "^$victim: corrupt" "$IT_TMP/fsck.out"
rc=0
"$BARGED" fsck --data-dir "$DATA" --repair >"$IT_TMP/repair.out" || rc=$?
it_check_eq "fsck --repair exits 0" 0 "$rc"
it_check "fsck --repair says what it removed" \
	grep -q 'repaired: removed 1 file, 1 manifest, 1 tag, 1 pin' "$IT_TMP/repair.out"
it_check "fsck after --repair exits 0" "$BARGED" fsck --data-dir "$DATA"
it_check_eq "the broken image is no longer served" missing "$(pulled_digest app-b:1.0)"
it_check "multi is untouched by the repair" pulls multi

it_check "reloading life 2.0 restores app-b" \
	"$BARGED" load --data-dir "$DATA" "$IT_TMP/life-2.0.tar.zst"
it_check "app-b pulls again, blobs identical to upstream" pulls app-b
it_check "fsck after the reload exits 0" "$BARGED" fsck --data-dir "$DATA"

# --- usage ------------------------------------------------------------------------

for verb in ls rm gc fsck; do
	it_check "barged $verb --help exits 0" bash -c "'$BARGED' $verb --help >/dev/null"
done
rc=0
"$BARGED" gc --data-dir "$IT_TMP/nowhere" 2>"$IT_TMP/nowhere.err" || rc=$?
it_check_eq "gc on a directory without a store exits 1" 1 "$rc"
it_check "and says so" grep -q 'no store here' "$IT_TMP/nowhere.err"
it_check "no store was created there" test ! -e "$IT_TMP/nowhere/barge.db"
rc=0
"$BARGED" gc --data-dir "$DATA" --wait 3000000 2>"$IT_TMP/wait.err" || rc=$?
it_check_eq "gc --wait beyond what milliseconds in an int hold is a usage error" 2 "$rc"
it_check "and names the value" grep -q "bad number of seconds '3000000'" "$IT_TMP/wait.err"

rc=0
kill -TERM "$SERVE_PID"
it_wait_for 10 bash -c "! kill -0 $SERVE_PID" || { rc=timeout; kill -KILL "$SERVE_PID"; }
wait "$SERVE_PID" || rc=$?
it_check_eq "barged serve exits 0 on SIGTERM" 0 "$rc"
if grep -qE 'Sanitizer|runtime error' "$IT_TMP/serve.log"; then
	cat "$IT_TMP/serve.log"
	it_fail "sanitizer report in the serve log"
fi

it_summary
