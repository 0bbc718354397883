#!/usr/bin/env bash
# Helm charts in profiles (issue #17): a chart packaged by this test as a
# .tgz (tar + gzip, deterministic) and another pushed with curl to a
# docker-registry as Helm's OCI artifact are listed in a profile's charts,
# go through `barge build` and `barged load`, and are pulled back from
# barged with Helm's own request sequence for `helm pull oci://` (Helm is
# not installable here: curl makes its requests): tags/list, the manifest
# with Helm's Accept header, the config and the chart layer.  The pulled
# .tgz must be byte-identical to the original and the pushed chart's
# manifest digest equal to upstream's.  An image named only in the packaged
# chart's values.yaml must be in the bundle.  A missing or malformed chart
# fails the build naming the file and the field.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).
# IT_KEEP_TMP=1 keeps the temp dir for a post-mortem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGE" "$BARGED" docker-registry skopeo jq curl tar gzip sha256sum; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
BARGE=$(realpath "$BARGE")
BARGED=$(realpath "$BARGED")
DATA=$IT_REPO_ROOT/tests/data/charts

it_tmpdir
T=$IT_TMP
IT_BIG_BYTES=4096 it_make_sample_images "$T/images"
it_registry_start
REG=$IT_REGISTRY
it_push "$T/images" app-b
export SOURCE_DATE_EPOCH=1700000000
MT_MAN=application/vnd.oci.image.manifest.v1+json
MT_CFG=application/vnd.cncf.helm.config.v1+json
MT_TGZ=application/vnd.cncf.helm.chart.content.v1.tar+gzip

# package DIR NAME OUT: the chart DIR/NAME as a .tgz, the same bytes on every run.
package() {
	tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$2" |
		gzip -n -9 >"$3"
}

# push_blob REPO FILE: a monolithic upload to REG; prints the digest.
push_blob() {
	local dg loc
	dg=sha256:$(it_sha256 "$2")
	loc=$(curl -sf -X POST -D - -o /dev/null "http://$REG/v2/$1/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in http*) ;; *) loc=http://$REG$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$dg" ;; *) loc="$loc?digest=$dg" ;; esac
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc" >/dev/null ||
		it_die "pushing $2 to $1"
	echo "$dg"
}

mkdir -p "$T/prof/charts"
package "$DATA" demo "$T/prof/charts/demo-0.1.0+build.1.tgz"
package "$DATA" other "$T/other-1.2.3.tgz"

# --- the OCI chart, pushed as `helm push` does -------------------------------

it_log "pushing charts/other:1.2.3 as Helm's OCI artifact"
tar -xzOf "$T/other-1.2.3.tgz" other/Chart.yaml | it_yaml2json |
	jq -cj '{name, version, description, apiVersion, appVersion}' >"$T/other.config.json"
cfg=$(push_blob charts/other "$T/other.config.json")
lay=$(push_blob charts/other "$T/other-1.2.3.tgz")
jq -cjn --arg c "$cfg" --argjson cs "$(it_size "$T/other.config.json")" --arg l "$lay" \
	--argjson ls "$(it_size "$T/other-1.2.3.tgz")" --arg mm "$MT_MAN" --arg mc "$MT_CFG" --arg mt "$MT_TGZ" \
	'{schemaVersion: 2, mediaType: $mm, config: {mediaType: $mc, digest: $c, size: $cs},
	  layers: [{mediaType: $mt, digest: $l, size: $ls}],
	  annotations: {"org.opencontainers.image.title": "other", "org.opencontainers.image.version": "1.2.3"}}' \
	>"$T/other.manifest.json"
curl -sf -X PUT -H "Content-Type: $MT_MAN" --data-binary "@$T/other.manifest.json" \
	"http://$REG/v2/charts/other/manifests/1.2.3" >/dev/null || it_die "pushing the chart manifest"
want_other=sha256:$(it_sha256 "$T/other.manifest.json")

cat >"$T/prof/charts.yaml" <<Y
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: charts, version: 0.1.0}
spec:
  platforms: [linux/amd64]
  project: edge
  packs:
    - name: apps
      charts:
        - charts/demo-0.1.0+build.1.tgz
        - oci://$REG/charts/other:1.2.3
Y

# --- build, load, serve -------------------------------------------------------

cd "$T"
MIRROR=(--registry-mirror "docker.io=http://$REG" --cache-dir "$T/cache")
it_log "barge build"
if "$BARGE" build prof/charts.yaml --output-file charts.tar.zst "${MIRROR[@]}" 2>build.err; then
	it_pass "barge build of a profile with a chart archive and an OCI chart exits 0"
