"""Waiting in tests: one ``wait_for`` and one ``free_port`` for the whole suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from services.cli.embedded_redis import free_port

__all__ = ["free_port", "wait_for"]

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout_s: float = 10.0, what: str = "the condition") -> T:
    """Poll ``condition`` every 0.1 s until it returns something truthy, and return that.

    Raises AssertionError naming ``what`` when ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)
