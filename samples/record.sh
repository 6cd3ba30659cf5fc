#!/usr/bin/env bash
# Re-record the wsdiag sample captures:   sudo samples/record.sh [SAMPLE...]
#
# Without arguments every sample is recorded; with arguments only the named ones
# (file names as in the list at the bottom, e.g. `record.sh mid-stream.pcap`).
#
# For every scenario: start the FastAPI backend (backend.py, uvicorn on :8080),
# start a private nginx (127.0.0.1:8000) whose http{} block includes one site file
# from samples/nginx/, start a capture on the loopback interface, run client.py,
# then stop nginx, the capture (SIGINT, so the file is complete) and the backend.
# Everything runs on loopback; nothing is left running when the script exits.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1
NGINX=${NGINX:-nginx}
WORK=$(mktemp -d /tmp/wsdiag-record.XXXXXX)
chmod 755 "$WORK"   # nginx workers run as nobody

BACKEND_PID= NGINX_PID= CAP_PID=

log() { printf '== %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --------------------------------------------------------------------------
# (a) tools
ensure_tools() {
    if ! command -v "$NGINX" >/dev/null || ! command -v tcpdump >/dev/null ||
       ! command -v tshark >/dev/null || ! command -v dumpcap >/dev/null ||
       ! command -v capinfos >/dev/null; then
        log "installing nginx tcpdump tshark"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y nginx tcpdump tshark
    fi
    if ! "$PYTHON" -c 'import fastapi, uvicorn, websockets' 2>/dev/null; then
        log "installing fastapi uvicorn[standard] websockets"
        "$PYTHON" -m pip install fastapi 'uvicorn[standard]' websockets
    fi
    # socket.io server (mounted by backend.py) and its client (requests, websocket-client)
    if ! "$PYTHON" -c 'import socketio, requests, websocket' 2>/dev/null; then
        log "installing python-socketio[client]"
        "$PYTHON" -m pip install 'python-socketio[client]'
    fi
}

# --------------------------------------------------------------------------
# process helpers
stop_pid() {   # stop_pid PID SIGNAL
    local pid=$1 sig=$2
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}

stop_capture() { stop_pid "$CAP_PID" INT;      CAP_PID=; }
stop_nginx()   { stop_pid "$NGINX_PID" QUIT;   NGINX_PID=; }   # graceful: closes idle upstream keepalives
stop_backend() { stop_pid "$BACKEND_PID" TERM; BACKEND_PID=; }

cleanup() {
    stop_nginx
    stop_capture
    stop_backend
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { [[ -n $(ss -Hltn "sport = :$1") ]]; }

wait_listening() {   # wait_listening PORT PID NAME
    for _ in $(seq 100); do
        listening "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during startup"
        sleep 0.1
    done
    die "$3 is not listening on port $1"
}

# --------------------------------------------------------------------------
# (b) backend
start_backend() {   # start_backend HOST [UVICORN_ARG...]   (HOST: 127.0.0.1 or ::1)
    local host=$1; shift
    "$PYTHON" -m uvicorn backend:app --app-dir "$HERE" --host "$host" --port 8080 \
        --log-level warning --no-access-log "$@" &
    BACKEND_PID=$!
    wait_listening 8080 "$BACKEND_PID" uvicorn
}

# --------------------------------------------------------------------------
# (c) nginx: a complete standalone nginx.conf that includes one site file
start_nginx() {   # start_nginx SITE   (file name in samples/nginx/)
    local prefix=$WORK/nginx
    rm -rf "$prefix"; mkdir -p "$prefix/tmp"
    cat >"$prefix/nginx.conf" <<EOF
worker_processes 1;
error_log $prefix/error.log warn;
pid $prefix/nginx.pid;
events { worker_connections 64; }
http {
    access_log $prefix/access.log;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    include $HERE/nginx/$1;
}
EOF
    "$NGINX" -q -t -p "$prefix/" -e "$prefix/error.log" -c "$prefix/nginx.conf"
    "$NGINX" -p "$prefix/" -e "$prefix/error.log" -c "$prefix/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    wait_listening 8000 "$NGINX_PID" nginx
}

# --------------------------------------------------------------------------
# (d) capture
start_capture() {   # start_capture OUTFILE FLAVOUR
    local out=$1 flavour=$2 err=$WORK/capture.err
    local filter='tcp port 8080'
    : >"$err"
    # -U/--immediate-mode: write every packet at once; -Z root: keep root so
    # tcpdump may write into the (root-only) temp dir.
    local tcpdump=(tcpdump -U --immediate-mode -Z root -w "$out")
    case $flavour in
        lo)      "${tcpdump[@]}" -i lo "$filter" 2>"$err" & ;;
        both)    "${tcpdump[@]}" -i lo 'tcp port 8000 or tcp port 8080' 2>"$err" & ;;
        any)     "${tcpdump[@]}" -i any "$filter" 2>"$err" & ;;               # LINUX_SLL2
        any-sll) "${tcpdump[@]}" -i any -y LINUX_SLL "$filter" 2>"$err" & ;;  # cooked v1
        nano)    "${tcpdump[@]}" -i lo --time-stamp-precision=nano "$filter" 2>"$err" & ;;
        dumpcap) dumpcap -q -i lo -f "$filter" -w "$out" 2>"$err" & ;;         # pcapng
        *) die "unknown capture flavour $flavour" ;;
    esac
    CAP_PID=$!
    for _ in $(seq 100); do
        grep -qE 'listening on|Capturing on' "$err" && break
        kill -0 "$CAP_PID" 2>/dev/null || { cat "$err" >&2; die "capture failed to start"; }
        sleep 0.1
    done
    grep -qE 'listening on|Capturing on' "$err" || die "capture not ready"
    sleep 0.5
}

