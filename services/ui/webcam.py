"""The browser's webcam as a live camera: the UI publishes its frames itself (ingest never opens it).

Each browser session gets a camera ``webcam-<id>`` registered with the URI ``push:webcam-<id>``; its
frames go through :func:`services.common.frames.queue_frame` exactly as ingest's do, so the detector,
classifier and tracker treat it like any camera. A camera that gets no frame for ``idle_s`` is removed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np
import redis

from services.common import keys, registry
from services.common.frames import queue_frame
from services.common.image import encode_jpeg
from services.common.image_header import FrameRefused, check_frame
from services.ui.camera_limit import CameraLimit, CameraLimitReached

log = logging.getLogger(__name__)

__all__ = ["CameraLimitReached", "FrameRefused", "WebcamHub", "camera_for"]

MAX_SIDE_PX = 1280  # a larger browser frame is scaled down before it is published


def camera_for(session: str) -> str:
    """The camera name of a browser session: ``webcam-`` and up to 12 letters/digits of its id."""
    clean = re.sub(r"[^A-Za-z0-9]", "", session)[:12] or "anon"
    return f"webcam-{clean}"


@dataclass
class _Feed:
    seq: int
    last_s: float
    times: list[float] = field(default_factory=list)


class WebcamHub:
    """Publishes browser frames; thread-safe (Gradio calls it from worker threads)."""

    def __init__(
        self,
        client: redis.Redis,
        frame_ttl_s: int,
        maxlen: int,
        jpeg_quality: int = 85,
        idle_s: float = 15,
        max_frame_px: int = 4096 * 2160,
        limit: CameraLimit | None = None,
    ) -> None:
        """``max_frame_px``: a larger frame is refused; ``limit``: a new webcam camera must fit it."""
        self.redis = client
        self.frame_ttl_s = frame_ttl_s
        self.maxlen = maxlen
        self.jpeg_quality = jpeg_quality
        self.idle_s = idle_s
        self.max_frame_px = max_frame_px
        self.limit = limit
        self._feeds: dict[str, _Feed] = {}
        self._lock = threading.Lock()

    def publish_encoded(self, session: str, data: bytes) -> str:
        """Publish one encoded frame (JPEG or PNG, as a browser sends it) of ``session``'s webcam; its size
        is read from its header and checked before it is decoded. Returns the camera name.

        Raises :class:`FrameRefused` (413 over ``max_frame_px``, 415 not a JPEG or PNG, 422 unreadable)
        and :class:`CameraLimitReached` for a new camera past the limit.
        """
        check_frame(data, self.max_frame_px)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameRefused("frame refused: it could not be decoded", 422)
        return self._publish_bgr(session, bgr)

    def publish(self, session: str, frame_rgb: np.ndarray) -> str:
        """Publish one RGB frame of ``session``'s webcam; returns the camera name.

        Raises ``ValueError`` for a frame that is not an (h, w, 3) image (:class:`FrameRefused` past
        ``max_frame_px``) and :class:`CameraLimitReached` for a new camera past the limit.
        """
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] not in (3, 4) or frame_rgb.size == 0:
            raise ValueError(f"expected an (h, w, 3) RGB frame, got shape {frame_rgb.shape}")
        h, w = frame_rgb.shape[:2]
        if h * w > self.max_frame_px:
            raise FrameRefused(f"frame {w}x{h} is over the limit of {self.max_frame_px:,} pixels", 413)
        return self._publish_bgr(session, cv2.cvtColor(frame_rgb[:, :, :3], cv2.COLOR_RGB2BGR))

    def _publish_bgr(self, session: str, bgr: np.ndarray) -> str:
        cam = camera_for(session)
        h, w = bgr.shape[:2]
        if max(h, w) > MAX_SIDE_PX:
            scale = MAX_SIDE_PX / max(h, w)
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            h, w = bgr.shape[:2]
        now = time.monotonic()
        with self._lock:
            feed = self._feeds.get(cam)
            if feed is None or registry.get(self.redis, cam) is None:
                raw = self.redis.hget(keys.camera(cam), "next_seq")
                register = partial(registry.add, self.redis, cam, f"push:{cam}", mode="live", loop=False)
                if self.limit is None:
                    register()
                else:
                    self.limit.add(cam, register)
                feed = _Feed(seq=int(raw) if raw else 0, last_s=now)
                self._feeds[cam] = feed
                log.info("webcam started camera=%s size=%dx%d", cam, w, h)
            seq = feed.seq
            feed.seq += 1
            feed.last_s = now
            feed.times = [t for t in feed.times if now - t < 2.0] + [now]
            fps = round(len(feed.times) / 2.0, 2)
        pipe = self.redis.pipeline(transaction=True)
        queue_frame(
            pipe,
            cam,
            seq,
            time.time_ns() // 1_000_000,
            encode_jpeg(bgr, self.jpeg_quality),
            (w, h),
            "live",
            ttl_s=self.frame_ttl_s,
            maxlen=self.maxlen,
            status={"status": "running", "error": "", "frames": seq + 1, "fps": fps},
        )
        pipe.execute()
        return cam

    def stop(self, session: str) -> None:
        """Unregister ``session``'s camera (the browser left or stopped its webcam)."""
        cam = camera_for(session)
        with self._lock:
            known = self._feeds.pop(cam, None) is not None
        if known:
            registry.remove(self.redis, cam)
            log.info("webcam stopped camera=%s", cam)

    def sweep(self) -> list[str]:
        """Remove cameras idle for ``idle_s``; returns their names."""
        now = time.monotonic()
        with self._lock:
            idle = [cam for cam, feed in self._feeds.items() if now - feed.last_s > self.idle_s]
            for cam in idle:
                del self._feeds[cam]
        for cam in idle:
            registry.remove(self.redis, cam)
            log.info("webcam idle, removed camera=%s", cam)
        return idle

    def cameras(self) -> list[str]:
        with self._lock:
            return list(self._feeds)
