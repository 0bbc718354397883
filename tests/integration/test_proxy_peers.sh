#!/usr/bin/env bash
# The pull-through cache's peers and containerd (issue #12), with real parts
# on 127.0.0.1: three barged, a bundle loaded into the first; containerd
# (ctr, through the hosts.toml `barged mirror-config` writes) pulls a cold
# image through the second from a docker-registry upstream; then, with the
# upstream stopped, the bundle's images are pulled through the second and
# the third from the first, and a missing image is answered 404 at once by
# peers that ask each other (a request from a peer is answered from the
# local store only: no loop).  See also test_proxy.sh.
#
# Env: BARGE, BARGED (paths of the binaries; default build/...).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
for tool in "$BARGE" "$BARGED" curl jq skopeo docker-registry; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done

it_tmpdir
CURL=(curl -s -k --noproxy '*' --max-time 30)
IT_BIG_BYTES=$((1024 * 1024)) it_make_sample_images "$IT_TMP/images"
it_registry_start
REG_PID=$IT_LAST_PID
for n in app-a app-b multi; do it_push "$IT_TMP/images" "$n"; done
it_build_bundle "$IT_TMP/base.tar.zst" base 1.0.0 app-a multi
"$BARGED" load --data-dir "$IT_TMP/d1" "$IT_TMP/base.tar.zst" >"$IT_TMP/load.out" 2>&1 ||
	it_die "barged load: $(cat "$IT_TMP/load.out")"

P1=$(it_free_port)
P2=$(it_free_port)
while [ "$P2" = "$P1" ]; do P2=$(it_free_port); done
P3=$(it_free_port)
while [ "$P3" = "$P1" ] || [ "$P3" = "$P2" ]; do P3=$(it_free_port); done
DEAD=$(it_free_port) # nothing listens there: an upstream that is down

# peer N PORT SCHEME ARGS...: barged serve N on PORT; PID_N.
peer() {
	local n=$1 port=$2 scheme=$3
	shift 3
	it_spawn "$IT_TMP/p$n.log" "$BARGED" serve --data-dir "$IT_TMP/d$n" --no-import \
		--listen "127.0.0.1:$port" "$@"
	eval "PID_$n=$IT_LAST_PID"
	it_wait_for 30 "${CURL[@]}" -f "$scheme://127.0.0.1:$port/healthz" || {
		cat "$IT_TMP/p$n.log" >&2
		it_die "barged $n did not come up"
	}
}
# The first holds the bundle; the first and third ask each other; the second
# (HTTPS, for containerd) asks both and pulls through from the upstream.
peer 1 "$P1" http --plain-http --proxy "docker.io=http://127.0.0.1:$DEAD" \
	--peer "http://127.0.0.1:$P3"
peer 3 "$P3" http --plain-http --proxy "docker.io=http://127.0.0.1:$DEAD" \
	--peer "http://127.0.0.1:$P1"
peer 2 "$P2" https --proxy "docker.io=http://$IT_REGISTRY" \
	--peer "http://127.0.0.1:$P1" --peer "http://127.0.0.1:$P3"

# --- containerd through barged mirror-config's hosts.toml: a cold pull -----------

if [ "$(id -u)" -ne 0 ] || ! command -v ctr >/dev/null; then
	it_fail "containerd checks need root and ctr"
else
	"$BARGED" mirror-config --runtime containerd --output-dir "$IT_TMP/etc-ctd" --config /dev/null \
		--endpoint "127.0.0.1:$P2" --data-dir "$IT_TMP/d2" \
		--registry "docker.io=http://127.0.0.1:$DEAD" >/dev/null
	it_containerd_start
	if ctr --address "$IT_CTR_SOCK" images pull --snapshotter "$IT_SNAPSHOTTER" \
		--platform linux/amd64 --hosts-dir "$IT_TMP/etc-ctd/certs.d" \
		docker.io/library/app-b:1.0 >"$IT_TMP/ctr.out" 2>&1; then
		it_check_eq "ctr pulls app-b cold through barged's hosts.toml: the upstream's digest" \
			"$(it_top_digest "$IT_TMP/images" app-b)" \
			"$(ctr --address "$IT_CTR_SOCK" images ls 2>/dev/null |
				awk '$1 == "docker.io/library/app-b:1.0" {print $3}')"
	else
		it_fail "ctr pulls app-b through barged: $(tail -3 "$IT_TMP/ctr.out")"
	fi
	it_check "the cold pull went to the upstream through the proxy" \
		grep -q "library/app-b:1.0 fetched from upstream docker.io" "$IT_TMP/p2.log"
fi

# --- the upstream stopped: the bundle's images through the peers ----------------

it_stop "$REG_PID"
for p in "2 127.0.0.1:$P2" "3 127.0.0.1:$P3"; do
	n=${p%% *}
	for img in app-a multi; do
		rm -rf "$IT_TMP/out"
		if skopeo copy -q --all --src-tls-verify=false \
			"docker://${p#* }/edge/docker.io/library/$img:1.0" "dir:$IT_TMP/out" \
			>/dev/null 2>"$IT_TMP/skopeo.err"; then
			it_check_eq "barged $n serves the bundle's $img (loaded into barged 1) from its peer" \
				"$(it_top_digest "$IT_TMP/images" "$img")" \
				"sha256:$(sha256sum <"$IT_TMP/out/manifest.json" | cut -d' ' -f1)"
		else
			it_fail "barged $n: $img from its peer: $(cat "$IT_TMP/skopeo.err")"
		fi
	done
done
it_check "barged 3 logged the peer it fetched from" \
	grep -q "fetched from peer http://127.0.0.1:$P1" "$IT_TMP/p3.log"

# A missing image: peers that ask each other answer 404 at once, no loop.
t0=$(date +%s%3N)
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$P3/v2/edge/docker.io/library/nothing/manifests/1.0")
t=$(($(date +%s%3N) - t0))
it_check_eq "a missing image through peers that ask each other: 502 (upstream down)" 502 "$code"
it_check "a missing image: answered in ${t} ms (no loop)" test "$t" -le 3000
it_check_eq "barged 1 saw the missing image once, from its peer" 1 \
	"$(grep -c '"path":"/v2/edge/docker.io/library/nothing/manifests/1.0"' "$IT_TMP/p1.log" || true)"
it_check_eq "barged 1 answered its peer from the store (it did not ask barged 3 back)" 1 \
	"$(grep -c '"path":"/v2/edge/docker.io/library/nothing/manifests/1.0"' "$IT_TMP/p3.log" || true)"

for n in 1 2 3; do
	pid=$(eval echo "\$PID_$n")
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	it_check_eq "SIGTERM: barged $n exits 0" 0 "$rc"
done
it_check "no sanitizer report in any barged log" \
	sh -c "! grep -lE 'Sanitizer|runtime error' '$IT_TMP'/*.log"

it_summary
