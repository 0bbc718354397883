#!/usr/bin/env bash
# barged mirror-config, used for real: images pulled by their upstream names
# (docker.io/library/...) arrive from barged through the generated files.
#   containerd: ctr pulls through the generated certs.d hosts directory.
#   CRI-O format: skopeo (containers/image, the library CRI-O and podman read
#   registries.conf with) and podman, if installed, pull through the generated
#   registries.conf.d drop-in and the CA it says where to put.
# The upstream "server" of every generated file is a dead loopback port, so
# a pull that bypassed barged fails instead of leaving 127.0.0.1.
#
# Env: BARGE, BARGED (paths of the binaries).  Needs root for containerd.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}

for tool in "$BARGE" "$BARGED" docker-registry skopeo containerd ctr jq curl; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
export IT_BIG_BYTES=4096
it_make_sample_images "$IT_TMP/images"
UP=$IT_TMP/images
it_registry_start
it_push "$UP" app-a
it_push "$UP" app-b
it_push "$UP" multi

cat >"$IT_TMP/profile.yaml" <<EOF
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: mirror, version: 1.0.0}
spec:
  platforms: [linux/amd64, linux/arm64]
  packs:
    - name: base
      images: [docker.io/library/app-a:1.0, docker.io/library/multi:1.0]
EOF
SOURCE_DATE_EPOCH=0 "$BARGE" build "$IT_TMP/profile.yaml" --output-file "$IT_TMP/mirror.tar.zst" \
	--registry-mirror "docker.io=http://$IT_REGISTRY" --cache-dir "$IT_TMP/cache" \
	2>"$IT_TMP/build.err" || { cat "$IT_TMP/build.err"; it_die "barge build failed"; }
DATA=$IT_TMP/data
"$BARGED" load --data-dir "$DATA" "$IT_TMP/mirror.tar.zst" 2>"$IT_TMP/load.err" ||
	{ cat "$IT_TMP/load.err"; it_die "barged load failed"; }

# answers URL CURLARGS...: the server answers with any HTTP status (/v2/ may ask for a token).
answers() {
	local url=$1 code
	shift
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url") || return 1
	[ "$code" != 000 ]
}
PORT=$(it_free_port)
EP=127.0.0.1:$PORT
# The webhook swaps references to this very barged (webhook.advertise).
SERVE_CFG=()
if "$BARGED" serve --help 2>&1 | grep -q -- --config; then
	printf 'webhook:\n  advertise: "%s"\n' "$EP" >"$IT_TMP/barged.yaml"
	SERVE_CFG=(--config "$IT_TMP/barged.yaml")
fi
# Debug level: reviews left unpatched are logged there (patches at info).
it_spawn "$IT_TMP/serve.log" "$BARGED" serve "${SERVE_CFG[@]}" --data-dir "$DATA" --listen "$EP" \
	--log-level debug
SERVE_PID=$IT_LAST_PID
it_wait_for 30 answers "https://$EP/v2/" --cacert "$DATA/ca.crt" ||
	{ cat "$IT_TMP/serve.log"; it_die "barged serve does not answer"; }

DEAD=$(it_free_port)
while [ "$DEAD" = "$PORT" ]; do DEAD=$(it_free_port); done
# Anything that still tried to leave loopback would meet a dead proxy.
export HTTPS_PROXY=http://127.0.0.1:$DEAD HTTP_PROXY=http://127.0.0.1:$DEAD
export NO_PROXY=127.0.0.1,localhost

# --- the webhook's answer -----------------------------------------------------

# review IMAGE: an AdmissionReview (the dry-run fixture) of a pod running IMAGE.
review() {
	jq --arg i "$1" '.request.object.spec.containers[0].image = $i' \
		"$IT_REPO_ROOT/tests/data/admission/dryrun.json"
}
# mutate BODYFILE: POST it to /webhook/mutate; prints the HTTP status.
mutate() {
	curl -s -o "$IT_TMP/answer.json" -w '%{http_code}' --cacert "$DATA/ca.crt" \
		-H 'Content-Type: application/json' --data-binary "@$1" "https://$EP/webhook/mutate" ||
		true
}
SWAPPED=$EP/edge/docker.io/library/app-a:1.0
review docker.io/library/app-a:1.0 >"$IT_TMP/review.json"
code=$(mutate "$IT_TMP/review.json")
if [ "${#SERVE_CFG[@]}" -eq 0 ] || [ "$code" = 404 ] || [ "$code" = 405 ]; then
	printf 'SKIP: this barged does not route POST /webhook/mutate yet (answered %s)\n' "$code"
