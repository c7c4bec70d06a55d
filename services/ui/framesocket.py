"""All tiles of one page over one WebSocket: each new annotated frame of any camera, once.

Browsers open at most 6 HTTP/1.1 connections per host, and an MJPEG ``<img>`` holds one forever: with
4 or more tiles the page's own requests (button clicks, uploads, webcam frames) waited behind them.
So the dashboard receives every tile over one socket (binary messages: 1 byte name length, the camera
name in UTF-8, then the JPEG), from the same shared :class:`LiveState` the MJPEG route reads.
"""

from __future__ import annotations

import asyncio
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from services.ui.metrics import WS_CLIENTS, WS_FRAMES
from services.ui.mjpeg import placeholder_jpeg
from services.ui.state import LiveState

CHECK_S = 0.03  # how often the shared state is checked for new frames


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
    min_gap_s = 0.9 / fps  # a little under 1/fps: a frame that is due is not held back a whole tick
    tick_s = min(1.0 / fps, CHECK_S)
    sent: dict[str, tuple[bytes, float]] = {}  # camera -> (frame sent last, when)
    WS_CLIENTS.inc()
    try:
        while not state.closing.is_set():
            views = state.views()
            now = time.monotonic()
            for view in views:
                cam = view.camera.camera_id
                jpeg = view.jpeg or placeholder_jpeg()
                last = sent.get(cam)
                if last is None or (last[0] is not jpeg and now - last[1] >= min_gap_s):
                    await ws.send_bytes(message(cam, jpeg))
                    WS_FRAMES.inc()
                    sent[cam] = (jpeg, now)
            if len(sent) > len(views):
                live = {v.camera.camera_id for v in views}
                sent = {k: v for k, v in sent.items() if k in live}
            await asyncio.sleep(tick_s)
        await ws.close()
    except (WebSocketDisconnect, RuntimeError):
        return  # the client went away (RuntimeError: sending on a socket already closed)
    finally:
        WS_CLIENTS.dec()
