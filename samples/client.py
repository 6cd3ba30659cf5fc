"""Client traffic for the wsdiag sample captures.

Usage: python3 client.py SCENARIO     (talks to nginx on 127.0.0.1:8000;
       set WSDIAG_NGINX_PORT to use another port, as the live end-to-end test does)

Plain HTTP uses http.client; WebSocket handshakes use the `websockets` library
(compression disabled so frames stay readable in the capture).  Every request
carries Host: game.example.com; handshakes carry an Origin, a session Cookie and
a ?token= query parameter so that wsdiag's redaction can be exercised.
"""
import asyncio
import http.client
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

NGINX = ("127.0.0.1", int(os.environ.get("WSDIAG_NGINX_PORT", "8000")))
HOST = "game.example.com"
ORIGIN = "https://game.example.com"


def log(msg):
    print(f"  client: {msg}", flush=True)


class Http:
    """One keep-alive client connection to nginx."""

    def __init__(self):
        self.conn = http.client.HTTPConnection(*NGINX, timeout=10)

    def request(self, method, path, body=None):
        headers = {"Host": HOST, "User-Agent": "wsdiag-sample-client/1.0", "Accept": "*/*"}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        log(f"{method} {path} -> {resp.status} {data[:60]!r}")
        return resp.status

    def close(self):
        self.conn.close()


def plain(method, path, body=None):
    """A request on its own client connection."""
    c = Http()
    try:
        return c.request(method, path, body)
    finally:
        c.close()


async def handshake(path, user, messages=(), origin=ORIGIN, ping_interval=None,
                    linger=0.0, reason="bye", idle_until_closed=None, after_open=None):
    """WebSocket handshake to ws://game.example.com{path} via nginx.

    On success exchange `messages` (send one, read the echo) and close with 1000.
    ping_interval: the websockets library's keepalive pings (None: no pings).
    linger: seconds to stay open after the messages, before the close.
    idle_until_closed: instead of closing, send nothing and wait up to this many
      seconds for the other side (nginx) to end the connection.
    after_open: an async callable run right after the 101, before the messages.
    """
    token = f"s3cr3t-{user}"
    sep = "&" if "?" in path else "?"
    uri = f"ws://{HOST}{path}{sep}token={token}"
    try:
        async with connect(
            uri,
            host=NGINX[0],
            port=NGINX[1],
            origin=origin,
            additional_headers={"Cookie": f"session=sess-{user}-0123456789abcdef"},
            compression=None,
            proxy=None,
            open_timeout=10,
            ping_interval=ping_interval,
        ) as ws:
            log(f"WS {path} -> 101 Switching Protocols")
            if after_open is not None:
                await after_open()
            for text in messages:
                await ws.send(text)
                log(f"  sent {text!r}, got {await ws.recv()!r}")
            if linger:
                await asyncio.sleep(linger)
            if idle_until_closed is not None:
                start = asyncio.get_running_loop().time()
                try:
                    await asyncio.wait_for(ws.wait_closed(), idle_until_closed)
                except asyncio.TimeoutError:
                    log(f"WS {path} still open after {idle_until_closed} s of silence")
                else:
                    waited = asyncio.get_running_loop().time() - start
                    log(f"WS {path} ended by the other side after {waited:.1f} s of silence "
                        f"(close code {ws.close_code}, no close frame received: "
                        f"{ws.protocol.close_rcvd is None})")
                    return 101
            await ws.close(code=1000, reason=reason)
        log(f"WS {path} closed normally")
        return 101
    except InvalidStatus as exc:
        log(f"WS {path} -> {exc.response.status_code} (handshake refused)")
        return exc.response.status_code


def ws(*args, **kwargs):
    return asyncio.run(handshake(*args, **kwargs))


def incident():
    plain("GET", "/api/health")
    ws("/api/game/ws/42/alice", "alice")
    ws("/api/game/ws/7/bob", "bob")


def one_handshake():
    ws("/api/game/ws/42/alice", "alice")


def keepalive_no_upgrade():
    plain("GET", "/api/health")
    plain("GET", "/api/health?probe=2")
    plain("GET", "/api/health?probe=3")
    ws("/api/game/ws/42/alice", "alice")
    plain("GET", "/api/health?probe=4")


def keepalive_correct():
    plain("GET", "/api/health")
    plain("GET", "/api/health?probe=2")
    ws("/api/game/ws/42/alice", "alice", messages=("hello", "move e2e4"))
    plain("GET", "/api/health?probe=3")


def correct_session():
    ws("/api/game/ws/42/alice", "alice", messages=("hello", "move e2e4", "resign"))


def backend_rejected():
    ws("/api/game/nows", "alice")  # no WebSocket route there
    ws("/api/game/ws/13/mallory", "mallory", origin="https://evil.example")  # refused Origin


def plain_http():
    c = Http()  # a single keep-alive client connection
    try:
        c.request("GET", "/api/health")
        c.request("GET", "/api/stream")  # chunked response
        c.request("POST", "/api/echo", body={"move": "e2e4", "player": 42})
        c.request("GET", "/api/health?probe=2")
    finally:
        c.close()


