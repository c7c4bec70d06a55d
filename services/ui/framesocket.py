"""All tiles of one page over one WebSocket: each new annotated frame of any camera, once.

Browsers open at most 6 HTTP/1.1 connections per host, and an MJPEG ``<img>`` holds one forever: with
4 or more tiles the page's own requests (button clicks, uploads, webcam frames) waited behind them.
So the dashboard receives every tile over one socket (binary messages: 1 byte name length, the camera
name in UTF-8, then the JPEG), from the same shared :class:`LiveState` the MJPEG route reads.
"""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocket, WebSocketDisconnect

from services.ui.metrics import WS_CLIENTS, WS_FRAMES
from services.ui.mjpeg import placeholder_jpeg
from services.ui.state import LiveState


def message(camera_id: str, jpeg: bytes) -> bytes:
    """One binary message: ``len(name)``, ``name``, ``jpeg``. Raises ValueError for a name over 255 bytes."""
    name = camera_id.encode()
    if len(name) > 255:
        raise ValueError(f"camera name {camera_id!r} is longer than 255 bytes")
    return bytes([len(name)]) + name + jpeg


async def serve(ws: WebSocket, state: LiveState, fps: float) -> None:
    """Send each camera's frame whenever it changes (at most ``fps`` a second per camera) until the
    client leaves or the server shuts down; a camera without a frame yet gets the placeholder once."""
    await ws.accept()
    interval_s = 1.0 / fps
    sent: dict[str, bytes] = {}
    WS_CLIENTS.inc()
    try:
        while not state.closing.is_set():
            views = state.views()
            for view in views:
                cam = view.camera.camera_id
                jpeg = view.jpeg or placeholder_jpeg()
                if sent.get(cam) is not jpeg:
                    await ws.send_bytes(message(cam, jpeg))
                    WS_FRAMES.inc()
                    sent[cam] = jpeg
            if len(sent) > len(views):
                live = {v.camera.camera_id for v in views}
                sent = {k: v for k, v in sent.items() if k in live}
            await asyncio.sleep(interval_s)
        await ws.close()
    except (WebSocketDisconnect, RuntimeError):
        return  # the client went away (RuntimeError: sending on a socket already closed)
    finally:
        WS_CLIENTS.dec()
