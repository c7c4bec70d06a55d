"""Passwords in camera URIs (``rtsp://user:s3cret@host/stream``) are kept apart from the URI.

The registry stores the URI with its password replaced by ``***`` (what the API, the tiles and the logs
show) and the password sealed with ``EMOSTREAM_SOURCE_KEY`` (Fernet: AES-128-CBC and HMAC-SHA256, from
``cryptography``), so neither Redis's memory nor its append-only file holds it in clear. Only the UI
(which seals) and ingest (which opens the camera) are given the key. :func:`redact` takes passwords out
of any text: the log filter (``common.log``) and the camera's error field run every line through it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

MASK = "***"
# scheme://user:password@ anywhere in a text; the password ends at the last '@' before the host
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:@/\s]*:)(?P<password>[^/\s]*)@", re.I)


class CredentialError(ValueError):
    """A sealed password that cannot be opened (no key, or another key), or a key that is not valid."""


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (``rtsp://u:***@h/s``)."""
    return _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)


def split(uri: str) -> tuple[str, str]:
    """``(uri with its password masked, the password)``; ``(uri, "")`` when it carries none."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri, ""
    if parts.password is None or "@" not in parts.netloc:
        return uri, ""
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    if not password or password == MASK:
        return uri, ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}")), password


def join(masked_uri: str, password: str) -> str:
    """The URI :func:`split` took apart: ``password`` back in place of ``***``."""
    if not password:
        return masked_uri
    parts = urlsplit(masked_uri)
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def new_key() -> str:
    """A fresh ``EMOSTREAM_SOURCE_KEY``."""
    return Fernet.generate_key().decode()


class Sealer:
    """Seals and opens camera passwords with one ``EMOSTREAM_SOURCE_KEY``.

    Raises:
        CredentialError: ``key`` is not a Fernet key (32 url-safe base64 bytes; :func:`new_key`).
    """

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise CredentialError(f"EMOSTREAM_SOURCE_KEY is not a valid key ({exc})") from None

    def seal(self, password: str) -> str:
        return self._fernet.encrypt(password.encode()).decode()

    def open(self, sealed: str) -> str:
        """The password; raises CredentialError when it was sealed with another key or altered."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            raise CredentialError(
                "the camera's password was sealed with another EMOSTREAM_SOURCE_KEY: register it again"
            ) from None
