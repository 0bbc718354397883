#!/usr/bin/env bash
# bench/serve.sh: barged serve against Debian's docker-registry and nginx (a
# static file root: the ceiling), serving the same blob and manifest on
# 127.0.0.1 in the same run.  Not a test: it prints figures and ratios and
# asserts nothing about time.  See bench/README.md.
#
# Figures:
#   - one BENCH_BLOB_MIB blob (default 1024) GET by 1 and 32 concurrent
#     curl clients, aggregate MiB/s, over HTTP and HTTPS (HTTP/1.1 for all);
#   - manifest GETs per second: wrk -c 64 -t 2 -d BENCH_WRK_SECS (keep-alive);
#   - RSS of barged (and docker-registry) idle and under 200 concurrent pulls.
#
# Every server and client runs in this script's session, so (with the
# kernel's autogroup scheduling) they share the cores per thread: a server
# with few threads gets little CPU against 32 curl processes.  barged
# started as a service elsewhere gets its own share.
#
# Env: BARGE, BARGED (default build/...: build with RelWithDebInfo, as
# scripts/check does; a sanitizer build measures the sanitizer),
# BENCH_BLOB_MIB, BENCH_CLIENTS (default 32), BENCH_WRK_SECS (default 10),
# BENCH_PULLS (default 200), BENCH_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
BLOB_MIB=${BENCH_BLOB_MIB:-1024}
CLIENTS=${BENCH_CLIENTS:-32}
WRK_SECS=${BENCH_WRK_SECS:-10}
PULLS=${BENCH_PULLS:-200}
IT_KEEP_TMP=${BENCH_KEEP_TMP:-}

# A fresh machine gets the tools from Debian's packages.
missing=()
for pair in nginx:nginx-light wrk:wrk curl:curl docker-registry:docker-registry skopeo:skopeo \
	jq:jq openssl:openssl zstd:zstd; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in "$BARGE" "$BARGED"; do
	[ -x "$tool" ] || it_die "missing $tool: build it first (cmake -S . -B build && make -C build)"
done
[ "$BLOB_MIB" -ge 1 ] || it_die "BENCH_BLOB_MIB must be at least 1"

it_tmpdir
T=$IT_TMP
BLOB_BYTES=$((BLOB_MIB * 1048576))
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json

# --- the image: one BLOB_MIB layer of random bytes ---------------------------