# --------------------------------------------------------------------------
# one scenario: record NAME SITE CLIENT_SCENARIO [FLAVOUR] [BACKEND_HOST] [UVICORN_ARGS]
# UVICORN_ARGS is split on spaces, e.g. "--ws-ping-interval 0.7".
record() {
    local name=$1 site=$2 scenario=$3 flavour=${4:-lo} host=${5:-127.0.0.1}
    local -a uvicorn_args
    read -r -a uvicorn_args <<<"${6:-}"
    local tmp=$WORK/$name
    log "$name  (site nginx/$site, client '$scenario', capture $flavour, backend $host ${6:-})"
    start_backend "$host" "${uvicorn_args[@]}"
    start_nginx "$site"
    if [[ $scenario == mid-stream ]]; then
        # Capture only after the handshake: client.py creates $sig.open after the 101
        # and waits for $sig.go before it sends its messages.
        local sig=$WORK/signal client_pid
        rm -f "$sig.open" "$sig.go"
        (cd "$HERE" && WSDIAG_SIGNAL=$sig "$PYTHON" client.py "$scenario") &
        client_pid=$!
        for _ in $(seq 100); do
            [[ -e $sig.open ]] && break
            kill -0 "$client_pid" 2>/dev/null || die "client.py $scenario exited early"
            sleep 0.1
        done
        [[ -e $sig.open ]] || die "client.py $scenario did not open its WebSocket"
        start_capture "$tmp" "$flavour"
        touch "$sig.go"
        wait "$client_pid" || die "client.py $scenario failed"
    else
        start_capture "$tmp" "$flavour"
        (cd "$HERE" && "$PYTHON" client.py "$scenario")     # (e)
    fi
    sleep 0.5
    stop_nginx                                           # (f)
    sleep 1.5   # let the capture see the last FINs (libpcap delivers in blocks)
    stop_capture
    stop_backend
    mv -f "$tmp" "$HERE/$name"
    chmod 644 "$HERE/$name"
}

# incident-truncated.pcap: incident-upstream.pcap with its last record cut in half
make_truncated() {
    local src=$HERE/incident-upstream.pcap dst=$HERE/incident-truncated.pcap
    local size last
    size=$(stat -c %s "$src")
    last=$(tshark -r "$src" -T fields -e frame.cap_len 2>/dev/null | tail -n 1)   # 16-byte record header + data
    head -c $(( size - (16 + last) / 2 )) "$src" >"$dst"
    log "incident-truncated.pcap  ($size -> $(stat -c %s "$dst") bytes)"
}

