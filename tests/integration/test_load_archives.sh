#!/usr/bin/env bash
# Archives of other tools through `barged load` and PUT /api/v1/bundles
# (docs/loading.md, "Other formats").  Upstream is a docker-registry on
# 127.0.0.1 holding two images made here: "plain", pushed with curl with
# uncompressed layers as a Docker v2 schema 2 manifest, and "gz", an OCI
# image with gzip layers.  Checked: skopeo's docker-archive: and
# oci-archive: tars of them load, and skopeo reads back from barged
# upstream's manifest digest (oci-archive; docker-archive of the
# uncompressed image) or upstream's config digest and diff IDs
# (docker-archive of the gzip one); a Zarf-style and a Hauler-style tar.zst
# built here in those tools' layouts load with the names their metadata
# gives; a docker save before Docker 25 ("<id>/layer.tar" layers named by
# no digest) built here from skopeo's pieces loads with upstream's config
# digest and diff IDs; the upload endpoint takes an oci-archive; an archive
# with a "../" member, a symbolic link, a blob whose digest does not match,
# or a legacy layer that is not its diff ID is refused naming the member,
# and `barged ls` and the blob files stay as they were.
#
# Env: BARGED (default build/...).  IT_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGED" docker-registry skopeo jq curl sha256sum zstd python3 tar; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
it_registry_start
REG=$IT_REGISTRY
T=$IT_TMP
SK=(--tls-verify=false)

# push_blob REPO FILE: a monolithic blob upload with curl.
push_blob() {
	local loc
	loc=$(curl -sSf -D - -o /dev/null -X POST "http://$REG/v2/$1/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in http*) ;; *) loc=http://$REG$loc ;; esac
	case $loc in *\?*) loc=$loc\& ;; *) loc=$loc\? ;; esac
	curl -sSf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" \
		"${loc}digest=sha256:$(it_sha256 "$2")" >/dev/null
}

it_log "upstream images"
mkdir -p "$T/src/a" "$T/src/b"
it_files "$T/src/a" "etc/os-release=ID=arch-test" "app/a.txt=uncompressed layers"
it_files "$T/src/b" "etc/os-release=ID=arch-test" "app/b.txt=gzip layers"
# plain: the layer tar and config as they are, and the manifest Docker and
# skopeo write for uncompressed layers (compact, in this key order).
P=$T/plain
mkdir -p "$P"
tar -C "$T/src/a" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$P/layer.tar" .
LDIG=sha256:$(it_sha256 "$P/layer.tar")
jq -cj -n --arg d "$LDIG" '{architecture: "amd64", os: "linux", config: {Cmd: ["/bin/sh"]},
	rootfs: {type: "layers", diff_ids: [$d]}}' >"$P/config.json"
jq -cj -n --arg cd "sha256:$(it_sha256 "$P/config.json")" --argjson cs "$(it_size "$P/config.json")" \
	--arg ld "$LDIG" --argjson ls "$(it_size "$P/layer.tar")" \
	'{schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json",
	  config: {mediaType: "application/vnd.docker.container.image.v1+json", size: $cs, digest: $cd},
	  layers: [{mediaType: "application/vnd.docker.image.rootfs.diff.tar", size: $ls, digest: $ld}]}' \
	>"$P/manifest.json"
push_blob test/plain "$P/layer.tar"
push_blob test/plain "$P/config.json"
curl -sSf -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
	--data-binary "@$P/manifest.json" "http://$REG/v2/test/plain/manifests/1.0" >/dev/null
it_layout_init "$T/gz"
l1=$(it_layer "$T/gz/blobs/sha256" "$T/src/b")
it_make_image "$T/gz" 1.0 linux/amd64 "$l1" >/dev/null
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$T/gz:1.0" "docker://$REG/test/gz:1.0"

