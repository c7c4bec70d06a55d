"""The ingest service: one :class:`CameraReader` thread per registered camera, in step with the registry."""

from __future__ import annotations

import logging
import threading

import redis

from services.common import registry
from services.common.lifecycle import Service, run_service
from services.common.registry import Camera
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


class Ingest(Service):
    """The ingest service's hooks: keep one :class:`CameraReader` thread per camera of the registry."""

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
            if current is None or (current.uri, current.mode, current.sealed_password) != (
                reader.camera.uri,
                reader.camera.mode,
                reader.camera.sealed_password,
            ):
                reader.stop.set()
                thread.join(5)
                del self.readers[cam_id]
                log.info("camera stopped camera=%s", cam_id)
        cap = self.settings.ingest_max_readers
        for cam_id, cam in sorted(wanted.items()):
            if cam_id in self.readers and not self.readers[cam_id][1].is_alive() and cam.mode == "live":
                del self.readers[cam_id]  # a live reader that gave up (internal error): start it again
            if cam_id in self.readers or cam.status in ("done", "failed"):
                continue
            if cap and len(self.readers) >= cap:
                self.wait_for_a_reader(cam, cap)
                continue
            reader = CameraReader(self.redis, self.settings, cam)
            thread = threading.Thread(target=reader.run, name=f"camera-{cam_id}", daemon=True)
            thread.start()
            self.readers[cam_id] = (reader, thread)
            log.info("camera started camera=%s mode=%s uri=%s", cam_id, cam.mode, cam.uri)

    def wait_for_a_reader(self, cam: Camera, cap: int) -> None:
        """Mark a camera past ``EMOSTREAM_INGEST_MAX_READERS``: it starts when a reader is free."""
        error = (
            f"waiting: this ingest reads {cap} cameras already (EMOSTREAM_INGEST_MAX_READERS); "
            "it starts when one is removed"
        )
        if (cam.status, cam.error) != ("error", error):
            registry.set_status(self.redis, cam.camera_id, status="error", error=error)
            log.warning("camera waits for a reader camera=%s max_readers=%d", cam.camera_id, cap)

    def register_sources(self) -> None:
        """Register the cameras named in ``EMOSTREAM_SOURCES`` (a video file loops like a camera)."""
        for item in filter(None, (part.strip() for part in self.settings.sources.split(","))):
            name, _, uri = item.partition("=")
            if registry.get(self.redis, name) is None:
                registry.add(
                    self.redis, name, uri, mode="live", loop=source_loops(uri), sealer=self.settings.sealer()
                )

    # -- the lifecycle hooks (services.common.lifecycle) ----------------------------------------------
    def run(self) -> None:
        run_service("ingest", self, self.settings, self.redis, self.stop)

    def setup(self) -> None:
        self.register_sources()

    def step(self) -> bool:
        self.sync()
        self.stop.wait(1.0)
        return True

    def stats(self) -> dict[str, int | float | str]:
        return {"cameras": len(self.readers), "frames": sum(r.published for r, _ in self.readers.values())}

    def teardown(self) -> None:
        for reader, _ in self.readers.values():
            reader.stop.set()
        for _, thread in self.readers.values():
            thread.join(5)