it_log "making a $BLOB_MIB MiB blob in $T"
UP=$T/layout
it_layout_init "$UP"
it_random_file "$T/blob" "$BLOB_BYTES" barge-bench
LAYER=$(it_blob_add "$UP/blobs/sha256" "$T/blob")
HEX=${LAYER#sha256:}
it_make_image "$UP" 1.0 linux/amd64 \
	"application/vnd.oci.image.layer.v1.tar $LAYER $BLOB_BYTES $LAYER" >/dev/null
MANIFEST=$(it_top_digest "$T" layout)

# port VAR: set VAR to a free loopback port not handed out before in this
# run.  Other programs may take it before our server binds it: every start
# below retries on a new port when the server dies at start-up.
USED_PORTS=" "
port() {
	local port_
	port_=$(it_free_port)
	while [[ $USED_PORTS == *" $port_ "* ]]; do port_=$(it_free_port); done
	USED_PORTS="$USED_PORTS$port_ "
	printf -v "$1" %s "$port_"
}

# up PID URL CURLARGS...: wait (30 s at most) until URL answers; fails at
# once when PID is gone.
up() {
	local pid=$1 deadline=$((SECONDS + 30)); shift
	until answers "$@"; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
		sleep 0.2
	done
}

# barged_start VAR LOG ARGS...: barged serve on a port the kernel picks
# (no race); VAR gets the port, BARGED_PID the process.
barged_start() {
	local var=$1 log=$2 p deadline=$((SECONDS + 30)); shift 2
	it_spawn "$log" "$BARGED" serve --data-dir "$T/data" --listen 127.0.0.1:0 --access-log off "$@"
	BARGED_PID=$IT_LAST_PID
	until p=$(sed -n 's/.*serving https* on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log") && [ -n "$p" ]; do
		if ! kill -0 "$BARGED_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			it_die "barged serve: $(cat "$log")"
		fi
		sleep 0.1
	done
	printf -v "$var" %s "$p"
}

# answers URL CURLARGS...: the server answers URL with any HTTP status.
answers() {
	local url=$1 code; shift
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url") || return 1
	[ "$code" != 000 ]
}

# --- TLS material for nginx and docker-registry ------------------------------

# The same key type as barged's generated certificate (ECDSA P-256).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$T/self.key" -out "$T/self.crt" 2>/dev/null

# --- docker-registry (HTTP and HTTPS, one storage) ---------------------------

# registry_start PORT [tls]: a docker-registry on the shared storage; no
# access log (nginx and barged write none either in this run).
registry_start() {
	local port=$1 tls=${2:-} cfg=$T/registry-$1.yml
	{
		printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$T/registry"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
		[ -z "$tls" ] || printf '  tls:\n    certificate: %s\n    key: %s\n' "$T/self.crt" "$T/self.key"
	} >"$cfg"
	it_spawn "$T/registry-$port.log" docker-registry serve "$cfg"
}
# registry_up VAR [tls]: start one, retrying on another port if it dies.
registry_up() {
	local var=$1 tls=${2:-} p i args=()
	[ -z "$tls" ] || args=(--cacert "$T/self.crt")
	for i in 1 2 3 4 5; do
		port p
		registry_start "$p" "$tls"
		REGISTRY_PID=$IT_LAST_PID
		if up "$REGISTRY_PID" "http${tls:+s}://127.0.0.1:$p/v2/" "${args[@]}"; then
			printf -v "$var" %s "$p"
			return 0
		fi
		kill -0 "$REGISTRY_PID" 2>/dev/null && break
	done
	it_die "docker-registry: $(cat "$T"/registry-*.log)"
}
registry_up RP
it_log "pushing to docker-registry"
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$UP:1.0" \
	"docker://127.0.0.1:$RP/library/bench:1.0" >&2
registry_up RPS tls
REGS_PID=$REGISTRY_PID

# --- barged: barge build from docker-registry, load, serve -------------------

it_log "barge build + barged load"
cat >"$T/profile.yaml" <<EOF
apiVersion: barge.dev/v1
kind: ClusterProfile
metadata: {name: bench, version: 1.0.0}
spec:
  platforms: [linux/amd64]
  project: edge
  packs:
    - name: base
      images: [docker.io/library/bench:1.0]
EOF
"$BARGE" build "$T/profile.yaml" --output-file "$T/bench.tar.zst" --cache-dir "$T/cache" \
	--registry-mirror "docker.io=http://127.0.0.1:$RP" >&2
"$BARGED" load --data-dir "$T/data" "$T/bench.tar.zst" >&2
rm -rf "$T/cache" "$T/bench.tar.zst"
# No access log: nginx and docker-registry write none in this run either.
barged_start BP "$T/barged-http.log" --plain-http
BARGED_HTTP_PID=$BARGED_PID
barged_start BPS "$T/barged-https.log"
BARGEDS_PID=$BARGED_PID
up "$BARGEDS_PID" "https://127.0.0.1:$BPS/v2/" --cacert "$T/data/ca.crt" ||
	it_die "barged (TLS): $(cat "$T/barged-https.log")"

# --- nginx: the same files as a static root ----------------------------------

WWW=$T/www/v2/library/bench
mkdir -p "$WWW/blobs" "$WWW/manifests" "$T/nginx/tmp"
ln "$UP/blobs/sha256/$HEX" "$WWW/blobs/$LAYER"
cp "$UP/blobs/sha256/${MANIFEST#sha256:}" "$WWW/manifests/1.0"
# nginx_up: start it, retrying on other ports if it dies at start-up.
nginx_up() {
	local i
	for i in 1 2 3 4 5; do
		port NP
		port NPS
		cat >"$T/nginx/nginx.conf" <<EOF
user root;
worker_processes auto;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path $T/nginx/tmp;
  proxy_temp_path $T/nginx/tmp;
  fastcgi_temp_path $T/nginx/tmp;
  uwsgi_temp_path $T/nginx/tmp;
  scgi_temp_path $T/nginx/tmp;
  server { listen 127.0.0.1:$NP; root $T/www; }
  server {
    listen 127.0.0.1:$NPS ssl;
    ssl_certificate $T/self.crt;
    ssl_certificate_key $T/self.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $T/www;
  }
}
EOF
		it_spawn "$T/nginx/log" nginx -p "$T/nginx" -c "$T/nginx/nginx.conf"
		NGINX_PID=$IT_LAST_PID
		up "$NGINX_PID" "http://127.0.0.1:$NP/v2/library/bench/manifests/1.0" &&
			up "$NGINX_PID" "https://127.0.0.1:$NPS/v2/" --cacert "$T/self.crt" && return 0
		kill -0 "$NGINX_PID" 2>/dev/null && break
	done
	it_die "nginx: $(cat "$T/nginx/log" "$T/nginx/error.log" 2>/dev/null)"
}
nginx_up

# --- servers under test ------------------------------------------------------

# NAME SCHEME PORT REPO-PATH CURL-TLS-ARGS
SERVERS=(
	"barged http $BP edge/docker.io/library/bench"
	"registry http $RP library/bench"
	"nginx http $NP library/bench"
	"barged https $BPS edge/docker.io/library/bench --cacert $T/data/ca.crt"
	"registry https $RPS library/bench --cacert $T/self.crt"
	"nginx https $NPS library/bench --cacert $T/self.crt"
)

# Every server must serve the same bytes before anything is timed.
for s in "${SERVERS[@]}"; do
	read -r name scheme port repo tlsargs <<<"$s"
	base=$scheme://127.0.0.1:$port/v2/$repo
	# shellcheck disable=SC2086 # tlsargs is empty or two words
	got=$(curl -sf --http1.1 $tlsargs -H "Accept: $MT_MANIFEST" "$base/manifests/1.0" | it_sha256 /dev/stdin)
	[ "sha256:$got" = "$MANIFEST" ] || it_die "$name ($scheme) serves another manifest: $got"
	# shellcheck disable=SC2086
	got=$(curl -sf --http1.1 $tlsargs "$base/blobs/$LAYER" | it_sha256 /dev/stdin)
	[ "sha256:$got" = "$LAYER" ] || it_die "$name ($scheme) serves another blob: $got"
done
it_log "all six endpoints serve the same manifest and blob (warm page cache)"

# The TLS version and cipher each server agrees with this curl (they cost
# differently: AES-128-GCM does 10 rounds a block, AES-256-GCM 14).
declare -A CIPHER
for s in "${SERVERS[@]}"; do
	read -r name scheme port repo tlsargs <<<"$s"
	[ "$scheme" = https ] || continue
	# shellcheck disable=SC2086
	CIPHER[$name]=$(curl -sv --http1.1 -o /dev/null $tlsargs "https://127.0.0.1:$port/v2/" 2>&1 |
		sed -n 's/^\* SSL connection using //p')
done

# --- measurements ------------------------------------------------------------

now() { date +%s.%N; }

# throughput N URL CURLARGS...: N parallel GETs of URL; prints aggregate
# MiB/s, or "error" when a download came short.
throughput() {
	local n=$1 url=$2 i t0 t1 bad=0 pids=(); shift 2
	t0=$(now)
	for i in $(seq 1 "$n"); do
		curl -s --http1.1 -o /dev/null -w '%{size_download}\n' "$@" "$url" >"$T/dl.$i" &
		pids+=("$!")
	done
	for i in "${pids[@]}"; do wait "$i" || bad=1; done
	t1=$(now)
	for i in $(seq 1 "$n"); do
		[ "$(cat "$T/dl.$i")" = "$BLOB_BYTES" ] || bad=1
	done
	rm -f "$T"/dl.*
	if [ "$bad" -ne 0 ]; then echo error; return 0; fi
	awk -v n="$n" -v b="$BLOB_BYTES" -v a="$t0" -v z="$t1" \
		'BEGIN { printf "%.0f", n * b / 1048576 / (z - a) }'
}

# reqs URL: manifest GETs per second with wrk; "error" when any failed.
reqs() {
	local out
	out=$(wrk -c 64 -t 2 -d "${WRK_SECS}s" -H "Accept: $MT_MANIFEST" "$1" 2>&1) || {
		echo error
		return 0
	}
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		echo "$out" | grep -E 'Non-2xx|Socket errors' | sed 's/^/  wrk: /' >&2
		echo error
		return 0
	fi
	awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out"
}

declare -A FIG
for s in "${SERVERS[@]}"; do
	read -r name scheme port repo tlsargs <<<"$s"
	base=$scheme://127.0.0.1:$port/v2/$repo
	it_log "$name $scheme: 1 client"
	# shellcheck disable=SC2086
	FIG[$name.$scheme.1]=$(throughput 1 "$base/blobs/$LAYER" $tlsargs)
	it_log "$name $scheme: $CLIENTS clients"
	# shellcheck disable=SC2086
	FIG[$name.$scheme.n]=$(throughput "$CLIENTS" "$base/blobs/$LAYER" $tlsargs)
	it_log "$name $scheme: wrk manifests"
	FIG[$name.$scheme.rps]=$(reqs "$base/manifests/1.0")
done

# rss_kib PID: resident set of PID in KiB.
rss_kib() { ps -o rss= -p "$1" | tr -d ' '; }

# peak_rss PID URL CURLARGS...: PULLS concurrent pulls of URL, each limited
# to 4 MiB/s for 8 s, so that all of them are open at once; prints the
# highest RSS of PID (KiB) sampled every 0.2 s meanwhile.
peak_rss() {
	local pid=$1 url=$2 i peak=0 r pids=(); shift 2
	for i in $(seq 1 "$PULLS"); do
		curl -s --http1.1 -o /dev/null --limit-rate 4M --max-time 8 "$@" "$url" &
		pids+=("$!")
	done
	while :; do
		r=$(rss_kib "$pid")
		[ "$r" -le "$peak" ] || peak=$r
		for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null && break; done
		kill -0 "$i" 2>/dev/null || break
		sleep 0.2
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	echo "$peak"
}

it_log "RSS"
# A fresh barged for the idle figure: the ones above have served a lot.
barged_start P "$T/barged-idle.log"
IDLE_PID=$BARGED_PID
up "$IDLE_PID" "https://127.0.0.1:$P/v2/" --cacert "$T/data/ca.crt" || it_die "barged idle"
sleep 1
FIG[rss.barged.idle]=$(rss_kib "$IDLE_PID")
# The part that is barged's own: RSS also counts the shared libraries' pages.
FIG[rss.barged.anon]=$(awk '/^RssAnon:/ { print $2 }' "/proc/$IDLE_PID/status")
FIG[rss.barged.after]=$(rss_kib "$BARGEDS_PID")
FIG[rss.registry.after]=$(rss_kib "$REGS_PID")
FIG[rss.barged.load]=$(peak_rss "$IDLE_PID" \
	"https://127.0.0.1:$P/v2/edge/docker.io/library/bench/blobs/$LAYER" --cacert "$T/data/ca.crt")
FIG[rss.barged.loadhttp]=$(peak_rss "$BARGED_HTTP_PID" \
	"http://127.0.0.1:$BP/v2/edge/docker.io/library/bench/blobs/$LAYER")
FIG[rss.registry.load]=$(peak_rss "$REGS_PID" \
	"https://127.0.0.1:$RPS/v2/library/bench/blobs/$LAYER" --cacert "$T/self.crt")

# --- report -----------------------------------------------------------------

ratio() { # ratio A B: A/B to two places, "-" when either is not a number
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b == 0) print "-";
		else printf "%.2f", a / b }'
}
goal() { # goal RATIO MIN: "ok" when RATIO >= MIN, else "MISSED"
	awk -v r="$1" -v m="$2" 'BEGIN { if (r == "-") print "?"; else print (r >= m ? "ok" : "MISSED") }'
}

