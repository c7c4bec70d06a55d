"""How the dashboard is served: uvicorn with limits on what a slow or greedy client may hold.

- Each request's head (request line and headers) must arrive within ``EMOSTREAM_HEADER_TIMEOUT_S`` of
  the connection opening or of the previous answer, else the connection is closed (408 when part of a
  head came): uvicorn has no header deadline of its own, so one byte a second held a connection forever.
  The same deadline ends the draining of a body that was answered (413) before it was read.
  The body's deadline is :class:`services.ui.body_guard.BodyGuard`'s.
- A head that has not come whole within :data:`MAX_HEAD_BYTES` is refused (h11's incomplete-event
  limit, 400); a head read whole at once is bounded by the socket read, 256 KiB.
- An idle keep-alive connection is closed after :data:`KEEP_ALIVE_S`.
- At most ``EMOSTREAM_MAX_CONNECTIONS`` connections and requests at once; past it, 503.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from types import FrameType

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.ui.settings import UISettings

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
KEEP_ALIVE_S = 5
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline on each request head (``head_timeout_s``)."""

    head_timeout_s = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's H11Protocol narrows BaseTransport to Transport
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this connection gets its own window

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = None
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed already, or a WebSocket now
        if self.conn.their_state is not h11.IDLE:
            if self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY:
                # answered early (413), and the client is still sending: draining ends here
                log.info("body drain cut off client=%s", self.client)
                self.transport.close()
            return  # the head came: the request (and its body's deadline) runs on
        partial, _ = self.conn.trailing_data
        if partial:
            detail = f"request headers not received within {self.head_timeout_s:g} s\n".encode()
            length = b"content-length: %d\r\nconnection: close\r\n\r\n" % len(detail)
            self.transport.write(REQUEST_TIMEOUT + length + detail)
            log.info("slow request head cut off client=%s bytes=%d", self.client, len(partial))
        self.transport.close()


def head_deadline(timeout_s: float) -> type[HeadDeadline]:
    """:class:`HeadDeadline` with its deadline set (uvicorn takes a protocol class, not an instance)."""
    return type("HeadDeadline", (HeadDeadline,), {"head_timeout_s": timeout_s})


def uvicorn_config(app: ASGIApp, settings: UISettings, host: str | None = None) -> uvicorn.Config:
    """The server config of the dashboard (``host``: instead of ``settings.host``, e.g. for a test)."""
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port,
        http=head_deadline(settings.header_timeout_s),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=settings.max_connections or None,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the key=value format set up by service_main
        timeout_graceful_shutdown=3,  # MJPEG and push streams never end on their own
    )


class Server(uvicorn.Server):
    """uvicorn's server that also sets ``stop`` on SIGTERM/SIGINT, ending streams and the health beat."""

    def __init__(self, config: uvicorn.Config, stop: threading.Event) -> None:
        super().__init__(config)
        self.stop = stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop.set()
        super().handle_exit(sig, frame)
