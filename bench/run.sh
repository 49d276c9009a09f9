#!/usr/bin/env bash
# Per-core benchmark of mtls-proxy against the backend directly, nginx and HAProxy, on loopback.
#
#   bench/run.sh              load comparison (ROUNDS x scenarios x targets, interleaved), prints a Markdown table
#   bench/run.sh jmh [args]   JMH micro-benchmarks of the pure hot-path functions
#
# Settings (environment): ROUNDS=3 DURATION=10 (s per measurement) WARMUP=2 (s, not counted) IDLE_CONNS=2000
#   OUT=/tmp/mtls-bench-<time> (PKI, configs, logs, results.tsv)  PROXY_JAVA_OPTS (extra JVM flags for the proxy)
#   JIT_WARMUP=8 (s of keep-alive and of handshakes per warm-up cycle, half that of the other kinds; not recorded)
#   JIT_CYCLES=5 JIT_QUIET_MS=300 (JVM targets repeat the warm-up cycle until their JIT uses under 300 ms in one)
#   SCENARIOS="idle ka32 ka64 ka64h h2-64 lat1 hs-ecdsa hs-rsa hs-pq resume download"   (ka64h: requests with 8
#   more header fields, Authorization, Cookie, traceparent, ...; the others send Host only; h2-64: the same GETs
#   over HTTP/2, 4 connections x 16 concurrent streams, the backend leg HTTP/1.1 for every target)
#   TARGETS="direct proxy proxy-log nginx haproxy"
#
# CPU layout (2 cores): the proxy JVM (or nginx's master and single worker, or HAProxy with one thread) on CPU 0
# with one event-loop thread; the load generator and the backend share CPU 1. Installs Debian's nginx and haproxy
# with apt-get if they are missing.
# Key exchange: the generator offers X25519 and P-256, which every target negotiates (Debian's nginx and HAProxy
# link OpenSSL 3.0, without ML-KEM); hs-pq offers X25519MLKEM768, X25519, P-256 (the post-quantum hybrid first, as
# BoringSSL's default does): the proxy and the direct backend negotiate it, nginx and HAProxy fall back to X25519.
# Every process it starts is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROXY_JAR="$ROOT/proxy/target/mtls-proxy.jar"
BENCH_JAR="$ROOT/bench/target/benchmarks.jar"

build() {
  if [[ ! -f "$PROXY_JAR" || ! -f "$BENCH_JAR" ]]; then
    (cd "$ROOT" && mvn -B -q -DskipTests package)
  fi
}

if [[ "${1:-}" == "jmh" ]]; then
  shift
  build
  exec java -jar "$BENCH_JAR" "${@:-HotPath}"
fi

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
IDLE_CONNS=${IDLE_CONNS:-2000}
OUT=${OUT:-/tmp/mtls-bench-$(date +%Y%m%d-%H%M%S)}
SCENARIOS=${SCENARIOS:-"idle ka32 ka64 ka64h h2-64 lat1 hs-ecdsa hs-rsa hs-pq resume download"}
TARGETS=${TARGETS:-"direct proxy proxy-log nginx haproxy"}
# proxy-log (access log on) only where its cost shows; other scenarios compare proxy (WARN) with nginx
LOG_SCENARIOS=${LOG_SCENARIOS:-"ka32 lat1 hs-ecdsa"}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

build
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  echo "installing nginx (Debian package)" >&2
  apt-get install -y nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ " $TARGETS " == *" haproxy "* ]] && ! command -v haproxy >/dev/null 2>&1 && [[ ! -x /usr/sbin/haproxy ]]; then
  echo "installing haproxy (Debian package)" >&2
  apt-get install -y haproxy >/dev/null