# up_digest REF, config_digest REF, diff_ids REF: what skopeo reads from upstream.
raw_digest() { echo "sha256:$(skopeo inspect "${SK[@]}" --raw "docker://$1" | sha256sum | cut -d' ' -f1)"; }
config_digest() { echo "sha256:$(skopeo inspect "${SK[@]}" --config --raw "docker://$1" | sha256sum | cut -d' ' -f1)"; }
diff_ids() { skopeo inspect "${SK[@]}" --config --raw "docker://$1" | jq -c .rootfs.diff_ids; }
it_check_eq "upstream plain has uncompressed layers" application/vnd.docker.image.rootfs.diff.tar \
	"$(skopeo inspect "${SK[@]}" --raw "docker://$REG/test/plain:1.0" | jq -r '.layers[0].mediaType')"

it_log "archives by skopeo, Zarf and Hauler layouts"
A=$T/archives
mkdir -p "$A"
skopeo copy -q --src-tls-verify=false "docker://$REG/test/plain:1.0" "docker-archive:$A/plain-docker.tar:$REG/test/plain:1.0"
skopeo copy -q --src-tls-verify=false "docker://$REG/test/gz:1.0" "docker-archive:$A/gz-docker.tar:$REG/test/gz:1.0"
skopeo copy -q --src-tls-verify=false "docker://$REG/test/gz:1.0" "oci-archive:$A/gz-oci.tar:$REG/test/gz:1.0"
skopeo copy -q --src-tls-verify=false "docker://$REG/test/plain:1.0" "oci-archive:$A/plain-oci.tar:$REG/test/plain:1.0"
# Zarf: zarf.yaml naming the image, the layout in images/ (base.name), other members beside.
Z=$T/zarf
mkdir -p "$Z"
skopeo copy -q --src-tls-verify=false "docker://$REG/test/gz:1.0" "oci:$Z/images:zarf-ignored"
jq -c --arg n "$REG/test/gz:1.0" '.manifests[0].annotations = {"org.opencontainers.image.base.name": $n}' \
	"$Z/images/index.json" >"$T/i.json" && mv "$T/i.json" "$Z/images/index.json"
printf 'kind: ZarfPackageConfig\nmetadata:\n  name: demo\n  version: 1.0.0\ncomponents:\n  - name: app\n    images:\n      - %s\n' \
	"$REG/test/gz:1.0" >"$Z/zarf.yaml"
mkdir -p "$Z/components" && echo "not an image" >"$Z/components/app.tar" && echo x >"$Z/checksums.txt"
tar -C "$Z" --zstd -cf "$A/demo.zarf.tar.zst" zarf.yaml checksums.txt components images
# Hauler: the layout at the top, index.json annotations naming the reference.
H=$T/hauler
skopeo copy -q --src-tls-verify=false "docker://$REG/test/plain:1.0" "oci:$H:hauler-ignored"
jq -c --arg n "$REG/test/plain:1.0" '.manifests[0].annotations = {"io.containerd.image.name": $n,
	"org.opencontainers.image.ref.name": $n, "kind": "dev.cosignproject.cosign/image"}' \
	"$H/index.json" >"$T/i.json" && mv "$T/i.json" "$H/index.json"
tar -C "$H" --zstd -cf "$A/haul.tar.zst" oci-layout index.json blobs
# docker save before Docker 25, from skopeo's docker-archive pieces: each
# "<id>/layer.tar" is the layer file itself, named by no digest, beside
# "<id>/json" and "<id>/VERSION"; manifest.json lists those names; the
# config stays "<hex>.json"; "repositories" names the top id.
L=$T/legacy
mkdir -p "$L" && tar -C "$L" -xf "$A/gz-docker.tar" && chmod -R u+w "$L"
map='{}'
for link in "$L"/*/layer.tar; do
	target=$(readlink "$link") && rm "$link" && mv "$L/${target#../}" "$link"
	map=$(jq -c --arg f "${target#../}" --arg t "${link#"$L"/}" '. + {($f): $t}' <<<"$map")
done
jq -c --argjson m "$map" --arg n "$REG/test/legacy:1.0" \
	'map(.Layers |= map($m[.]) | .RepoTags = [$n])' "$L/manifest.json" >"$T/m.json" &&
	mv "$T/m.json" "$L/manifest.json"
(cd "$L" && tar --sort=name -cf "$A/gz-legacy.tar" -- */ *.json repositories)

