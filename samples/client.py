"""Client traffic for the wsdiag sample captures.

Usage: python3 client.py SCENARIO     (talks to nginx on 127.0.0.1:8000)

Plain HTTP uses http.client; WebSocket handshakes use the `websockets` library
(compression disabled so frames stay readable in the capture).  Every request
carries Host: game.example.com; handshakes carry an Origin, a session Cookie and
a ?token= query parameter so that wsdiag's redaction can be exercised.
"""
import asyncio
import http.client
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

NGINX = ("127.0.0.1", 8000)
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


async def handshake(path, user, messages=(), origin=ORIGIN):
    """WebSocket handshake to ws://game.example.com{path} via nginx.

    On success exchange `messages` (send one, read the echo) and close with 1000.
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
            ping_interval=None,
        ) as ws:
            log(f"WS {path} -> 101 Switching Protocols")
            for text in messages:
                await ws.send(text)
                log(f"  sent {text!r}, got {await ws.recv()!r}")
            await ws.close(code=1000, reason="bye")
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


SCENARIOS = {
    "incident": incident,
    "one-handshake": one_handshake,
    "keepalive-no-upgrade": keepalive_no_upgrade,
    "keepalive-correct": keepalive_correct,
    "correct-session": correct_session,
    "backend-rejected": backend_rejected,
    "plain-http": plain_http,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}}")
    SCENARIOS[sys.argv[1]]()