fi
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# Certificates and configs in their own directory: the proxy watches the directories of the files it names and
# re-checks them after any change there, so the logs and results written during the run must live elsewhere.
mkdir -p "$OUT/pki"
cd "$OUT/pki"
ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- throwaway PKI (openssl, PKCS#8 keys)
ca() { # name alg
  openssl genpkey $2 -out "$1.key" 2>/dev/null
  openssl req -x509 -new -key "$1.key" -subj "/CN=$1" -days 2 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # name ca alg subject ext
  openssl genpkey $3 -out "$1.key" 2>/dev/null
  openssl req -new -key "$1.key" -subj "$4" -out "$1.csr" 2>/dev/null
  printf '%b' "$5" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 -out "$1.pem" \
    -extfile "$1.ext" 2>/dev/null
}
EC="-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
RSA="-algorithm RSA -pkeyopt rsa_keygen_bits:2048"
SRV="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
CLI="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
SPIFFE="spiffe://bench.local/ns/bench/sa/loadgen"
if [[ ! -f client.pem ]]; then
  ca ca "$EC"
  ca rsa-ca "$RSA"
  leaf server ca "$EC" "/CN=localhost" "${SRV}subjectAltName=DNS:localhost,IP:127.0.0.1\n"
  leaf rsa-server rsa-ca "$RSA" "/CN=localhost" "${SRV}subjectAltName=DNS:localhost,IP:127.0.0.1\n"
  leaf backend ca "$EC" "/CN=backend.bench.local" "${SRV}subjectAltName=DNS:backend.bench.local\n"
  leaf proxy-client ca "$EC" "/CN=mtls-proxy/OU=infra" "${CLI}subjectAltName=URI:spiffe://bench.local/mtls-proxy\n"
  leaf client ca "$EC" "/CN=loadgen/OU=bench" "${CLI}subjectAltName=URI:$SPIFFE\n"
  leaf rsa-client rsa-ca "$RSA" "/CN=loadgen/OU=bench" "${CLI}subjectAltName=URI:$SPIFFE\n"
  cat ca.pem rsa-ca.pem > clients-ca.pem
fi
# HAProxy reads a certificate and its key from one file
cat server.pem server.key > server-with-key.pem
cat rsa-server.pem rsa-server.key > rsa-server-with-key.pem
cat proxy-client.pem proxy-client.key > proxy-client-with-key.pem

# ---------------------------------------------------------------- ports and configs
B_EC=19000; B_RSA=19001
P_EC=19443; P_RSA=19444; P_ADMIN=19901
L_EC=19453; L_RSA=19454; L_ADMIN=19902
N_EC=19463; N_RSA=19464
H_EC=19473; H_RSA=19474

proxy_conf() { # file ec rsa admin
  cat > "$1" <<EOF
mtls-proxy {
  listeners = [
    { name = ecdsa, bind = "127.0.0.1:$2",
      tls { certificate-chain = "server.pem", private-key = "server.key",
            client-trust = [{ name = bench, ca-bundle = "clients-ca.pem" }] } }
    { name = rsa, bind = "127.0.0.1:$3",
      tls { certificate-chain = "rsa-server.pem", private-key = "rsa-server.key",
            client-trust = [{ name = bench, ca-bundle = "clients-ca.pem" }] } }
  ]
  routes = [{ name = bench, path-prefix = "/", backend = bench,
              allow = [{ name = loadgen, spiffe-id = "$SPIFFE" }] }]
  backends {
    bench {
      endpoints = ["127.0.0.1:$B_EC"]
      max-idle-per-endpoint = 256
      tls { ca-bundle = "ca.pem", server-name = "backend.bench.local",
            certificate-chain = "proxy-client.pem", private-key = "proxy-client.key" }
    }
  }
  admin { bind = "127.0.0.1:$4" }
}
EOF
}
proxy_conf proxy.conf $P_EC $P_RSA $P_ADMIN
proxy_conf proxy-log.conf $L_EC $L_RSA $L_ADMIN
cd "$OUT"

mkdir -p nginx-tmp
NGINX_USER=""
[[ $(id -u) == 0 ]] && NGINX_USER="user root;"
cat > nginx.conf <<EOF
$NGINX_USER
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile 16384;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx-tmp/body;
  proxy_temp_path $OUT/nginx-tmp/proxy;
  fastcgi_temp_path $OUT/nginx-tmp/fastcgi;
  uwsgi_temp_path $OUT/nginx-tmp/uwsgi;
  scgi_temp_path $OUT/nginx-tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  upstream bench { server 127.0.0.1:$B_EC; keepalive 256; keepalive_requests 100000000; }
  ssl_protocols TLSv1.3 TLSv1.2;
  ssl_client_certificate $OUT/pki/clients-ca.pem;
  ssl_verify_client on;
  ssl_verify_depth 3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_timeout 300s;
  ssl_session_tickets on;
  server {
    listen 127.0.0.1:$N_EC ssl http2;
    ssl_certificate $OUT/pki/server.pem;
    ssl_certificate_key $OUT/pki/server.key;
    include $OUT/pki/nginx-location.conf;
  }
  server {
    listen 127.0.0.1:$N_RSA ssl;
    ssl_certificate $OUT/pki/rsa-server.pem;
    ssl_certificate_key $OUT/pki/rsa-server.key;
    include $OUT/pki/nginx-location.conf;
  }
}
EOF
cat > pki/nginx-location.conf <<EOF
location / {
  proxy_pass https://bench;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host \$host;
  proxy_set_header X-Forwarded-Client-Cert "Hash=\$ssl_client_fingerprint;Subject=\"\$ssl_client_s_dn\"";
  proxy_set_header X-Forwarded-For \$remote_addr;
  proxy_set_header X-Forwarded-Proto https;
  proxy_ssl_verify on;
  proxy_ssl_trusted_certificate $OUT/pki/ca.pem;
  proxy_ssl_name backend.bench.local;
  proxy_ssl_server_name on;
  proxy_ssl_certificate $OUT/pki/proxy-client.pem;
  proxy_ssl_certificate_key $OUT/pki/proxy-client.key;
  proxy_ssl_session_reuse on;
  proxy_max_temp_file_size 0;
}
EOF