DATA=$T/data
load() { "$BARGED" load --data-dir "$DATA" "$@"; }
# barged serve over TLS on a kernel-picked port, anonymous pulls; sets PORT.
PASS=archive-test-password
printf '%s\n' "$PASS" >"$T/admin.password"
chmod 600 "$T/admin.password"
serve() {
	it_barged_serve "$T/serve.log" "$1" --admin-password-file "$T/admin.password" --no-import
	PID=$IT_LAST_PID PORT=$IT_PORT
}
LREPO=edge/${REG/:/_}/test

it_check "docker-archive of the uncompressed image loads" load "$A/plain-docker.tar"
it_check "docker-archive of the gzip image loads" load "$A/gz-docker.tar"
it_check_eq "docker save before Docker 25: layers are files named by no digest" \
	"$(jq -r '.[0].Layers[]' "$L/manifest.json" | sed 's,^[0-9a-f]*/,ID/,')" ID/layer.tar
it_check "docker save before Docker 25 loads" load "$A/gz-legacy.tar"
serve "$DATA"
B=127.0.0.1:$PORT
it_check_eq "docker-archive (uncompressed upstream): manifest digest is upstream's" \
	"$(raw_digest "$REG/test/plain:1.0")" "$(raw_digest "$B/$LREPO/plain:1.0")"
it_check_eq "docker-archive (gzip upstream): config digest is upstream's" \
	"$(config_digest "$REG/test/gz:1.0")" "$(config_digest "$B/$LREPO/gz:1.0")"
it_check_eq "docker-archive (gzip upstream): diff IDs are upstream's" \
	"$(diff_ids "$REG/test/gz:1.0")" "$(diff_ids "$B/$LREPO/gz:1.0")"
it_check_eq "docker save before Docker 25: config digest is upstream's" \
	"$(config_digest "$REG/test/gz:1.0")" "$(config_digest "$B/$LREPO/legacy:1.0")"
it_check_eq "docker save before Docker 25: diff IDs are upstream's" \
	"$(diff_ids "$REG/test/gz:1.0")" "$(diff_ids "$B/$LREPO/legacy:1.0")"
it_check "skopeo copies the loaded image out of barged" \
	skopeo copy -q --src-tls-verify=false "docker://$B/$LREPO/plain:1.0" "oci:$T/out:1"

it_check "oci-archive loads" load "$A/gz-oci.tar"
it_check_eq "oci-archive: manifest digest is upstream's" \
	"$(raw_digest "$REG/test/gz:1.0")" "$(raw_digest "$B/$LREPO/gz:1.0")"
it_check "Zarf package loads" load "$A/demo.zarf.tar.zst"
it_check "Hauler haul loads" load "$A/haul.tar.zst"
it_check_eq "Hauler: served with the digest of the layout it holds" \
	"$(jq -r '.manifests[0].digest' "$H/index.json")" "$(raw_digest "$B/$LREPO/plain:1.0")"
it_check_eq "the Zarf package's dropped members left no blob" "" \
	"$(find "$DATA/blobs" -type f -name "$(it_sha256 "$Z/components/app.tar")")"

it_log "an archive without names"
jq -c '.manifests[0].annotations = {"org.opencontainers.image.ref.name": "v9"}' "$H/index.json" >"$T/i.json"
mkdir -p "$T/noname" && cp -r "$H/blobs" "$H/oci-layout" "$T/noname/" && mv "$T/i.json" "$T/noname/index.json"
tar -C "$T/noname" -cf "$A/noname.tar" oci-layout index.json blobs
out=$(load "$A/noname.tar" 2>&1) && it_fail "an unnamed image needs --repo" ||
	it_check "an unnamed image needs --repo (refusal names the entry)" grep -q 'index.json: manifests\[0\].*--repo' <<<"$out"
