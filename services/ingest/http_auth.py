"""The ``Authorization`` header for a camera's ``user:password@`` after its 401: Basic or Digest (RFC 7616,
MD5 or SHA-256, ``qop=auth``), as FFmpeg's http client answers, so a camera keeps its login when ingest
fetches it itself (:mod:`services.ingest.fetch`)."""

from __future__ import annotations

import base64
import hashlib
import os
import re

#: ``key=value`` or ``key="value"`` pairs of a challenge
PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
HASHES = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


def authorization(challenges: list[str], method: str, uri: str, user: str, password: str) -> str | None:
    """The header that answers the best of ``challenges`` (``WWW-Authenticate`` values; Digest before
    Basic), or None when none is one of these."""
    by_scheme = {c.strip().split(" ", 1)[0].lower(): c.strip() for c in challenges if c.strip()}
    if "digest" in by_scheme:
        return digest(by_scheme["digest"].split(" ", 1)[-1], method, uri, user, password)
    if "basic" in by_scheme:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return None


def digest(params: str, method: str, uri: str, user: str, password: str, cnonce: str = "") -> str | None:
    """The Digest answer to a challenge's ``params``; None for an algorithm it does not know."""
    fields = {k.lower(): (quoted or bare) for k, quoted, bare in PARAM.findall(params)}
    algorithm = fields.get("algorithm", "MD5").upper()
    if algorithm not in HASHES or "nonce" not in fields:
        return None

    def h(text: str) -> str:
        return HASHES[algorithm](text.encode()).hexdigest()

    realm, nonce = fields.get("realm", ""), fields["nonce"]
    cnonce, count = cnonce or os.urandom(8).hex(), "00000001"
    ha1 = h(f"{user}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    qop = "auth" if "auth" in [q.strip() for q in fields.get("qop", "").split(",")] else ""
    response = h(f"{ha1}:{nonce}:{count}:{cnonce}:{qop}:{ha2}" if qop else f"{ha1}:{nonce}:{ha2}")
    header = (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}'
    )
    if qop:
        header += f', qop={qop}, nc={count}, cnonce="{cnonce}"'
    if "opaque" in fields:
        header += f', opaque="{fields["opaque"]}"'
    return header