# HAProxy: one process, one thread on CPU 0; the same job as nginx (client certificate required against the same
# CAs, a client-certificate header set after removing the client's, TLS to the backend verified against its CA with
# the proxy's client certificate, idle backend connections reused).
cat > haproxy.cfg <<EOF
global
  nbthread 1
  cpu-map 1/1 0
  maxconn 9000
  tune.ssl.lifetime 300
  tune.ssl.cachesize 20480
  ssl-server-verify required
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  http-reuse always
frontend ecdsa
  bind 127.0.0.1:$H_EC ssl crt $OUT/pki/server-with-key.pem ca-file $OUT/pki/clients-ca.pem verify required alpn h2,http/1.1
  default_backend bench
frontend rsa
  bind 127.0.0.1:$H_RSA ssl crt $OUT/pki/rsa-server-with-key.pem ca-file $OUT/pki/clients-ca.pem verify required
  default_backend bench
backend bench
  http-request del-header X-Forwarded-Client-Cert
  http-request set-header X-Forwarded-Client-Cert "Hash=%[ssl_c_der,digest(sha256),hex];Subject=\"%[ssl_c_s_dn]\""
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  server b1 127.0.0.1:$B_EC ssl verify required ca-file $OUT/pki/ca.pem crt $OUT/pki/proxy-client-with-key.pem sni str(backend.bench.local) verifyhost backend.bench.local pool-max-conn 256
EOF

