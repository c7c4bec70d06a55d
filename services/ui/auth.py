"""Optional auth over the whole app (REST, MJPEG, Gradio) except ``/healthz``: HTTP basic auth with the
dashboard login, or ``Authorization: Bearer TOKEN`` for REST clients (``EMOSTREAM_API_TOKEN``)."""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = ("/healthz",)  # container health checks carry no password
#: the request-state flag an open path reads: False when auth is on and the request did not log in
AUTHENTICATED = "authenticated"


def credentials(header: bytes) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic ...`` header value, or None when malformed."""
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer(header: bytes) -> bytes | None:
    """The token of an ``Authorization: Bearer ...`` header value, or None."""
    scheme, _, token = header.partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


class BasicAuth:
    """Pure ASGI middleware (it never buffers, so MJPEG and server-sent events stream through).

    ``password`` empty: no basic login; ``token`` empty: no bearer token; at least one is set."""

    def __init__(
        self, app: ASGIApp, user: str, password: str, realm: str = "emostream", token: str = ""
    ) -> None:
        self.app = app
        self.user = user.encode()
        self.password = password.encode()
        self.token = token.encode()
        self.realm = realm

    def allowed(self, scope: Scope) -> bool:
        if scope["path"] in OPEN_PATHS:
            # open, but it answers details only to a logged-in client (see api.healthz)
            scope.setdefault("state", {})[AUTHENTICATED] = self.authenticated(scope)
            return True
        return self.authenticated(scope)

    def authenticated(self, scope: Scope) -> bool:
        """Whether the request carries the bearer token or the dashboard login."""
        header = dict(scope.get("headers") or []).get(b"authorization")
        if header and self.token and (given := bearer(header)) is not None:
            return secrets.compare_digest(given, self.token)
        if not self.password:
            return False
        found = credentials(header) if header else None
        if found is None:
            return False
        user_ok = secrets.compare_digest(found[0].encode(), self.user)
        password_ok = secrets.compare_digest(found[1].encode(), self.password)
        return user_ok and password_ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'.encode()),
                    (b"content-type", b"text/plain; charset=utf-8"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"login required\n"})