else
	cat build.err
	it_fail "barge build of a profile with a chart archive and an OCI chart exits 0"
fi
tar --zstd -xOf charts.tar.zst barge.json >meta.json
src() { jq -r --arg s "$1" '.images[] | select(.source == $s) | '"$2" meta.json; }
it_check_eq "barge.json lists the packaged chart as a Helm artifact" "$MT_CFG" \
	"$(src charts.local/demo:0.1.0_build.1 .artifactType)"
it_check_eq "barge.json lists the OCI chart with upstream's digest" "$want_other" \
	"$(src "$REG/charts/other:1.2.3" .digest)"
it_check_eq "barge.json lists the OCI chart as a Helm artifact" "$MT_CFG" \
	"$(src "$REG/charts/other:1.2.3" .artifactType)"
it_check_eq "the image named only in the chart's values.yaml is in the bundle" \
	"$(it_top_digest "$T/images" app-b)" "$(src docker.io/library/app-b:1.0 .digest)"

it_check "barged load of the bundle exits 0" "$BARGED" load --data-dir "$T/data" charts.tar.zst
P=$(it_free_port)
it_spawn "$T/serve.log" "$BARGED" serve --data-dir "$T/data" --listen "127.0.0.1:$P" --plain-http --project edge
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/v2/")" != 000 ]; }
it_wait_for 30 answers || { cat "$T/serve.log"; it_die "barged serve does not answer"; }
V2=http://127.0.0.1:$P/v2

# helm_pull REPO VERSION OUT: `helm pull oci://HOST/REPO [--version VERSION]`'s
# requests; the chart layer goes to OUT, the manifest to OUT.manifest.
helm_pull() {
	local repo=$1 version=$2 out=$3 ref dg
	if [ -z "$version" ]; then
		version=$(curl -sf "$V2/$repo/tags/list" | jq -r '.tags[-1]') || return 1
	fi
	ref=${version//+/_}
	curl -sf -I -H "Accept: $MT_MAN" "$V2/$repo/manifests/$ref" | tr -d '\r' >"$out.head" || return 1
	curl -sf -H "Accept: $MT_MAN" "$V2/$repo/manifests/$ref" -o "$out.manifest" || return 1
	[ "$(jq -r .config.mediaType "$out.manifest")" = "$MT_CFG" ] || return 1
	curl -sf "$V2/$repo/blobs/$(jq -r .config.digest "$out.manifest")" -o "$out.config" || return 1
	dg=$(jq -r --arg t "$MT_TGZ" '.layers[] | select(.mediaType == $t) | .digest' "$out.manifest")
	curl -sf "$V2/$repo/blobs/$dg" -o "$out" || return 1
}

it_log "helm pull (with curl) from barged"
if helm_pull edge/charts.local/demo "" pulled-demo.tgz; then
	it_pass "Helm's pull sequence gets the packaged chart from barged"
else
	it_fail "Helm's pull sequence gets the packaged chart from barged"
fi
it_check_eq "the pulled chart archive is byte-identical to the packaged one" \
	"$(it_sha256 "$T/prof/charts/demo-0.1.0+build.1.tgz")" "$(it_sha256 pulled-demo.tgz 2>/dev/null || true)"
it_check_eq "the chart's tag is its version with '+' written '_'" '["0.1.0_build.1"]' \
	"$(curl -sf "$V2/edge/charts.local/demo/tags/list" | jq -c .tags)"
it_check_eq "the chart's config holds Chart.yaml's fields" "demo 0.1.0+build.1 v2 1.0" \
	"$(jq -r '"\(.name) \(.version) \(.apiVersion) \(.appVersion)"' pulled-demo.tgz.config 2>/dev/null || true)"
it_check_eq "barged serves the chart manifest as an OCI manifest" "content-type: $MT_MAN" \
	"$(grep -i '^content-type:' pulled-demo.tgz.head | tr '[:upper:]' '[:lower:]')"

repo_other=edge/${REG/:/_}/charts/other
if helm_pull "$repo_other" 1.2.3 pulled-other.tgz; then
	it_pass "Helm's pull sequence gets the OCI chart from barged"
else
	it_fail "Helm's pull sequence gets the OCI chart from barged"
fi
it_check_eq "the pulled OCI chart is byte-identical to the pushed one" \
	"$(it_sha256 "$T/other-1.2.3.tgz")" "$(it_sha256 pulled-other.tgz 2>/dev/null || true)"
it_check_eq "the OCI chart's manifest digest on barged is upstream's" "$want_other" \
	"sha256:$(it_sha256 pulled-other.tgz.manifest 2>/dev/null || true)"
it_check_eq "barged names the same digest in Docker-Content-Digest" "$want_other" \
	"$(sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p' pulled-other.tgz.head)"
it_check_eq "the values image pulls from barged with upstream's digest" \
	"$(it_top_digest "$T/images" app-b)" \
	"sha256:$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$P/edge/docker.io/library/app-b:1.0" | sha256sum | cut -c1-64)"