# ---------------------------------------------------------------- start everything
wait_port() { for _ in $(seq 300); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

taskset -c 1 java -XX:+UseSerialGC -Xmx512m -cp "$BENCH_JAR" org.mtlsproxy.bench.BenchBackend \
  --port $B_EC --cert pki/backend.pem --key pki/backend.key --ca pki/clients-ca.pem \
  --rsa-port $B_RSA --rsa-cert pki/rsa-server.pem --rsa-key pki/rsa-server.key > backend.log 2>&1 &
BACKEND_PID=$!; PIDS+=($BACKEND_PID)

PROXY_OPTS="-XX:ActiveProcessorCount=1 -Dmtls-proxy.io-threads=1 -Xms256m -Xmx512m ${PROXY_JAVA_OPTS:-}"
JFR=""; JFR_LOG=""
if [[ -n "${PROXY_JFR:-}" ]]; then # CPU profile of both proxies, written when they stop
  JFR="-XX:StartFlightRecording=filename=$OUT/proxy.jfr,settings=profile,dumponexit=true"
  JFR_LOG="-XX:StartFlightRecording=filename=$OUT/proxy-log.jfr,settings=profile,dumponexit=true"
fi
MTLS_PROXY_LOG_LEVEL=WARN taskset -c 0 java $PROXY_OPTS $JFR -jar "$PROXY_JAR" run --config pki/proxy.conf \
  --log-format json > proxy.log 2>&1 &
PROXY_PID=$!; PIDS+=($PROXY_PID)
MTLS_PROXY_LOG_LEVEL=INFO taskset -c 0 java $PROXY_OPTS $JFR_LOG -jar "$PROXY_JAR" run --config pki/proxy-log.conf \
  --log-format json > proxy-log.log 2>&1 &
PROXY_LOG_PID=$!; PIDS+=($PROXY_LOG_PID)
taskset -c 0 "$NGINX" -c "$OUT/nginx.conf" -e "$OUT/nginx-error.log" > nginx.out 2>&1 &
NGINX_PID=$!; PIDS+=($NGINX_PID)
WAIT_PORTS="$B_EC $B_RSA $P_EC $P_RSA $L_EC $L_RSA $N_EC $N_RSA"
HAPROXY_PID=""
if [[ " $TARGETS " == *" haproxy "* ]]; then
  taskset -c 0 "$HAPROXY" -db -f "$OUT/haproxy.cfg" > haproxy.out 2>&1 &
  HAPROXY_PID=$!; PIDS+=($HAPROXY_PID)
  WAIT_PORTS="$WAIT_PORTS $H_EC $H_RSA"
fi

for p in $WAIT_PORTS; do wait_port $p; done
NGINX_WORKERS=$(pgrep -P $NGINX_PID | paste -sd, -)

port_of() { # target kind(ec|rsa)
  case "$1:$2" in
    direct:ec) echo $B_EC ;; direct:rsa) echo $B_RSA ;;
    proxy:ec) echo $P_EC ;; proxy:rsa) echo $P_RSA ;;
    proxy-log:ec) echo $L_EC ;; proxy-log:rsa) echo $L_RSA ;;
    nginx:ec) echo $N_EC ;; nginx:rsa) echo $N_RSA ;;
    haproxy:ec) echo $H_EC ;; haproxy:rsa) echo $H_RSA ;;
  esac
}
pids_of() {
  case "$1" in direct) echo $BACKEND_PID ;; proxy) echo $PROXY_PID ;; proxy-log) echo $PROXY_LOG_PID ;;
    nginx) echo "$NGINX_WORKERS" ;; haproxy) echo "$HAPROXY_PID" ;; esac
}

gen() { # target kind args...
  local t=$1 kind=$2; shift 2
  local cert=pki/client.pem key=pki/client.key
  [[ $kind == rsa ]] && cert=pki/rsa-client.pem key=pki/rsa-client.key
  taskset -c 1 java -XX:+UseSerialGC -Xmx1g -cp "$BENCH_JAR" org.mtlsproxy.bench.LoadGen \
    --port "$(port_of "$t" "$kind")" --cert $cert --key $key --ca pki/clients-ca.pem --cpu-pids "$(pids_of "$t")" \
    --load-cpu 1 "$@" 2>>gen.err \
    | grep '^RESULT' | tail -1
}

jit_ms() { # pid: CPU ms used so far by the JVM's compiler threads (0 for a process without them)
  local s=0 t f
  for t in /proc/$1/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in
      C1\ Compiler*|C2\ Compiler*)
        f=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
        s=$((s + $(awk '{print $12 + $13}' <<<"$f"))) ;;
    esac
  done
  echo $((s * 10))
}
jvm_pid() { case "$1" in direct|proxy|proxy-log) pids_of "$1" ;; *) echo "" ;; esac; }
JIT_BEFORE=""
record() { # round target scenario result-line metrics...
  local round=$1 t=$2 s=$3 line=$4; shift 4
  [[ -n "$JIT_BEFORE" ]] && line="$line jit_ms=$(( $(jit_ms "$(jvm_pid "$t")") - JIT_BEFORE ))"
  echo "$round $t $s: $line" >> raw.txt
  for m in "$@"; do
    local v
    v=$(grep -o " $m=[^ ]*" <<<"$line" | cut -d= -f2 || true)
    [[ -n "$v" ]] && printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$t" "$s" "$m" "$v" >> results.tsv
  done
  echo "  $t $s: $line" >&2
}

