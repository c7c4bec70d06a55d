"""Ingest leaves ``push:`` cameras (the UI's webcam) alone while it runs the others."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from services.common import registry
from services.ingest.service import Ingest
from services.ingest.settings import IngestSettings

pytestmark = pytest.mark.integration


def test_ingest_starts_no_reader_for_a_push_camera(
    redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    registry.add(redis_client, "webcam-1", "push:webcam-1", mode="live")
    registry.add(redis_client, "cam1", str(sample_media / "single_face.mp4"), mode="live", loop=True)
    ingest = Ingest(IngestSettings(redis_url=redis_url, instance="test-ingest"), client=redis_client)
    try:
        ingest.sync()
        assert set(ingest.readers) == {"cam1"}
        time.sleep(0.5)
        ingest.sync()
        assert set(ingest.readers) == {"cam1"}
        pushed = registry.get(redis_client, "webcam-1")
        assert pushed is not None and pushed.status == "new" and pushed.error == ""
    finally:
        for reader, thread in ingest.readers.values():
            reader.stop.set()
            thread.join(5)
