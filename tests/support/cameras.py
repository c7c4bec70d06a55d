"""Watching cameras in the registry from a test (this module holds no tests)."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from services.common import keys, registry
from services.common.registry import Camera


def cameras(client: redis.Redis) -> dict[str, Camera]:
    """Every registered camera by name."""
    return {c.camera_id: c for c in registry.all_cameras(client)}


def settle(
    client: redis.Redis, done: Callable[[dict[str, Camera]], bool], timeout_s: float = 30
) -> dict[str, Camera]:
    """The cameras once ``done(cameras)`` holds, or as they are after ``timeout_s`` (the test's asserts
    then report what they found)."""
    deadline = time.monotonic() + timeout_s
    while not done(found := cameras(client)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def frames_flow(client: redis.Redis, camera_id: str, window_s: float = 1.5) -> bool:
    """Whether ``camera_id``'s frame stream grew within ``window_s``."""
    before = client.xlen(keys.stream("frames", camera_id))
    time.sleep(window_s)
    return int(client.xlen(keys.stream("frames", camera_id))) > int(before)
