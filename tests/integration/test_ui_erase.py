"""The dashboard's erase routes against a real Redis: what they answer for unknown, running and
malformed targets, and that a plain DELETE of a job removes its record and files but leaves the purge
to ``?purge=true`` (tests/e2e/test_purge.py checks the disk)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.common import keys, registry
from services.common.job_store import JobRecord, JobStore
from services.ui.app import create_app
from services.ui.settings import UISettings

pytestmark = pytest.mark.integration


@pytest.fixture()
def api(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = UISettings(redis_url=redis_url, data_dir=tmp_path)
    with TestClient(create_app(settings, redis_client)) as client:
        yield client


def a_job(redis_client: redis.Redis, tmp_path: Path, job_id: str, status: str) -> JobRecord:
    out = tmp_path / "jobs" / job_id
    out.mkdir(parents=True)
    (out / "annotated.mp4").write_bytes(b"video")
    job = JobRecord(job_id, "v.mp4", str(out / "input-v.mp4"), str(out), status=status)
    JobStore(redis_client).save(job)
    return job


def test_unknown_running_and_finished_jobs(
    api: TestClient, redis_client: redis.Redis, tmp_path: Path
) -> None:
    assert api.delete("/api/jobs/nope").status_code == 404
    a_job(redis_client, tmp_path, "busy", "running")
    redis_client.set(keys.job_owner("busy"), "another-ui", px=60_000)
    refused = api.delete("/api/jobs/busy?purge=true")
    assert refused.status_code == 409 and "running" in refused.json()["detail"]
    assert (tmp_path / "jobs" / "busy" / "annotated.mp4").is_file(), "a refused erase deletes nothing"

    a_job(redis_client, tmp_path, "old", "done")
    redis_client.zadd(keys.history("job-old"), {"{}": 1})
    assert api.delete("/api/jobs/old").status_code == 204
    assert not (tmp_path / "jobs" / "old").exists() and api.get("/api/jobs/old").status_code == 404
    assert redis_client.exists(keys.history("job-old")), "without purge=true only the record and files go"


def test_purging_a_camera_removed_before_erases_what_it_left(
    api: TestClient, redis_client: redis.Redis
) -> None:
    registry.add(redis_client, "hall", "rtsp://example.invalid/hall")
    redis_client.zadd(keys.history("hall"), {"{}": 1})
    assert api.delete("/api/cameras/hall").status_code == 204
    assert redis_client.exists(keys.history("hall")), "a plain removal keeps the history"
    assert api.delete("/api/cameras/hall").status_code == 404
    assert api.delete("/api/cameras/hall?purge=true").status_code == 204
    assert not redis_client.exists(keys.history("hall"))
    bad = api.delete("/api/cameras/a%20b?purge=true")
    assert bad.status_code == 404 and "camera name" in bad.json()["detail"]