else
	it_check_eq "POST /webhook/mutate answers 200" 200 "$code"
	it_check_eq "the answer keeps the review's uid" \
		"$(jq -r .request.uid "$IT_TMP/review.json")" "$(jq -r .response.uid "$IT_TMP/answer.json")"
	got=$(jq -r '.response.patch // empty' "$IT_TMP/answer.json" | base64 -d |
		jq -r '.[] | select(.path == "/spec/containers/0/image") | .value')
	it_check_eq "the webhook swaps docker.io/library/app-a:1.0 to barged" "$SWAPPED" "$got"
	review docker.io/library/app-b:1.0 >"$IT_TMP/review.json"
	mutate "$IT_TMP/review.json" >/dev/null
	it_check_eq "an image barged does not hold keeps its reference (policy present)" "" \
		"$(jq -r '.response.patch // empty' "$IT_TMP/answer.json")"
	printf '{"kind":' >"$IT_TMP/bad.json"
	code=$(mutate "$IT_TMP/bad.json")
	it_check_eq "a malformed review is allowed without a patch" "200 true " \
		"$code $(jq -r '.response.allowed' "$IT_TMP/answer.json") $(jq -r '.response.patch // empty' "$IT_TMP/answer.json")"
	it_check "and barged logs why it was not patched" \
		grep -q "webhook: not patched: malformed AdmissionReview" "$IT_TMP/serve.log"
	it_check "as it logs why a pod kept its image" \
		grep -q "webhook: not patched: pod .*: no image to swap" "$IT_TMP/serve.log"
fi

# --- the generated files ----------------------------------------------------

# -o is a format in every verb: the old -o DIR is refused, naming --output-dir, and writes nothing.
it_check_refused "mirror-config -o DIR is refused, naming --output-dir" \
	"barged mirror-config: -o/--output $IT_TMP/old-etc: not a format (json, yaml, text); to write the configuration into a directory use --output-dir $IT_TMP/old-etc" \
	"$BARGED" mirror-config --runtime containerd -o "$IT_TMP/old-etc" --config /dev/null --data-dir "$DATA"
it_check "a refused mirror-config -o DIR writes nothing" test ! -e "$IT_TMP/old-etc"

"$BARGED" mirror-config --runtime containerd --output-dir "$IT_TMP/default" --config /dev/null \
	--data-dir "$DATA" >/dev/null
for r in docker.io ghcr.io quay.io registry.k8s.io 127.0.0.1:30003; do
	it_check "default containerd config has certs.d/$r/hosts.toml" \
		test -s "$IT_TMP/default/certs.d/$r/hosts.toml"
done
it_check_eq "docker.io falls back to registry-1.docker.io" \
	'server = "https://registry-1.docker.io"' \
	"$(grep '^server' "$IT_TMP/default/certs.d/docker.io/hosts.toml")"

ETC_CTD=$IT_TMP/etc-containerd
if "$BARGED" mirror-config --runtime containerd --output-dir "$ETC_CTD" --config /dev/null \
	--endpoint "$EP" --data-dir "$DATA" \
	--registry "docker.io=https://127.0.0.1:$DEAD" >"$IT_TMP/mc.out" 2>&1; then
	it_pass "barged mirror-config --runtime containerd exits 0"
else
	cat "$IT_TMP/mc.out"
	it_fail "barged mirror-config --runtime containerd exits 0"
fi
it_check_eq "mirror-config names where docker.io goes" "docker.io -> $EP/edge/docker.io" \
	"$(cat "$IT_TMP/mc.out")"

# --- containerd ---------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	it_fail "containerd checks need root"
else
	it_containerd_start
	CTR=(ctr --address "$IT_CTR_SOCK")
	# ctr_pull REF PLATFORM WANT-DIGEST
	ctr_pull() {
		if "${CTR[@]}" images pull --snapshotter "$IT_SNAPSHOTTER" --platform "$2" \
			--hosts-dir "$ETC_CTD/certs.d" "$1" >"$IT_TMP/ctr.out" 2>&1; then
			it_pass "ctr pulls $1 ($2) through the generated hosts.toml"
		else
			cat "$IT_TMP/ctr.out"
			it_fail "ctr pulls $1 ($2) through the generated hosts.toml"
			return 0
		fi
		it_check_eq "ctr images ls: $1 has the upstream digest" "$3" \
			"$("${CTR[@]}" images ls 2>/dev/null | awk -v r="$1" '$1 == r {print $3}')"
	}
	ctr_pull docker.io/library/app-a:1.0 linux/amd64 "$(it_top_digest "$UP" app-a)"
	ctr_pull docker.io/library/multi:1.0 linux/arm64 "$(it_top_digest "$UP" multi)"
	# What the webhook swapped a reference to is pulled from barged directly,
	# trusting its CA through the generated certs.d/<endpoint>/hosts.toml.
	ctr_pull "$SWAPPED" linux/amd64 "$(it_top_digest "$UP" app-a)"
	# An image barged does not hold goes to the (dead) upstream and fails.
	if "${CTR[@]}" images pull --snapshotter "$IT_SNAPSHOTTER" --platform linux/amd64 \
		--hosts-dir "$ETC_CTD/certs.d" "docker.io/library/app-b:1.0" >"$IT_TMP/ctr.out" 2>&1; then
		it_fail "app-b (not in the bundle) is not pulled: the upstream is unreachable"
	else
		it_pass "app-b (not in the bundle) is not pulled: the upstream is unreachable"
	fi
