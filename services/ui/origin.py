"""Cross-site request refusal (CSRF): a browser attaches the dashboard login it has cached to a form or
fetch that any other site makes, so what changes state must come from the dashboard's own pages.

A request is cross-site when its ``Origin`` is neither the dashboard itself (the ``Host`` the request was
sent to) nor one of ``EMOSTREAM_UI_ALLOWED_ORIGINS``, or, without ``Origin``, when ``Sec-Fetch-Site`` says
``cross-site`` or ``same-site``. Such a request gets 403 when it changes state (any method but GET, HEAD,
OPTIONS: REST calls, uploads, Gradio's upload and queue routes) and so does every WebSocket handshake.
Clients that send neither header (curl, scripts) and requests with the bearer token (never ambient: a
page cannot make a browser attach it) pass. The scheme is not compared when the request came as plain
HTTP, so a TLS proxy in front (the app sees ``http``, the page ``https``) is still same-origin.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ui.auth import bearer

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def parse_origin(text: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) of an origin, lower case, without its scheme's default port; None for
    ``null`` or anything that is not ``scheme://host[:port]``."""
    try:
        parts = urlsplit(text.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path.strip("/") or parts.query:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.scheme, host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"


def host_of(host_header: str, scheme: str) -> str:
    """The ``Host`` header as :func:`parse_origin` spells a host: lower case, no default port."""
    parsed = parse_origin(f"{scheme}://{host_header}")
    return parsed[1] if parsed else ""


def cross_site(scope: Scope, allowed: frozenset[tuple[str, str]]) -> str | None:
    """Why the request is cross-site, or None when it is not (pure: reads the scope's headers)."""
    headers = dict(scope.get("headers") or [])
    raw = headers.get(b"origin")
    if raw is None:
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        return f"a {site} request (Sec-Fetch-Site)" if site in ("cross-site", "same-site") else None
    text = raw.decode("latin-1")
    origin = parse_origin(text)
    if origin is None:
        return f"a request from Origin {text!r}"
    if origin in allowed:
        return None
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    own = host_of(headers.get(b"host", b"").decode("latin-1"), scheme)
    # plain HTTP may be a TLS proxy's leg: the page is https; an http page never reaches an https server
    if origin[1] == own and (scheme == "http" or origin[0] == "https"):
        return None
    return f"a request from Origin {text!r}, not this dashboard ({own or 'no Host'})"


class SameOrigin:
    """Pure ASGI middleware (it never buffers): 403 for cross-site requests that change state, close
    (HTTP 403) for cross-site WebSocket handshakes; see the module docstring."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = (), token: str = "") -> None:
        self.app = app
        self.allowed = frozenset(o for o in map(parse_origin, allowed_origins) if o is not None)
        self.token = token.encode()

    def exempt(self, scope: Scope) -> bool:
        if scope["type"] == "websocket":
            return False
        if scope["method"] in SAFE_METHODS:
            return True
        header = dict(scope.get("headers") or []).get(b"authorization")
        given = bearer(header) if header else None
        return bool(self.token) and given is not None and secrets.compare_digest(given, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        why = cross_site(scope, self.allowed)
        if why is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "cross-site WebSocket refused"})
            return
        detail = (
            f"cross-site request refused: {why}. The dashboard takes changes only from its own pages;"
            " add other origins to EMOSTREAM_UI_ALLOWED_ORIGINS, or call the API with the bearer token"
        )
        await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)
