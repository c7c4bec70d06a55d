"""The ingest service: one :class:`CameraReader` thread per registered camera, in step with the registry."""

from __future__ import annotations

import contextlib
import logging
import threading

import redis

from services.common import health, registry, watchdog
from services.common.sources import SourceError, parse_uri, source_loops
from services.common.worker import redis_client
from services.ingest.camera import CameraReader
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


def is_pushed(uri: str) -> bool:
    """A ``push:`` camera gets its frames from another process (the UI's webcam): ingest never opens it."""
    try:
        return parse_uri(uri).kind == "push"
    except SourceError:
        return False


class Ingest:
    def __init__(
        self, settings: IngestSettings, client: redis.Redis | None = None, stop: threading.Event | None = None
    ) -> None:
        self.settings = settings
        self.redis = client or redis_client(settings)
        self.stop = stop or threading.Event()
        self.readers: dict[str, tuple[CameraReader, threading.Thread]] = {}

    def sync(self) -> None:
        """Start a reader for each new camera, stop readers of removed or re-registered cameras."""
        wanted = {c.camera_id: c for c in registry.all_cameras(self.redis) if not is_pushed(c.uri)}
        for cam_id, (reader, thread) in list(self.readers.items()):
            current = wanted.get(cam_id)
            if current is None or (current.uri, current.mode) != (reader.camera.uri, reader.camera.mode):
                reader.stop.set()
                thread.join(5)
                del self.readers[cam_id]
                log.info("camera stopped camera=%s", cam_id)
        for cam_id, cam in wanted.items():
            if cam_id in self.readers and not self.readers[cam_id][1].is_alive() and cam.mode == "live":
                del self.readers[cam_id]  # a live reader that gave up (internal error): start it again
            if cam_id in self.readers or cam.status in ("done", "failed"):
                continue
            reader = CameraReader(self.redis, self.settings, cam)
            thread = threading.Thread(target=reader.run, name=f"camera-{cam_id}", daemon=True)
            thread.start()
            self.readers[cam_id] = (reader, thread)
            log.info("camera started camera=%s mode=%s uri=%s", cam_id, cam.mode, cam.uri)

    def register_sources(self) -> None:
        """Register the cameras named in ``EMOSTREAM_SOURCES`` (a video file loops like a camera)."""
        for item in filter(None, (part.strip() for part in self.settings.sources.split(","))):
            name, _, uri = item.partition("=")
            if registry.get(self.redis, name) is None:
                registry.add(self.redis, name, uri, mode="live", loop=source_loops(uri))

    def run(self) -> None:
        backoff = 0.5
        registered = False
        while not self.stop.is_set():
            watchdog.pet()
            try:
                if not registered:
                    self.register_sources()
                    registered = True
                self.sync()
                health.beat(
                    self.redis,
                    "ingest",
                    self.settings.instance,
                    self.settings.health_ttl_s,
                    {
                        "cameras": len(self.readers),
                        "frames": sum(r.published for r, _ in self.readers.values()),
                    },
                )
                backoff = 0.5
                self.stop.wait(1.0)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("redis unavailable error=%r retry_in_s=%.1f", str(exc), backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        for reader, _ in self.readers.values():
            reader.stop.set()
        for _, thread in self.readers.values():
            thread.join(5)
        with contextlib.suppress(redis.RedisError):
            health.clear(self.redis, "ingest", self.settings.instance)
