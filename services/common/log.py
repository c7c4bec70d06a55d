"""Structured logging: one line per event, key=value pairs after the message."""

from __future__ import annotations

import logging


def setup(level: str = "INFO", service: str = "") -> None:
    prefix = f"service={service} " if service else ""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s level=%(levelname)s {prefix}logger=%(name)s %(message)s",
        force=True,
    )
