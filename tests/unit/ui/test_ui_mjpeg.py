"""The MJPEG generator over an in-memory state: parts, the Chromium double-send, ending."""

from __future__ import annotations

import asyncio

import redis

from services.common.registry import Camera
from services.ui import mjpeg
from services.ui.stage import CameraView
from services.ui.state import LiveState

CAM = Camera("cam1", "0", "live", False)


def test_part_frames_one_jpeg() -> None:
    out = mjpeg.part(b"\xff\xd8abc\xff\xd9")
    assert out.startswith(b"--emoframe\r\nContent-Type: image/jpeg\r\nContent-Length: 7\r\n\r\n")
    assert out.endswith(b"\xff\xd8abc\xff\xd9\r\n")


def test_stream_sends_placeholder_then_each_new_frame_twice_then_ends() -> None:
    state = LiveState(redis.Redis(port=1))  # never connected: the test sets the views itself

    async def collect() -> list[bytes]:
        parts: list[bytes] = []
        gen = mjpeg.stream(state, "cam1", fps=200)
        parts.append(await anext(gen))  # no view yet: the placeholder
        state._views = {"cam1": CameraView(CAM, jpeg=b"JPEG1")}
        parts.append(await anext(gen))
        parts.append(await anext(gen))
        state.closing.set()
        parts.extend([p async for p in gen])
        return parts

    parts = asyncio.run(collect())
    assert mjpeg.placeholder_jpeg() in parts[0]
    assert parts[1].endswith(b"JPEG1\r\n") and parts[2] == parts[1]
    assert len(parts) == 3
