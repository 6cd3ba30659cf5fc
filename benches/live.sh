#!/usr/bin/env bash
# Live capture under load: does `wsdiag capture` keep up with loopback HTTP through nginx?
#
#   sudo benches/live.sh [SECONDS] [CONNECTIONS] [BYTES]
#        defaults: 10 s of load, 16 connections, a 256 KiB file (BYTES=100: many small packets)
#
# Needs root (libpcap on lo), nginx, wrk, curl and GNU time (apt-get install nginx wrk curl time). Starts one nginx
# (worker_processes 1) in a temporary directory, with a proxy on 127.0.0.1:8000 (keepalive
# upstream, HTTP/1.1, proxy_buffering off) in front of a "backend" on 127.0.0.1:8081 that serves
# a static file of BYTES (uvicorn tops out far below 1 Gbit/s here), captures the proxy ->
# backend hop with `wsdiag capture lo --port 8081`, drives the proxy with wrk, and prints wrk's
# throughput, wsdiag's CPU time and peak RSS, and its summary: packets, requests and responses, and libpcap's drop
# counters (both must be 0). Five handshakes that the proxy breaks are sent under the load and
# one after it; each finding must be read from wsdiag's output within 100 ms of the backend's
# response.
# Fails (non-zero exit) otherwise.
set -euo pipefail
SECS=${1:-10}
CONNS=${2:-16}
BYTES=${3:-262144}
[ "$(id -u)" = 0 ] || { echo "live.sh: capturing on lo needs root: sudo $0 $*" >&2; exit 2; }
for tool in nginx wrk curl /usr/bin/time; do
  command -v "$tool" >/dev/null ||
    { echo "live.sh: $tool is missing: apt-get install nginx wrk curl time" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
cargo build --release --quiet --features capture --bin wsdiag
BIN=$PWD/target/release/wsdiag
DIR=$(mktemp -d /tmp/wsdiag-live.XXXXXX)
mkdir -p "$DIR/www"
head -c "$BYTES" /dev/urandom > "$DIR/www/file.bin"
cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $DIR;
    proxy_temp_path $DIR;
    upstream backend { server 127.0.0.1:8081; keepalive 32; }
    server {
        listen 127.0.0.1:8000;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
    server {
        listen 127.0.0.1:8081;
        root $DIR/www;
    }
}
CONF
nginx -c "$DIR/nginx.conf" -p "$DIR"
trap 'nginx -c "$DIR/nginx.conf" -p "$DIR" -s stop 2>/dev/null || true' EXIT
# wsdiag's JSON Lines go through a pipe to a reader that stamps each line with its arrival time,
# so the time from the backend's response (its capture timestamp) to the finding is known.
( /usr/bin/time -f '%U %S %M' -o "$DIR/time.out" "$BIN" capture lo --port 8081 --duration $((SECS + 4)) --format jsonl 2> "$DIR/capture.err" |
  python3 -u -c 'import sys, time
for line in sys.stdin:
    sys.stdout.write("%.6f %s" % (time.time(), line))' > "$DIR/cap.stamped" ) &
CAP=$!
sleep 2
wrk -t1 -c"$CONNS" -d"${SECS}s" http://127.0.0.1:8000/file.bin | tee "$DIR/wrk.out" &
WRK=$!
# Under that load, five handshakes the proxy breaks (it sends no Upgrade, and Connection ""):
# the backend answers 404, and each must be reported while the load goes on.
for i in 1 2 3 4 5; do
  sleep 1
  curl -s -o /dev/null -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13' \
    "http://127.0.0.1:8000/ws/$i" || true
done
wait $WRK
# And one with the load over: an idle capture reports as promptly.
sleep 0.5
curl -s -o /dev/null -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13' \
  "http://127.0.0.1:8000/ws/idle" || true
wait $CAP || true
python3 - "$DIR/cap.stamped" "$DIR/time.out" <<'PY'
import datetime, json, sys
summary, delays = None, []
for line in open(sys.argv[1]):
    arrived, text = line.split(" ", 1)
    o = json.loads(text)
    if o.get("type") == "summary":
        summary = o
    elif o.get("type") == "handshake" and o.get("response_delay") is not None:
        ts = datetime.datetime.fromisoformat(o["ts"].replace("Z", "+00:00")).timestamp()
        delays.append((float(arrived) - ts - o["response_delay"]) * 1000)
if summary is None:
    sys.exit("no summary line from wsdiag capture (see capture.err)")
cap = summary.get("capture", {})
print("wsdiag: %s packets, %s requests, %s responses; capture: %s" % (
    summary.get("packets"), summary.get("http_requests"), summary.get("http_responses"),
    json.dumps(cap)))
print("handshakes reported: %d; backend response -> finding read: %s ms" % (
    len(delays), ", ".join("%.1f" % d for d in delays)))
user, system, rss = open(sys.argv[2]).read().split()[-3:]
print("wsdiag's own cost: %.2f s CPU (user %s, system %s), peak RSS %.0f MiB" % (
    float(user) + float(system), user, system, int(rss) / 1024))
if cap.get("dropped") != 0 or cap.get("if_dropped") != 0:
    sys.exit("DROPS reported by libpcap")
if len(delays) < 6 or max(delays) > 100:
    sys.exit("a handshake was not reported, or later than 100 ms after the backend's response")
PY
echo "(files in $DIR)"
