"""The one way tests serve HTTP on a port of their own: a ``ThreadingHTTPServer`` on a daemon thread.

Fake cameras, redirecting sources and webhook receivers all run on it. The dashboard itself runs under
uvicorn (``tests.support.ui.serve_ui``), as the service does.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output free of access lines."""

    def log_message(self, *_: object) -> None:
        pass


class HttpServer:
    """``handler`` served on ``host:port`` (0: a free port) from a daemon thread; restartable on the
    same port (a camera that goes away and comes back: ``HTTPServer`` sets SO_REUSEADDR). With ``tls``
    (a server-side context) it speaks HTTPS."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler, self.host, self.port, self.tls = handler, host, port, tls
        self.httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """``http(s)://host:port``, with the port the server got."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> HttpServer:
        self.httpd = ThreadingHTTPServer((self.host, self.port), self.handler)
        self.httpd.daemon_threads = True  # a streaming handler does not hold up the shutdown
        self.port = self.httpd.server_address[1]
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (open streams end when their handler next writes)."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
