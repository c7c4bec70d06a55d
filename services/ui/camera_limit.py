"""At most ``EMOSTREAM_UI_MAX_CAMERAS`` cameras: every camera costs a reader in ingest, streams in Redis
and a tile in every browser, so the dashboard and API stop registering new ones at the limit.

Counted: every registered camera but those of video jobs (``job:`` sources), which have their own bounds
(``EMOSTREAM_MAX_RUNNING_JOBS``, ``EMOSTREAM_MAX_KEPT_JOBS``). Replacing a camera that exists is always
allowed. The check and the registration are serialised within this process; two UI replicas adding the
last camera at the same instant may pass it by one each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

from services.common import registry

SETTING = "EMOSTREAM_UI_MAX_CAMERAS"


class CameraLimitReached(ValueError):
    """No new camera may be registered; the message names the limit and the setting."""


def counted(uri: str) -> bool:
    """Whether a camera of this URI counts towards the limit (a video job's does not)."""
    return not uri.startswith("job:")


class CameraLimit:
    """Thread-safe (REST handlers, the dashboard and the webcam hub run in worker threads)."""

    def __init__(self, client: redis.Redis, max_cameras: int) -> None:
        """``max_cameras`` 0: no limit."""
        self.redis = client
        self.max_cameras = max_cameras
        self._lock = threading.Lock()

    def check(self, camera_id: str) -> None:
        """Raise :class:`CameraLimitReached` unless ``camera_id`` exists or one more camera fits."""
        if not self.max_cameras or registry.get(self.redis, camera_id) is not None:
            return
        cameras = sum(counted(c.uri) for c in registry.all_cameras(self.redis))
        if cameras >= self.max_cameras:
            raise CameraLimitReached(
                f"camera limit reached: {cameras} cameras are registered and {SETTING} is"
                f" {self.max_cameras}; remove one (or replace one of the same name) first"
            )

    def add(self, camera_id: str, register: Callable[[], registry.Camera]) -> registry.Camera:
        """``register()`` when the camera fits (:meth:`check`, under this limit's lock); its camera."""
        with self._lock:
            self.check(camera_id)
            return register()
