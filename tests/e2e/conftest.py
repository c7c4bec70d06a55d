"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.cli.stack import PIPELINE, Stack, stack


@pytest.fixture(scope="module")
def services_up(redis_url: str) -> Iterator[Stack]:
    """The four pipeline services as real processes on the session's Redis, started once per module."""
    old = os.environ.get("EMOSTREAM_REDIS_URL")
    os.environ["EMOSTREAM_REDIS_URL"] = redis_url
    try:
        with stack(PIPELINE) as running:
            running.wait_healthy(180)
            yield running
    finally:
        if old is None:
            os.environ.pop("EMOSTREAM_REDIS_URL", None)
        else:
            os.environ["EMOSTREAM_REDIS_URL"] = old