echo
printf 'barged serve benchmark: %s MiB blob, %s clients, wrk %ss, %s pulls for RSS; %s cores\n' \
	"$BLOB_MIB" "$CLIENTS" "$WRK_SECS" "$PULLS" "$(nproc)"
printf '%-34s %10s %10s %10s   %-18s %-18s %s\n' figure barged registry nginx \
	"barged/registry" "barged/nginx" "nginx/registry"
row() { # row LABEL KEY REGISTRY-GOAL NGINX-GOAL
	local b=${FIG[barged.$2]} r=${FIG[registry.$2]} n=${FIG[nginx.$2]} rr rn
	rr=$(ratio "$b" "$r")
	rn=$(ratio "$b" "$n")
	printf '%-34s %10s %10s %10s   %-18s %-18s %s\n' "$1" "$b" "$r" "$n" \
		"$rr${3:+ ($(goal "$rr" "$3") >=$3)}" "$rn${4:+ ($(goal "$rn" "$4") >=$4)}" \
		"$(ratio "$n" "$r")"
}
row "blob GET MiB/s, http, 1 client" http.1 1.5 0.9
row "blob GET MiB/s, http, $CLIENTS clients" http.n 1.5 0.9
row "blob GET MiB/s, https, 1 client" https.1 1.5 0.9
row "blob GET MiB/s, https, $CLIENTS clients" https.n 1.5 0.9
row "manifest GET req/s, http, wrk -c64" http.rps 3
row "manifest GET req/s, https, wrk -c64" https.rps 3
echo
for name in barged registry nginx; do
	printf 'TLS with curl: %-9s %s\n' "$name" "${CIPHER[$name]:-?}"
