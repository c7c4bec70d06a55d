"""Erasure end to end: the whole stack as ``up`` runs it (embedded Redis with its AOF on disk, every
service as its own ACL user), a live camera and a video job erased through the dashboard, another camera
through ``emostream purge`` once the stack is down. Afterwards nothing of them is in the data directory
(grepped byte for byte, the AOF included) or in a Redis restarted from it, while what was not erased
stays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from services.cli.embedded_redis import EmbeddedRedis
from services.cli.stack import PIPELINE, Stack, stack
from services.common import codec, keys, registry
from tests.support.privacy_doc import data_dir_patterns, unlisted
from tests.support.wait import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def on_disk(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` that holds ``needle``."""
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def events_of(client: redis.Redis, camera: str) -> int:
    return sum(1 for _, f in client.xrange(keys.EVENTS) if codec.decode(f).camera_id == camera)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture()
def running(data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, str]]:
    port = free_port()
    monkeypatch.delenv("EMOSTREAM_REDIS_URL", raising=False)
    env = {"EMOSTREAM_DATA_DIR": str(data), "EMOSTREAM_PORT": str(port), "EMOSTREAM_HOST": "127.0.0.1"}
    with stack((*PIPELINE, "events", "ui"), env=env, redis_url="", data_dir=data / "redis") as up:
        up.wait_healthy(180)
        yield up, f"http://127.0.0.1:{port}"


def test_purge_leaves_nothing_of_a_camera_or_a_job_on_disk(
    running: tuple[Stack, str], data: Path, sample_media: Path
) -> None:
    up, base = running
    admin = redis.Redis.from_url(up.redis_url)
    # two videos: the same one's frames would be the same bytes in both cameras
    for name, video in (("lobby", "single_face.mp4"), ("garden", "WolfgangLanger_Pexels.mp4")):
        registry.add(admin, name, str(sample_media / video), mode="live", loop=True)
    # the pipeline leaves its traces: frames, tracks, a timeline, history buckets, events
    wait_for(lambda: admin.exists(keys.history("lobby")) and events_of(admin, "lobby") > 0, 120, "history")
    wait_for(lambda: admin.exists(keys.history("garden")), 60, "garden's history")
    frame_key = wait_for(lambda: next(admin.scan_iter(match=keys.frame("lobby", "*")), None), 10, "a frame")
    jpeg = admin.get(frame_key)
    assert isinstance(jpeg, bytes)
    chunk = jpeg[len(jpeg) // 2 : len(jpeg) // 2 + 64]  # a known frame's bytes
    time.sleep(1.5)  # appendfsync everysec
    assert on_disk(data, chunk), "the frame is in the AOF before the purge (else this test proves nothing)"
    assert on_disk(data, b"lobby")

    with httpx.Client(base_url=base, timeout=120) as api:
        with open(sample_media / "single_face.mp4", "rb") as fh:
            job = api.post("/api/jobs", files={"file": ("visit.mp4", fh, "video/mp4")}).json()
        job_id = job["id"]
        wait_for(lambda: api.get(f"/api/jobs/{job_id}").json()["status"] == "done", 180, "the job")
        assert (data / "jobs" / job_id).is_dir()
        # every file of a real data directory is one docs/privacy.md lists (what it holds, how long)
        assert unlisted(data, data_dir_patterns()) == []
        assert api.delete(f"/api/jobs/{job_id}?purge=true").status_code == 204
        assert api.get(f"/api/jobs/{job_id}").status_code == 404

        assert api.delete("/api/cameras/lobby?purge=true").status_code == 204
        assert [c["name"] for c in api.get("/api/cameras").json()] == ["garden"]
        assert api.get("/api/cameras/lobby/history").status_code == 404

    assert not (data / "jobs" / job_id).exists()

    assert on_disk(data, b"lobby") == [] and on_disk(data, chunk) == []
    assert on_disk(data, job_id.encode()) == []
    assert events_of(admin, "lobby") == 0 and events_of(admin, "garden") > 0, "only the purged camera's"
    assert on_disk(data, b"garden"), "what was not erased stays"
    admin.close()


def test_emostream_purge_erases_a_camera_from_a_stopped_stack(
    data: Path, sample_media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMOSTREAM_REDIS_URL", raising=False)
    with EmbeddedRedis(data_dir=data / "redis") as server:  # what a stopped `up` left in its data dir
        client = redis.Redis.from_url(server.url)
        registry.add(client, "porch", str(sample_media / "single_face.mp4"))
        client.set(keys.frame("porch", 7), b"\xff\xd8 porch frame bytes \xff\xd9")
        client.zadd(keys.history("porch"), {'{"t": 0, "counts": {"happy": 1}}': 0})
        registry.add(client, "attic", str(sample_media / "single_face.mp4"))
        client.close()
    assert on_disk(data, b"porch frame bytes")

    env = {**os.environ, "EMOSTREAM_DATA_DIR": str(data)}
    cmd = [sys.executable, "-m", "services.cli", "purge", "--camera", "porch"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "camera porch: deleted" in done.stdout and "aof" in done.stdout
    assert on_disk(data, b"porch") == []

    with EmbeddedRedis(data_dir=data / "redis") as server:  # restarted from what is on disk
        client = redis.Redis.from_url(server.url)
        assert [k for k in client.scan_iter() if b"porch" in k] == []
        assert client.smembers(keys.CAMERAS) == {b"attic"}
        client.close()
        # while a stack holds the data dir, the CLI says to erase through the dashboard
        busy = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert busy.returncode == 1 and "DELETE /api/cameras/NAME?purge=true" in busy.stderr

    bad = subprocess.run([*cmd[:-1], "../etc"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "camera name" in bad.stderr
