"""The frame socket: message format, each new frame once per camera, placeholder, ending."""

from __future__ import annotations

import pytest
import redis
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient

from services.common.registry import Camera
from services.ui import framesocket
from services.ui.mjpeg import placeholder_jpeg
from services.ui.stage import CameraView
from services.ui.state import LiveState


def parse(data: bytes) -> tuple[str, bytes]:
    n = data[0]
    return data[1 : 1 + n].decode(), data[1 + n :]


def test_message_layout() -> None:
    assert parse(framesocket.message("cam-é", b"JPEG")) == ("cam-é", b"JPEG")
    with pytest.raises(ValueError, match="255 bytes"):
        framesocket.message("x" * 256, b"")


def test_socket_sends_each_new_frame_once_then_ends() -> None:
    state = LiveState(redis.Redis(port=1))  # never polled: the test sets the views itself
    state._views = {
        "a": CameraView(Camera("a", "0", "live", False), jpeg=b"A1"),
        "b": CameraView(Camera("b", "0", "live", False)),
    }
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(sock: WebSocket) -> None:
        await framesocket.serve(sock, state, fps=100)

    with TestClient(app).websocket_connect("/ws") as sock:
        first = dict(parse(sock.receive_bytes()) for _ in range(2))
        assert first == {"a": b"A1", "b": placeholder_jpeg()}
        state._views = {**state._views, "a": CameraView(Camera("a", "0", "live", False), jpeg=b"A2")}
        assert parse(sock.receive_bytes()) == ("a", b"A2")  # only the camera that changed
        state.closing.set()
        with pytest.raises(Exception):  # noqa: B017 -- the server closed the socket
            sock.receive_bytes()