def session_pings():
    # Client keepalive pings every 0.5 s (the backend also pings, see record.sh);
    # 2 messages, ~2 s open, then close 1000 with a reason.
    ws("/api/game/ws/42/alice", "alice", messages=("hello", "move e2e4"),
       ping_interval=0.5, linger=2.0, reason="game over")


def idle_timeout():
    # No pings; one message, then silence until nginx's proxy_read_timeout (3 s) ends it.
    ws("/api/game/ws/42/alice", "alice", messages=("hello",), idle_until_closed=6.0)


def path_rewrite():
    ws("/api/game/ws/42/alice", "alice")


def not_forwarded():
    plain("GET", "/api/health")           # proxied
    ws("/api/game/ws/42/alice", "alice")  # answered by nginx itself


def mid_stream():
    # Handshake, then wait for the capture to start (record.sh), then talk.
    # WSDIAG_SIGNAL=PREFIX: create PREFIX.open after the 101, wait for PREFIX.go.
    signal = os.environ.get("WSDIAG_SIGNAL")

    async def wait_for_capture():
        if not signal:
            await asyncio.sleep(1.0)
            return
        open(signal + ".open", "w").close()
        for _ in range(200):
            if os.path.exists(signal + ".go"):
                break
            await asyncio.sleep(0.05)
        else:
            sys.exit("mid-stream: no go signal from record.sh")

    ws("/api/game/ws/42/alice", "alice", messages=("hello", "move e2e4", "resign"),
       after_open=wait_for_capture)


def h2c_upgrade():
    # A non-WebSocket upgrade: HTTP/1.1 -> h2c (RFC 7540 3.2), through nginx.
    c = http.client.HTTPConnection(*NGINX, timeout=10)
    try:
        c.request("GET", "/api/health", headers={
            "Host": HOST,
            "User-Agent": "wsdiag-sample-client/1.0",
            "Accept": "*/*",
            "Connection": "Upgrade, HTTP2-Settings",
            "Upgrade": "h2c",
            "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
        })
        resp = c.getresponse()
        data = resp.read()
        log(f"GET /api/health (Upgrade: h2c) -> {resp.status} {data[:60]!r}")
    finally:
        c.close()


def socketio_polling():
    # A python-socketio client that may upgrade (transports polling, then websocket),
    # as browsers do.  Through incident.conf the upgrade request reaches the backend
    # without Upgrade, engine.io answers 400, and the client silently stays on long
    # polling.  It emits 3 "move" events over ~3 s (each answered by an ack and a
    # "moved" event), then disconnects.
    import threading
    import time

    import requests
    import socketio

    http = requests.Session()
    http.trust_env = False  # no proxy from the environment
    http.headers.update({"Host": HOST, "Origin": ORIGIN,
                         "User-Agent": "wsdiag-sample-client/1.0"})
    sio = socketio.Client(http_session=http, request_timeout=10,
                          websocket_extra_options={"host": HOST, "origin": ORIGIN})

    @sio.on("moved")
    def moved(data):
        log(f"socket.io event 'moved' {data!r}")

    sio.connect(f"http://{NGINX[0]}:{NGINX[1]}", socketio_path="/api/socket.io",
                transports=["polling", "websocket"], wait_timeout=10)
    time.sleep(0.5)  # the client tries its upgrade right after the connect
    log(f"socket.io connected, sid {sio.sid}, transport {sio.transport()}")
    for text in ("e2e4", "e7e5", "g1f3"):
        log(f"socket.io emit 'move' {text!r} -> ack {sio.call('move', text, timeout=10)!r}")
        time.sleep(1.0)
    transport = sio.transport()
    # disconnect() posts the socket.io and engine.io close packets, then waits for the
    # pending long poll, which python-engineio's server does not answer after a client
    # close (the client gives up on it after 30 s).  Give it 1 s, then leave as a closed
    # browser tab does: the process exits and the open poll's connection is closed.
    closer = threading.Thread(target=sio.disconnect, daemon=True)
    closer.start()
    closer.join(1.0)
    log(f"socket.io disconnected (transport was {transport}"
        f"{', pending long poll abandoned' if closer.is_alive() else ''})")
    if transport != "polling":
        sys.exit(f"socketio-polling: expected to stay on polling, got {transport}")


SCENARIOS = {
    "incident": incident,
    "one-handshake": one_handshake,
    "keepalive-no-upgrade": keepalive_no_upgrade,
    "keepalive-correct": keepalive_correct,
    "correct-session": correct_session,
    "backend-rejected": backend_rejected,
    "plain-http": plain_http,
    "session-pings": session_pings,
    "idle-timeout": idle_timeout,
    "path-rewrite": path_rewrite,
    "not-forwarded": not_forwarded,
    "mid-stream": mid_stream,
    "h2c-upgrade": h2c_upgrade,
    "socketio-polling": socketio_polling,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}}")
    SCENARIOS[sys.argv[1]]()