# --- the lock ------------------------------------------------------------------

"$BARGE" resolve prof/charts.yaml --output-file lock.json --registry-mirror "docker.io=http://$REG" 2>/dev/null ||
	it_fail "barge resolve of the chart profile exits 0"
it_check_eq "the lock records the chart archive as its local source" \
	"chart:prof/charts/demo-0.1.0+build.1.tgz" \
	"$(jq -r '.images[] | select(.source == "charts.local/demo:0.1.0_build.1") | .from' lock.json)"
it_check_eq "the lock records the archive's sha256 among its files" \
	"sha256:$(it_sha256 prof/charts/demo-0.1.0+build.1.tgz)" \
	"$(jq -r '.files[] | select(.path | endswith(".tgz")) | .sha256' lock.json)"
"$BARGE" build --locked lock.json --output-file locked.tar.zst "${MIRROR[@]}" 2>/dev/null ||
	it_fail "barge build --locked of the chart lock exits 0"
it_check "building from the lock gives the same bundle bytes" cmp -s charts.tar.zst locked.tar.zst
# The archive changed after it was locked: the build names it and leaves no bundle.
cp -r "$DATA/demo" changed && echo "# changed" >>changed/values.yaml
mkdir -p changed-src && mv changed changed-src/demo
package changed-src demo prof/charts/demo-0.1.0+build.1.tgz
rc=0
"$BARGE" build --locked lock.json --output-file stale.tar.zst "${MIRROR[@]}" 2>stale.err || rc=$?
if [ "$rc" -ne 0 ] && grep -qF "prof/charts/demo-0.1.0+build.1.tgz: the chart gives no blob" stale.err &&
	[ ! -e stale.tar.zst ]; then
	it_pass "a chart archive changed since the lock fails the build naming it"
else
	it_fail "a chart archive changed since the lock fails the build naming it (exit $rc, stderr: $(head -c 400 stale.err))"
fi

# --- refusals -------------------------------------------------------------------

# refused WHAT MESSAGE CHART: building a profile whose pack lists CHART fails
# with MESSAGE and leaves no bundle.
refused() {
	local what=$1 want=$2 rc=0
	printf 'apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: bad, version: 0.1.0}\nspec:\n  packs:\n    - name: bad\n      charts:\n        - %s\n' \
		"$3" >prof/bad.yaml
	rm -f bad.tar.zst
	"$BARGE" build prof/bad.yaml --output-file bad.tar.zst "${MIRROR[@]}" 2>bad.err || rc=$?
	if [ "$rc" -ne 0 ] && grep -qF -- "$want" bad.err && [ ! -e bad.tar.zst ]; then
		it_pass "$what"
	else
		it_fail "$what (exit $rc, stderr: $(head -c 400 bad.err))"
	fi
}
refused "a missing chart archive is named with where it is listed" \
	"prof/bad.yaml:8:11: pack \"bad\": charts[0]: prof/charts/nothere.tgz: No such file" \
	charts/nothere.tgz
mkdir -p broken/nover
printf 'apiVersion: v2\nname: nover\ndescription: no version\n' >broken/nover/Chart.yaml
package broken nover prof/charts/nover.tgz
refused "a chart without a version is refused naming its Chart.yaml and the field" \
	"prof/bad.yaml:8:11: pack \"bad\": charts[0]: prof/charts/nover.tgz:nover/Chart.yaml:1:1: version: missing" \
	charts/nover.tgz
printf 'apiVersion: v2\nname: numver\nversion: 1.0\n' >broken/nover/Chart.yaml
package broken nover prof/charts/numver.tgz
refused "a chart whose version is a number is refused naming the line and field" \
	"prof/charts/numver.tgz:nover/Chart.yaml:3:10: version: expected a string (quote it)" \
	charts/numver.tgz
echo "not a chart" >prof/charts/junk.tgz
refused "a file that is no chart archive is refused naming it" \
	"prof/charts/junk.tgz: not a Helm chart archive" charts/junk.tgz
refused "an OCI chart without a version is refused" \
	"prof/bad.yaml:8:11: pack \"bad\": charts[0]: \"oci://$REG/charts/other\" names no version" \
	"oci://$REG/charts/other"

it_summary
