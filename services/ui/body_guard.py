"""Every request body is bounded in bytes and in time, before and while it is read.

Bytes: 413 at once when ``Content-Length`` is over the limit, else as soon as the bytes received pass it
(a chunked upload). Uploads (``POST /api/jobs``, Gradio's upload route) may carry ``upload_bytes``; every
other body (REST JSON, Gradio's queue and stream routes, which carry the webcam's frames) ``body_bytes``.

Time: a body that pauses for ``timeout_s``, or that has not arrived at ``min_bytes_per_s`` on average
after the first ``timeout_s`` (a client sending one byte a second), gets 408 and its connection closed.
uvicorn has no such deadline of its own; the request head's deadline is :mod:`services.ui.slow_clients`'.

The refusal is sent from here, then the app reads ``http.disconnect``: whatever the app (or Gradio's own
error handler) answers after it is dropped, so a refusal is never turned into a 500.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DISCONNECT: Message = {"type": "http.disconnect"}


class BodyGuard:
    """Pure ASGI middleware; it never buffers (uploads stream through to the app)."""

    UPLOAD_PATHS = ("/api/jobs", "/gradio_api/upload", "/upload")

    def __init__(
        self,
        app: ASGIApp,
        upload_bytes: int,
        upload_text: str = "",
        body_bytes: int = 1 << 20,
        timeout_s: float = 30.0,
        min_bytes_per_s: int = 4096,
    ) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.upload_text = upload_text or f"{upload_bytes:,} bytes"
        self.body_bytes = body_bytes
        self.timeout_s = timeout_s
        self.min_bytes_per_s = min_bytes_per_s

    def limit(self, path: str) -> tuple[int, str]:
        """The limit of a body sent to ``path``, in bytes and in words."""
        if path.rstrip("/").endswith(self.UPLOAD_PATHS):
            return self.upload_bytes, f"upload too large: over the limit of {self.upload_text}"
        return self.body_bytes, f"request body too large: over the limit of {self.body_bytes:,} bytes"

    def budget_s(self, received: int) -> float:
        """Seconds since the request began that a body of ``received`` bytes so far may have taken."""
        return self.timeout_s + received / self.min_bytes_per_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Long because: one ASGI state machine (headers, then body chunks against the byte and time bounds,
        then the answer); its states share the locals of one request.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, too_large = self.limit(scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit():
            await refuse(scope, send, 400, "Content-Length is not a number")
            return
        if int(length) > limit:
            await refuse(scope, send, 413, too_large)
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        received = 0
        complete = False  # the whole body is in: later receives only wait for the disconnect
        started = False  # the app's answer has begun
        answered = False  # this guard has answered (or cut the answer short)

        async def cut(status: int, detail: str) -> Message:
            nonlocal answered
            if not started:
                await refuse(scope, send, status, detail)
            answered = True
            log.info("request body refused path=%s status=%d received=%d", scope["path"], status, received)
            return DISCONNECT

        async def guarded() -> Message:
            nonlocal received, complete
            if complete or answered:
                return DISCONNECT if answered else await receive()
            elapsed = loop.time() - began
            wait_s = min(self.timeout_s, self.budget_s(received) - elapsed)
            too_slow = (
                f"request body too slow: {received:,} bytes in {elapsed:.0f} s (a body may pause at most"
                f" {self.timeout_s:g} s and must average {self.min_bytes_per_s:,} bytes/s)"
            )
            if wait_s <= 0:
                return await cut(408, too_slow)
            try:
                message = await asyncio.wait_for(receive(), wait_s)
            except TimeoutError:
                return await cut(408, too_slow)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    return await cut(413, too_large)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the refusal went out: what the app says after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded, tracked)
        except Exception:
            if not answered:
                raise
            # the app failed on the disconnect it was handed after the refusal: nothing more to say


async def refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    """Answer ``status`` with ``{"detail": detail}``, the body left unread. A 408 closes the connection;
    after any other the server drains what the client still sends (closing on unread bytes would reset
    the connection, and the client might never read the answer), within the head deadline of
    :class:`services.ui.server.HeadDeadline`."""

    async def nothing() -> Message:
        return DISCONNECT

    headers = {"Connection": "close"} if status == 408 else None
    answer = JSONResponse({"detail": detail}, status_code=status, headers=headers)
    await answer(scope, nothing, send)
