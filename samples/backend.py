"""Tiny FastAPI backend used to record the wsdiag sample captures.

Run:  uvicorn backend:app --host 127.0.0.1 --port 8080 --log-level warning --no-access-log

Routes (all under /api, like the game server of the original incident):
  GET  /api/health                         small JSON document
  GET  /api/stream                         StreamingResponse (chunked transfer encoding)
  POST /api/echo                           echoes the JSON body back
  WS   /api/game/ws/{user_id}/{nickname}   accepts, echoes text messages until the
                                           client closes; refuses (HTTP 403) when the
                                           Origin is not https://game.example.com
There is deliberately no WebSocket route at /api/game/nows (uvicorn answers 403).

When python-socketio is installed, a socket.io server is mounted in front of the
FastAPI app at /api/socket.io/ (engine.io long polling and WebSocket); every other
path goes to the FastAPI app unchanged.  Its events:
  move "e2e4"  -> emits "moved" {"move": "e2e4"} to the sender and acknowledges
                  with "ok e2e4"
Without python-socketio the backend is the FastAPI app alone.
"""
import asyncio

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

ALLOWED_ORIGINS = {"https://game.example.com"}

fastapi_app = FastAPI()
app = fastapi_app  # replaced by the socket.io wrapper below when available


@fastapi_app.get("/api/health")
async def health():
    return {"status": "ok", "service": "game"}


@fastapi_app.get("/api/stream")
async def stream():
    async def lines():
        for i in range(3):
            yield f"tick {i}\n"
            await asyncio.sleep(0.05)

    return StreamingResponse(lines(), media_type="text/plain")


@fastapi_app.post("/api/echo")
async def echo(request: Request):
    return {"received": await request.json()}


@fastapi_app.websocket("/api/game/ws/{user_id}/{nickname}")
async def game_ws(websocket: WebSocket, user_id: int, nickname: str):
    if websocket.headers.get("origin") not in ALLOWED_ORIGINS:
        # Closing before accept() makes uvicorn answer the handshake with 403.
        await websocket.close(code=1008)
        return
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{nickname}#{user_id}: {text}")
    except WebSocketDisconnect:
        pass


try:
    import socketio
except ImportError:  # python-socketio missing: plain FastAPI app, same routes
    socketio = None

if socketio is not None:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.event
    async def move(sid, data):
        await sio.emit("moved", {"move": data}, to=sid)
        return f"ok {data}"

    app = socketio.ASGIApp(sio, other_asgi_app=fastapi_app, socketio_path="/api/socket.io")
