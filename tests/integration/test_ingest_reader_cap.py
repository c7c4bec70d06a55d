"""EMOSTREAM_INGEST_MAX_READERS bounds ingest's threads: cameras past it wait, with a reason, and start when a
reader is free; the cameras already reading never stop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from services.common import keys, registry
from tests.support.cameras import cameras, frames_flow, settle
from tests.support.ui import run_ingest
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

CAP = 3


def camera_threads() -> int:
    return sum(t.name.startswith("camera-") for t in threading.enumerate())


def test_cameras_past_the_cap_wait_and_start_when_one_is_removed(
    redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    video = str(sample_media / "single_face.mp4")
    names = [f"cam{i}" for i in range(CAP + 2)]
    for name in names:
        registry.add(redis_client, name, video, mode="live", loop=True)
    with run_ingest(redis_url, ingest_max_readers=CAP, live_fps_cap=10):
        cams = settle(redis_client, lambda c: sum(x.status == "running" for x in c.values()) == CAP)
        waiting = [n for n, c in cams.items() if c.status == "error"]
        report = {n: (c.status, c.error[:60]) for n, c in cams.items()}
        assert sum(c.status == "running" for c in cams.values()) == CAP, report
        assert sorted(waiting) == names[CAP:], report
        assert all("EMOSTREAM_INGEST_MAX_READERS" in cams[n].error for n in waiting), report
        assert camera_threads() == CAP
        assert all(frames_flow(redis_client, n, 1.0) for n in names[:CAP]), "a running camera stopped"
        assert all(redis_client.xlen(keys.stream("frames", n)) == 0 for n in waiting)

        registry.remove(redis_client, names[0])
        wait_for(
            lambda: cameras(redis_client)[names[CAP]].status == "running", 15, "a waiting camera's start"
        )
        assert camera_threads() == CAP
        assert frames_flow(redis_client, names[CAP], 1.0)
