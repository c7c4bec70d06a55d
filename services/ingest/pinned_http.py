"""An HTTP(S) connection that goes to one checked address: the name is never resolved again.

The Host header, and with TLS the SNI name, stay the URL's host, so a camera behind a name-based virtual
host or a TLS front answers as it would to FFmpeg. Certificates are not verified, as FFmpeg does not by
default (``tls_verify=0``): cameras carry self-signed ones. The policy is about where ingest connects,
and that is the checked address whatever the certificate says.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl

from services.common.addresses import IPAddress


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class PinnedConnection(http.client.HTTPConnection):
    """A connection for URL host ``host`` (a name or a literal) made to ``address``; TLS when ``tls``."""

    def __init__(self, host: str, port: int | None, address: IPAddress, timeout_s: float, tls: bool) -> None:
        super().__init__(host, port or (443 if tls else 80), timeout=timeout_s)
        self.address = address
        self.tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((str(self.address), self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls_context().wrap_socket(sock, server_hostname=self.host) if self.tls else sock

    def shutdown(self) -> None:
        """Wake a read blocked in another thread (it then sees the connection end)."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)