fi

# --- CRI-O format ---------------------------------------------------------------

# containers/image reads drop-ins from ~/.config/containers/registries.conf.d
# when that directory exists, and certificates from the cert dir given.
HOME_DIR=$IT_TMP/home
ETC_CONTAINERS=$HOME_DIR/.config/containers
if "$BARGED" mirror-config --runtime crio --output-dir "$ETC_CONTAINERS" --config /dev/null \
	--endpoint "$EP" --data-dir "$DATA" --registry docker.io >"$IT_TMP/mc.out" 2>&1; then
	it_pass "barged mirror-config --runtime crio exits 0"
else
	cat "$IT_TMP/mc.out"
	it_fail "barged mirror-config --runtime crio exits 0"
fi
it_check "the CA is written where CRI-O looks for it" \
	cmp "$DATA/ca.crt" "$ETC_CONTAINERS/certs.d/$EP/ca.crt"
# The drop-in falls back to docker.io itself: point that at the dead port.
printf 'unqualified-search-registries = []\n' >"$IT_TMP/registries.conf"
sed "s|^location = \"docker.io\"|location = \"127.0.0.1:$DEAD\"|" \
	"$ETC_CONTAINERS/registries.conf.d/50-barge.conf" >"$IT_TMP/dropin"
mv "$IT_TMP/dropin" "$ETC_CONTAINERS/registries.conf.d/50-barge.conf"
export CONTAINERS_REGISTRIES_CONF=$IT_TMP/registries.conf

want=$(it_top_digest "$UP" app-a)
got=$(HOME=$HOME_DIR skopeo inspect --raw --cert-dir "$ETC_CONTAINERS/certs.d/$EP" \
	docker://docker.io/library/app-a:1.0 2>"$IT_TMP/skopeo.err" | sha256sum | cut -d' ' -f1)
[ "sha256:$got" = "$want" ] || cat "$IT_TMP/skopeo.err"
it_check_eq "skopeo (containers/image) reads docker.io/library/app-a:1.0 through the drop-in" \
	"$want" "sha256:$got"
if HOME=$HOME_DIR skopeo copy -q --src-cert-dir "$ETC_CONTAINERS/certs.d/$EP" \
	--override-arch arm64 docker://docker.io/library/multi:1.0 "oci:$IT_TMP/multi-out:1.0" \
	2>"$IT_TMP/skopeo.err"; then
	it_pass "skopeo copies docker.io/library/multi:1.0 (arm64) through the drop-in"
else
	cat "$IT_TMP/skopeo.err"
	it_fail "skopeo copies docker.io/library/multi:1.0 (arm64) through the drop-in"
fi

if ! command -v podman >/dev/null; then
	printf 'SKIP: podman is not installed here (Debian package podman); the CRI-O format was checked with skopeo, which reads it with the same library\n'
else
	PODMAN=(podman --root "$IT_TMP/podman/root" --runroot "$IT_TMP/podman/run"
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend none)
	if HOME=$HOME_DIR "${PODMAN[@]}" pull -q --cert-dir "$ETC_CONTAINERS/certs.d/$EP" \
		docker.io/library/app-a:1.0 >"$IT_TMP/podman.out" 2>&1; then
		it_pass "podman pulls docker.io/library/app-a:1.0 through the drop-in"
		it_check_eq "podman: the pulled image has the upstream digest" "$want" \
			"$(HOME=$HOME_DIR "${PODMAN[@]}" image inspect --format '{{.Digest}}' \
				docker.io/library/app-a:1.0)"
	else
		cat "$IT_TMP/podman.out"
		it_fail "podman pulls docker.io/library/app-a:1.0 through the drop-in"
	fi
fi

it_stop "$SERVE_PID"
it_check "barged serve log has no sanitizer report" \
	bash -c "! grep -qE 'Sanitizer|runtime error' '$IT_TMP/serve.log'"
it_summary