done
cat <<EOF

Reading the throughput rows: the last column (nginx/registry) is how far a
static file server gets past docker-registry on this machine.  Over plain
http all three send the file with sendfile(2) and stop at the kernel's
loopback copy rate, so 1.5x docker-registry is out of reach there for any
server (nginx itself is the ceiling).  Over https the curl clients decrypt
on the same $(nproc) cores as the server encrypts, and docker-registry (Go)
picks AES-128-GCM where curl's own order gives barged and nginx AES-256-GCM.
EOF
kib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
rss() { # rss LABEL KIB [GOAL-KIB]
	local verdict=""
	[ -z "${3:-}" ] || verdict=$(awk -v k="$2" -v g="$3" \
		'BEGIN { printf "(goal <= %d MiB: %s)", g / 1024, k <= g ? "ok" : "MISSED" }')
	printf '%-44s %10s  %s\n' "$1" "$(kib "$2")" "$verdict"
}
echo
rss "RSS barged idle (fresh, https)" "${FIG[rss.barged.idle]}" 8192
rss "  of which anonymous (not library pages)" "${FIG[rss.barged.anon]}"
rss "RSS barged, $PULLS pulls, https (peak)" "${FIG[rss.barged.load]}" 65536
rss "RSS barged, $PULLS pulls, http (peak)" "${FIG[rss.barged.loadhttp]}"
rss "RSS barged https after the runs above" "${FIG[rss.barged.after]}"
rss "RSS docker-registry https after the runs" "${FIG[rss.registry.after]}"
rss "RSS docker-registry, $PULLS pulls, https (peak)" "${FIG[rss.registry.load]}"
