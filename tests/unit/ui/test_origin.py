"""Which requests are cross-site (CSRF): Origin against Host and the allowed origins, Sec-Fetch-Site
without Origin, and what is exempt (reads, the bearer token)."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from services.ui.origin import SameOrigin, cross_site, parse_origin


def scope(
    origin: str | None = None,
    host: str = "dash.example:7860",
    scheme: str = "http",
    kind: str = "http",
    method: str = "POST",
    **headers: str,
) -> Scope:
    raw = [(b"host", host.encode())] + [
        (k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()
    ]
    if origin is not None:
        raw.append((b"origin", origin.encode()))
    return {"type": kind, "scheme": scheme, "method": method, "path": "/api/cameras", "headers": raw}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("http://dash.example:7860", ("http", "dash.example:7860")),
        ("HTTPS://Dash.Example:443", ("https", "dash.example")),
        ("http://dash.example:80/", ("http", "dash.example")),
        ("http://[::1]:7860", ("http", "[::1]:7860")),
        ("null", None),
        ("file://", None),
        ("http://dash.example/path", None),
        ("http://dash.example:99999", None),
        ("javascript:alert(1)", None),
    ],
)
def test_parse_origin(text: str, parsed: tuple[str, str] | None) -> None:
    assert parse_origin(text) == parsed


ALLOWED = frozenset({("https", "ops.example.org")})


@pytest.mark.parametrize(
    ("request_scope", "refused"),
    [
        (scope(), False),  # curl, scripts: neither Origin nor Sec-Fetch-Site
        (scope("http://dash.example:7860"), False),  # the dashboard's own page
        (scope("http://DASH.example:7860"), False),
        (scope("https://dash.example", host="dash.example"), False),  # a TLS proxy in front: app sees http
        (scope("http://dash.example", host="dash.example:80"), False),
        (scope("https://ops.example.org"), False),  # EMOSTREAM_UI_ALLOWED_ORIGINS
        (scope("http://evil.example"), True),
        (scope("http://dash.example:7861"), True),  # another port is another origin
        (scope("http://dash.example.evil.example:7860"), True),
        (scope("http://ops.example.org"), True),  # allowed only over https
        (scope("null"), True),  # sandboxed frames, file:// pages
        (scope("http://dash.example", host="dash.example", scheme="https"), True),  # http page, https server
        (scope("http://dash.example:7860", host=""), True),
        (scope(sec_fetch_site="cross-site"), True),
        (scope(sec_fetch_site="same-site"), True),
        (scope(sec_fetch_site="same-origin"), False),
        (scope(sec_fetch_site="none"), False),
        (scope("http://evil.example", kind="websocket", scheme="ws"), True),
        (scope("http://dash.example:7860", kind="websocket", scheme="ws"), False),
    ],
)
def test_cross_site(request_scope: Scope, refused: bool) -> None:
    assert (cross_site(request_scope, ALLOWED) is not None) is refused


@pytest.mark.parametrize(
    ("request_scope", "exempt"),
    [
        (scope("http://evil.example", method="GET"), True),
        (scope("http://evil.example", method="HEAD"), True),
        (scope("http://evil.example", method="DELETE"), False),
        (scope("http://evil.example", authorization="Bearer t0ken"), True),  # never ambient
        (scope("http://evil.example", authorization="Bearer forged"), False),
        (scope("http://evil.example", authorization="Basic ZW1vOnB3"), False),  # cached by the browser
        (scope("http://evil.example", kind="websocket", method="GET"), False),
    ],
)
def test_what_is_exempt(request_scope: Scope, exempt: bool) -> None:
    guard = SameOrigin(lambda *_: None, token="t0ken")  # type: ignore[arg-type]
    assert guard.exempt(request_scope) is exempt
