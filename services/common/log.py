"""Structured logging: one line per event, key=value pairs after the message. No password reaches a log
line: every handler of the root logger masks the ones in URLs (:func:`common.credentials.redact`)."""

from __future__ import annotations

import logging

from services.common.credentials import redact


class RedactPasswords(logging.Filter):
    """Masks ``scheme://user:password@`` in the message and its arguments, whatever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()  # the arguments formatted in, whatever their types
        if "://" in message:
            record.msg, record.args = redact(message), ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def redact_handlers() -> None:
    """Put :class:`RedactPasswords` on every handler of the root logger (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactPasswords) for f in handler.filters):
            handler.addFilter(RedactPasswords())


def setup(level: str = "INFO", service: str = "") -> None:
    prefix = f"service={service} " if service else ""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s level=%(levelname)s {prefix}logger=%(name)s %(message)s",
        force=True,
    )
    redact_handlers()