it_check "--repo names it, with the archive's tag" load --repo "$REG/test/named" "$A/noname.tar"
it_check_eq "--repo: served under that name and tag" \
	"$(jq -r '.manifests[0].digest' "$H/index.json")" "$(raw_digest "$B/$LREPO/named:v9")"

it_log "upload of an oci-archive"
UDATA=$T/udata
it_stop "$PID"
serve "$UDATA"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' --cacert "$UDATA/ca.crt" -T "$A/gz-oci.tar" \
	-u "admin:$PASS" "https://127.0.0.1:$PORT/api/v1/bundles" || true)
it_check_eq "PUT /api/v1/bundles takes an oci-archive" 201 "$code"
it_check_eq "uploaded oci-archive: manifest digest is upstream's" \
	"$(raw_digest "$REG/test/gz:1.0")" "$(raw_digest "127.0.0.1:$PORT/$LREPO/gz:1.0")"

it_log "hostile archives"
state() { "$BARGED" ls --data-dir "$DATA"; (cd "$DATA/blobs" && find . -type f | sort); }
before=$(state)
python3 - "$A" "$T/gz" <<'PY'
import io, os, sys, tarfile
out, layout = sys.argv[1], sys.argv[2]
def layout_members(t, skip=()):
    for root, _, files in os.walk(layout):
        for f in files:
            p = os.path.join(root, f)
            n = os.path.relpath(p, layout)
            if n not in skip:
                t.add(p, n)
with tarfile.open(out + "/escape.tar", "w") as t:
    layout_members(t)
    data = b"evil"
    i = tarfile.TarInfo("../evil"); i.size = len(data); t.addfile(i, io.BytesIO(data))
with tarfile.open(out + "/symlink.tar", "w") as t:
    layout_members(t)
    i = tarfile.TarInfo("blobs/sha256/" + "0" * 64); i.type = tarfile.SYMTYPE; i.linkname = "/etc/passwd"
    t.addfile(i)
blobs = os.path.join(layout, "blobs", "sha256")
victim = max(os.listdir(blobs), key=lambda n: os.path.getsize(os.path.join(blobs, n)))
with tarfile.open(out + "/mismatch.tar", "w") as t:
    layout_members(t, skip=("blobs/sha256/" + victim,))
    data = bytearray(open(os.path.join(blobs, victim), "rb").read()); data[-1] ^= 1
    i = tarfile.TarInfo("blobs/sha256/" + victim); i.size = len(data); t.addfile(i, io.BytesIO(bytes(data)))
print(victim)
PY
# refused NAME MESSAGE: `barged load` fails naming the member, and changes nothing.
refused() {
	local out rc=0
	out=$(load "$A/$1" 2>&1) || rc=$?
	if [ "$rc" = 1 ] && grep -qF -- "$2" <<<"$out"; then
		it_pass "$1 refused: $2"
	else
		it_fail "$1 refused (exit $rc: $out)"
	fi
	it_check_eq "$1: barged ls and the blobs unchanged" "$before" "$(state)"
}
# A legacy layer whose bytes are not the config's diff ID.
cp -r "$L" "$T/legacy-bad"
lt=$(cd "$T/legacy-bad" && echo */layer.tar)
it_flip_byte "$T/legacy-bad/$lt" 0
(cd "$T/legacy-bad" && tar --sort=name -cf "$A/legacy-bad.tar" -- */ *.json repositories)
refused legacy-bad.tar "member \"$lt\" is not that layer"
refused escape.tar 'member "../evil": ".." path component'
refused symlink.tar "symbolic link to \"/etc/passwd\" not allowed"
refused mismatch.tar 'member "blobs/sha256/'
head -c 4096 /dev/urandom >"$A/random.bin"
refused random.bin "not a barge bundle"

it_summary