scenario() { # round target scenario
  local r=$1 t=$2 s=$3 line
  JIT_BEFORE=""
  [[ -n "$(jvm_pid "$t")" ]] && JIT_BEFORE=$(jit_ms "$(jvm_pid "$t")")
  local common=(--duration "$DURATION" --warmup "$WARMUP")
  case $s in
    ka32) line=$(gen "$t" ec --mode keepalive --conns 32 "${common[@]}"); record "$r" "$t" "keep-alive 1 KiB, 32 conns" "$line" rps p50_ms p99_ms cpu_us_per_op cpu_pct load_cpu_pct ;;
    ka64) line=$(gen "$t" ec --mode keepalive --conns 64 "${common[@]}"); record "$r" "$t" "keep-alive 1 KiB, 64 conns" "$line" rps p50_ms p99_ms cpu_us_per_op cpu_pct load_cpu_pct ;;
    ka64h) line=$(gen "$t" ec --mode keepalive --conns 64 --request-headers typical "${common[@]}"); record "$r" "$t" "keep-alive 1 KiB, 64 conns, 9 request headers" "$line" rps p50_ms p99_ms cpu_us_per_op cpu_pct load_cpu_pct ;;
    lat1) line=$(gen "$t" ec --mode keepalive --conns 1 "${common[@]}"); record "$r" "$t" "1 connection, sequential" "$line" p50_ms p99_ms ;;
    hs-ecdsa) line=$(gen "$t" ec --mode handshake --conns 16 "${common[@]}"); record "$r" "$t" "full handshake + GET, ECDSA P-256" "$line" cps p99_ms cpu_us_per_op ;;
    hs-rsa) line=$(gen "$t" rsa --mode handshake --conns 16 "${common[@]}"); record "$r" "$t" "full handshake + GET, RSA-2048" "$line" cps p99_ms cpu_us_per_op ;;
    hs-pq) line=$(gen "$t" ec --mode handshake --conns 16 --groups X25519MLKEM768,X25519,P-256 "${common[@]}"); record "$r" "$t" "full handshake + GET, ECDSA, client offers X25519MLKEM768" "$line" cps cpu_us_per_op ;;
    resume) line=$(gen "$t" ec --mode resume --conns 16 "${common[@]}"); record "$r" "$t" "resumed handshake + GET" "$line" cps resumed_pct cpu_us_per_op ;;
    h2-64) [[ $t == direct ]] && return 0 # the bench backend speaks HTTP/1.1 only
      line=$(gen "$t" ec --mode h2 --conns 4 --streams 16 "${common[@]}"); record "$r" "$t" "keep-alive 1 KiB over HTTP/2, 4 conns x 16 streams" "$line" rps p50_ms p99_ms cpu_us_per_op cpu_pct load_cpu_pct ;;
    download) line=$(gen "$t" ec --mode download --path /large "${common[@]}"); record "$r" "$t" "100 MB download" "$line" mbps ;;
    idle) line=$(gen "$t" ec --mode idle --conns "$IDLE_CONNS" --pids "$(pids_of "$t")" --duration 60); record "$r" "$t" "idle mTLS connections" "$line" kib_per_conn rss_kib_per_conn heap_live_kib_per_conn ;;
  esac
}

: > results.tsv
echo "results in $OUT (backend $BACKEND_PID, proxy $PROXY_PID, proxy-log $PROXY_LOG_PID, nginx $NGINX_PID workers $NGINX_WORKERS, haproxy ${HAPROXY_PID:-none})" >&2

