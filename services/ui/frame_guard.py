"""413 for an oversized webcam frame at the door, before Gradio queues (and decodes) it.

The webcam's frames come as ``data:image/...;base64,`` URLs inside the JSON bodies of Gradio's queue and
stream routes (``POST /gradio_api/queue/join``, ``/gradio_api/stream/{event}``, ``/gradio_api/run/...``).
Gradio answers those before the frame is processed, so a refusal there would only reach the browser as
an error event. This middleware reads each such body (small: :class:`services.ui.body_guard.BodyGuard`,
outside it, holds it to the body limit and deadline), checks every image URL's header
(:func:`services.common.image_header.check_frame`) and answers 413/415/422 naming the limit; the body then
goes on to Gradio unchanged. Frames that come as files (uploaded, then named) are checked where they
are decoded (:func:`services.ui.frame_input.frame_input`, :meth:`WebcamHub.publish_encoded`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.image_header import FrameRefused, check_frame

PREFIX = "/gradio_api/"
IMAGE_URL = "data:image/"


def image_urls(value: object) -> Iterator[str]:
    """Every ``data:image/`` string anywhere in a decoded JSON document."""
    if isinstance(value, str):
        if value.startswith(IMAGE_URL):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from image_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from image_urls(item)


def check_body(body: bytes, max_px: int) -> None:
    """Raise :class:`FrameRefused` for the first image URL in a JSON body that may not be decoded;
    a body that is not JSON is left to the route (it answers 422)."""
    try:
        document = json.loads(body)
    except ValueError:
        return
    for url in image_urls(document):
        try:
            data = base64.b64decode(url.rsplit(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise FrameRefused("frame refused: its data: URL is not base64", 422) from None
        check_frame(data, max_px)


class FrameGuard:
    """ASGI middleware over Gradio's JSON ``POST`` routes (it reads their bodies, which are small)."""

    def __init__(self, app: ASGIApp, max_px: int) -> None:
        self.app = app
        self.max_px = max_px

    def applies(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(PREFIX):
            return False
        kind: bytes = dict(scope.get("headers") or []).get(b"content-type", b"")
        return kind.split(b";")[0].strip().lower() == b"application/json"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or the body guard refused it)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check_body(body, self.max_px)
        except FrameRefused as exc:
            await JSONResponse({"detail": str(exc)}, status_code=exc.status)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
