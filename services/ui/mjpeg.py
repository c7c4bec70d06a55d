"""MJPEG over HTTP (``multipart/x-mixed-replace``) from the shared :class:`LiveState`."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import cv2
import numpy as np

from services.common.image import encode_jpeg
from services.ui.metrics import MJPEG_CLIENTS, MJPEG_FRAMES
from services.ui.state import LiveState

BOUNDARY = "emoframe"
MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
KEEPALIVE_S = 2.0  # resend an unchanged frame this often so proxies and browsers keep the stream open


@functools.lru_cache(maxsize=1)
def placeholder_jpeg(size_wh: tuple[int, int] = (640, 360)) -> bytes:
    """A grey 'waiting for frames' image, so a tile shows something before the first frame."""
    w, h = size_wh
    img = np.full((h, w, 3), 48, np.uint8)
    cv2.putText(
        img, "waiting for frames", (w // 2 - 150, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (200,) * 3, 2
    )
    return encode_jpeg(img, 70)


def part(jpeg: bytes) -> bytes:
    """One multipart part holding one JPEG."""
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return head + jpeg + b"\r\n"


async def stream(state: LiveState, camera_id: str, fps: float) -> AsyncIterator[bytes]:
    """Yield a part whenever the camera's frame changes, at most ``fps`` a second, until cancelled.

    Starlette cancels the generator when the client disconnects; the camera being removed or the
    server shutting down (``state.closing``) ends it too.
    """
    interval_s = 1.0 / fps
    last: bytes | None = None
    sent_at = 0.0
    seen = False
    repeat = False
    MJPEG_CLIENTS.inc()
    try:
        while not state.closing.is_set():
            view = state.get(camera_id)
            if view is None and seen:
                return  # camera removed
            seen = seen or view is not None
            jpeg = view.jpeg if view is not None and view.jpeg else placeholder_jpeg()
            now = time.monotonic()
            if jpeg is not last or repeat or now - sent_at >= KEEPALIVE_S:
                yield part(jpeg)
                MJPEG_FRAMES.inc()
                # Chromium shows a part only once the next one starts: send each new frame twice.
                repeat = jpeg is not last
                last, sent_at = jpeg, now
            await asyncio.sleep(interval_s)
    finally:
        MJPEG_CLIENTS.dec()