# Idle memory first, once per target, while the processes are fresh. kib_per_conn is the resident-set growth for
# nginx and HAProxy; for a JVM it is the growth outside the Java heap plus the heap's live bytes after a full
# collection (LoadGen runs jcmd GC.run before each reading): the resident heap grows with whatever garbage first
# touched a page. rss_kib_per_conn is the raw resident-set growth of every target. (Before the handshake warm-up
# below and this accounting, the raw figure swung from ~4 to ~22 KiB per connection between runs of one build.)
if [[ " $SCENARIOS " == *" idle "* ]]; then
  for t in $TARGETS; do
    [[ $t == direct ]] && continue
    # The work an idle connection's set-up does (a handshake, one request), so that a JVM's compiler has compiled
    # it before the reading: C2's own memory is not the connections'.
    gen "$t" ec --mode keepalive --conns 4 --duration 3 --warmup 0 > /dev/null
    gen "$t" ec --mode handshake --conns 8 --duration 8 --warmup 0 > /dev/null
    scenario 1 "$t" idle
  done
fi
# JIT warm-up, not recorded. A JVM's C2 compiler recompiles the hot paths each time the kind of work changes
# (keep-alive, handshakes, resumption, bulk transfer) until it has profiled them all: measured right after a
# switch, the proxy spent ~1.5 s of C2 CPU in a 12 s keep-alive window (25 µs per request instead of 18). So every
# JVM target (direct, proxy, proxy-log) cycles through all kinds of work until a whole cycle costs its compiler
# threads under JIT_QUIET_MS (at most JIT_CYCLES cycles); nginx and HAProxy get one cycle. The compiler's CPU in
# each measured window is written to raw.txt (jit_ms), so a window the JIT disturbed can be seen.
warm_cycle() { # target
  local t=$1 d=${JIT_WARMUP:-8}
  gen "$t" ec --mode keepalive --conns 64 --duration "$d" --warmup 0 > /dev/null
  gen "$t" ec --mode handshake --conns 16 --duration "$d" --warmup 0 > /dev/null
  gen "$t" rsa --mode handshake --conns 16 --duration $((d / 2)) --warmup 0 > /dev/null
  gen "$t" ec --mode handshake --conns 16 --groups X25519MLKEM768,X25519,P-256 --duration $((d / 2)) --warmup 0 > /dev/null
  gen "$t" ec --mode resume --conns 16 --duration $((d / 2)) --warmup 0 > /dev/null
  gen "$t" ec --mode download --path /large --duration $((d / 2)) --warmup 0 > /dev/null
  gen "$t" ec --mode keepalive --conns 1 --duration 2 --warmup 0 > /dev/null
  [[ $t == direct ]] || gen "$t" ec --mode h2 --conns 4 --streams 16 --duration $((d / 2)) --warmup 0 > /dev/null
}
for t in $TARGETS; do
  pid=$(jvm_pid "$t")
  if [[ -z "$pid" ]]; then
    warm_cycle "$t"
    continue
  fi
  for c in $(seq "${JIT_CYCLES:-5}"); do
    before=$(jit_ms "$pid")
    warm_cycle "$t"
    spent=$(( $(jit_ms "$pid") - before ))
    echo "  warm-up $t cycle $c: JIT compiler threads used $spent ms" >&2
    if (( spent < ${JIT_QUIET_MS:-300} )); then break; fi
  done
done

for r in $(seq "$ROUNDS"); do
  echo "round $r" >&2
  for s in $SCENARIOS; do
    [[ $s == idle ]] && continue
    for t in $TARGETS; do
      if [[ $t == proxy-log && " $LOG_SCENARIOS " != *" $s "* ]]; then continue; fi
      scenario "$r" "$t" "$s"
    done
  done
done

{
  echo
  echo "median of $ROUNDS interleaved rounds (min–max); $DURATION s per measurement after $WARMUP s warm-up"
  echo
  RATIOS=""
  for base in nginx haproxy direct; do
    [[ " $TARGETS " == *" $base "* && " $TARGETS " == *" proxy "* ]] && RATIOS="$RATIOS,proxy:$base"
  done
  java -cp "$BENCH_JAR" org.mtlsproxy.bench.Report results.tsv "${TARGETS// /,}" "${RATIOS#,}"
} | tee table.md
