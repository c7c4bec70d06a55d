"""Settings that fail fast, in one line: the variable, its value and what is allowed.

A service reads its settings with :func:`load_settings`; a value that does not validate is a
:class:`SettingsError` (never a pydantic traceback), and the service exits with :data:`EX_CONFIG`, which
the supervisor takes as "do not restart": the same settings would fail the same way. ``emostream up`` and
``analyze`` validate every child's settings before any child starts (``services.cli.preflight``).
The checks the settings classes share (:func:`url_with_host`, :func:`existing_file`, ...) are here too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from services.common.credentials import redact

#: sysexits.h's EX_CONFIG: the process stopped because of its configuration
EX_CONFIG = 78
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: fields whose values are never shown (a URL's password is masked wherever it is shown)
_SECRET_WORDS = ("password", "token", "secret", "key")

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """Settings that do not validate; the message names each bad variable, its value and the rule."""


def _shown(field: str, value: object) -> str:
    if any(word in field for word in _SECRET_WORDS):
        return "'***'"
    text = redact(str(value))
    return repr(text if len(text) <= 80 else text[:77] + "...")


def describe(exc: ValidationError) -> str:
    """One line for a settings class's :class:`ValidationError`: ``EMOSTREAM_PORT=99999: Input should be
    less than or equal to 65535``, several joined with ``; ``."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if field:
            parts.append(f"EMOSTREAM_{field.upper()}={_shown(field, error.get('input', ''))}: {message}")
        else:
            parts.append(message)
    return "; ".join(parts)


def load_settings(cls: type[S]) -> S:
    """``cls()`` from the environment; raises :class:`SettingsError` with :func:`describe`'s line."""
    try:
        return cls()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Within the block, ``os.environ`` is exactly ``env`` (to validate a child's settings in its parent
    before the child exists). Not for use while other threads read the environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def url_with_host(value: str, schemes: tuple[str, ...]) -> str:
    """``value`` when it is a URL of one of ``schemes`` with a host; raises ValueError saying what is."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError(f"a URL {' or '.join(f'{s}://HOST' for s in schemes)} is expected")
    return value


def log_level(value: str) -> str:
    """``value`` when it names a logging level (any case); raises ValueError listing them."""
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"one of {', '.join(LOG_LEVELS)} is expected")
    return value


def existing_file(value: str) -> str:
    """``value`` when it is empty or a readable file; raises ValueError otherwise."""
    if value and not (Path(value).is_file() and os.access(value, os.R_OK)):
        raise ValueError("no readable file there")
    return value


def usable_dir(value: Path | None) -> Path | None:
    """``value`` when it is unset, a directory, or a path not there yet (made on first use)."""
    if value is not None and value.exists() and not value.is_dir():
        raise ValueError("it exists and is not a directory")
    return value