# --------------------------------------------------------------------------
ensure_tools
cd "$HERE"
for port in 8000 8080; do
    listening "$port" && die "port $port is already in use"
done

# record_sample NAME: how each sample is made
record_sample() {
    local n=$1
    case $n in
    incident-upstream.pcap)      record "$n" incident.conf              incident ;;
    incident-both-hops.pcap)     record "$n" incident.conf              incident   both ;;
    http11-no-upgrade.pcap)      record "$n" http11-no-upgrade.conf     one-handshake ;;
    upgrade-no-connection.pcap)  record "$n" upgrade-no-connection.conf one-handshake ;;
    keepalive-no-upgrade.pcap)   record "$n" keepalive-no-upgrade.conf  keepalive-no-upgrade ;;
    keepalive-correct.pcap)      record "$n" keepalive-correct.conf     keepalive-correct ;;
    correct-session.pcap)        record "$n" correct.conf               correct-session ;;
    backend-rejected.pcap)       record "$n" correct.conf               backend-rejected ;;
    plain-http.pcap)             record "$n" keepalive-correct.conf     plain-http ;;
    # capture flavours of the incident traffic
    incident-upstream.pcapng)    record "$n" incident.conf              incident   dumpcap ;;
    incident-any.pcap)           record "$n" incident.conf              incident   any ;;
    incident-any-sll.pcap)       record "$n" incident.conf              incident   any-sll ;;
    incident-nanos.pcap)         record "$n" incident.conf              incident   nano ;;
    incident-ipv6.pcap)          record "$n" incident-ipv6.conf         incident   lo   ::1 ;;
    incident-truncated.pcap)     make_truncated ;;   # from incident-upstream.pcap
    # WebSocket sessions and other cases
    session-pings.pcap)          record "$n" correct.conf               session-pings lo 127.0.0.1 \
                                     "--ws-ping-interval 0.7 --ws-ping-timeout 5" ;;   # backend pings too
    idle-timeout.pcap)           record "$n" idle-timeout.conf          idle-timeout ;;
    path-rewrite-both-hops.pcap) record "$n" path-rewrite.conf          path-rewrite  both ;;
    not-forwarded-both-hops.pcap) record "$n" not-forwarded.conf        not-forwarded both ;;
    mid-stream.pcap)             record "$n" correct.conf               mid-stream ;;   # capture starts after the 101
    h2c-upgrade.pcap)            record "$n" correct.conf               h2c-upgrade ;;
    socketio-polling.pcap)       record "$n" incident.conf              socketio-polling lo 127.0.0.1 \
                                     "--timeout-graceful-shutdown 1" ;;   # an abandoned long poll is still pending
    *) die "unknown sample $n (see record_sample in $0)" ;;
    esac
}

ALL_SAMPLES=(
    incident-upstream.pcap incident-both-hops.pcap http11-no-upgrade.pcap
    upgrade-no-connection.pcap keepalive-no-upgrade.pcap keepalive-correct.pcap
    correct-session.pcap backend-rejected.pcap plain-http.pcap incident-upstream.pcapng
    incident-any.pcap incident-any-sll.pcap incident-nanos.pcap incident-ipv6.pcap
    incident-truncated.pcap
    session-pings.pcap idle-timeout.pcap path-rewrite-both-hops.pcap
    not-forwarded-both-hops.pcap mid-stream.pcap h2c-upgrade.pcap socketio-polling.pcap
)
if (( $# )); then SAMPLES=("$@"); else SAMPLES=("${ALL_SAMPLES[@]}"); fi
for f in "${SAMPLES[@]}"; do
    [[ " ${ALL_SAMPLES[*]} " == *" $f "* ]] || die "unknown sample $f; known: ${ALL_SAMPLES[*]}"
done

for f in "${SAMPLES[@]}"; do
    record_sample "$f"
done

log "done; summary:"
for f in "${SAMPLES[@]}"; do
    printf '%-30s %6s bytes  %3s packets\n' "$f" "$(stat -c %s "$f")" \
        "$(tshark -r "$f" 2>/dev/null | wc -l)"
done
