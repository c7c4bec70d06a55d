"""Video jobs through the REST API against a real Redis, the real ingest service and a fake model stage."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from services.ui.app import create_app
from services.ui.settings import UISettings
from tests.support.clips import frame_count
from tests.support.ui import FakePipeline, run_ingest
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

SINGLE_FACE_FRAMES = 72


def make_app(redis_client: redis.Redis, redis_url: str, tmp_path: Path, **settings: Any) -> TestClient:
    config = UISettings(redis_url=redis_url, data_dir=tmp_path / "ui", poll_hz=20, **settings)
    return TestClient(create_app(config, redis_client))


def mount_jobs_elsewhere(tmp_path: Path) -> Path:
    """Ingest's data directory as on another host: the UI's job storage (``ui/jobs``) mounted at another
    path (``ingest/jobs``, a link standing in for the shared volume), nothing else shared."""
    (tmp_path / "ui" / "jobs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "ingest").mkdir(exist_ok=True)
    (tmp_path / "ingest" / "jobs").symlink_to(tmp_path / "ui" / "jobs", target_is_directory=True)
    return tmp_path / "ingest"


@pytest.fixture()
def pipeline(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[FakePipeline]:
    """Ingest (real) with its own data directory, where the UI's job storage is mounted, + FakePipeline."""
    with (
        run_ingest(redis_url, file_high_water=1000, data_dir=mount_jobs_elsewhere(tmp_path)),
        FakePipeline(redis_client) as fake,
    ):
        yield fake


def test_a_job_fails_naming_the_fix_when_ingest_lacks_the_job_storage(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, sample_media: Path
) -> None:
    with (
        run_ingest(redis_url, data_dir=tmp_path / "elsewhere"),
        FakePipeline(redis_client),
        make_app(redis_client, redis_url, tmp_path) as api,
    ):
        resp = upload(api, sample_media / "single_face.mp4")
        assert resp.status_code == 202, resp.text
        body, _ = wait_job(api, resp.json()["id"])
    assert body["status"] == "failed"
    assert "mount the UI's job storage" in body["error"] and "EMOSTREAM_DATA_DIR" in body["error"]
    # the upload is still where the UI put it: nothing is lost, the job can be submitted again
    assert list((tmp_path / "ui" / "jobs").glob("*/input-single_face.mp4"))


def wait_job(api: TestClient, job_id: str, timeout_s: float = 60) -> tuple[dict[str, Any], list[float]]:
    """Poll the job until it finishes; returns its last state and every progress value seen."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout_s
    while True:
        body = api.get(f"/api/jobs/{job_id}").json()
        seen.append(body["progress"])
        if body["status"] in ("done", "failed"):
            return body, seen
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def upload(api: TestClient, path: Path, name: str | None = None) -> Any:
    with open(path, "rb") as fh:
        return api.post("/api/jobs", files={"file": (name or path.name, fh, "video/mp4")})


def ffmpeg_info(path: Path) -> str:
    import imageio_ffmpeg

    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True
    )
    return done.stderr.decode(errors="replace")


def count_frames(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "check.mp4"
    path.write_bytes(data)
    return frame_count(path)


def test_upload_runs_a_lossless_job_with_all_outputs(
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    sample_media: Path,
    pipeline: FakePipeline,
) -> None:
    with make_app(redis_client, redis_url, tmp_path) as api:
        resp = upload(api, sample_media / "single_face.mp4")
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["id"]
        body, progress = wait_job(api, job_id)

        assert body["status"] == "done", body
        assert body["progress"] == 1.0 and progress == sorted(progress)  # never goes back
        assert body["frames_total"] == SINGLE_FACE_FRAMES
        assert set(body["files"]) >= {"annotated.mp4", "tracks.csv", "summary.json", "timeline.png"}
        assert body["files"]["timeline.json"] == f"/api/jobs/{job_id}/files/timeline.json"

        video = api.get(body["files"]["annotated.mp4"])
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        (tmp_path / "a.mp4").write_bytes(video.content)
        assert "Video: h264" in ffmpeg_info(tmp_path / "a.mp4")
        assert count_frames(video.content, tmp_path) == SINGLE_FACE_FRAMES

        rows = list(csv.DictReader(io.StringIO(api.get(body["files"]["tracks.csv"]).text)))
        assert sorted(int(r["frame"]) for r in rows) == list(range(SINGLE_FACE_FRAMES))
        assert {r["label"] for r in rows} == {"happy"}
        timeline = api.get(body["files"]["timeline.json"]).json()
        assert [t["track_id"] for t in timeline] == [1]
        assert timeline[0]["segments"][-1]["end_seq"] == SINGLE_FACE_FRAMES - 1
        png = api.get(body["files"]["timeline.png"])
        assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        summary = api.get(body["files"]["summary.json"]).json()
        assert summary["status"] == "done" and summary["frames"] == SINGLE_FACE_FRAMES

        assert [j["id"] for j in api.get("/api/jobs").json()] == [job_id]
        assert api.get("/api/jobs/nope").status_code == 404
        assert api.get(f"/api/jobs/{job_id}/files/../../etc/passwd").status_code == 404
        bad = api.get(f"/api/jobs/{job_id}/files/secret.txt")
        assert bad.status_code == 404 and "tracks.csv" in bad.json()["detail"]
    assert redis_client.smembers("emo:cameras") == set()  # the job's camera is cleaned up


def test_oversized_upload_is_refused_with_the_limit(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, sample_media: Path
) -> None:
    size = (sample_media / "single_face.mp4").stat().st_size
    limit_mb = round(size / 2 / 1024 / 1024, 3)
    with make_app(redis_client, redis_url, tmp_path, max_upload_mb=limit_mb) as api:
        resp = upload(api, sample_media / "single_face.mp4")
        assert resp.status_code == 413
        assert "too large" in resp.json()["detail"] and f"{limit_mb:g} MB" in resp.json()["detail"]
        assert api.get("/api/jobs").json() == []
    assert not list((tmp_path / "ui" / "jobs").glob("*/input-*"))  # nothing left on disk


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.txt", b"hello, not a video", "is not a video"),
        (
            "random.mp4",
            bytes(np.random.default_rng(1).integers(0, 255, 40_000, dtype=np.uint8)),
            "not a readable",
        ),
        ("empty.mp4", b"", "is empty"),
    ],
)
def test_not_a_video_is_refused(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with make_app(redis_client, redis_url, tmp_path) as api:
        resp = upload(api, path)
        assert resp.status_code == 415, resp.text
        assert reason in resp.json()["detail"] and name in resp.json()["detail"]


def test_upload_without_a_file_field_is_a_clear_error(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    with make_app(redis_client, redis_url, tmp_path) as api:
        resp = api.post("/api/jobs", data={"video": "x"})
        assert resp.status_code == 422 and "'file'" in resp.json()["detail"]


def truncated_video(path: Path, frames: int = 60) -> None:
    """An MJPEG AVI cut in half: its header promises ``frames``, about half can be decoded."""
    full = path.with_suffix(".full.avi")
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter.fourcc(*"MJPG"), 20.0, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    writer.release()
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_video_that_fails_mid_way_fails_its_job_and_nothing_else(
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    sample_media: Path,
    pipeline: FakePipeline,
) -> None:
    bad = tmp_path / "cut.avi"
    truncated_video(bad)
    with make_app(redis_client, redis_url, tmp_path) as api:
        cam = api.post("/api/cameras", json={"name": "cam1", "uri": str(sample_media / "single_face.mp4")})
        assert cam.status_code == 201
        bad_id = upload(api, bad).json()["id"]
        good_id = upload(api, sample_media / "single_face.mp4").json()["id"]

        failed, _ = wait_job(api, bad_id)
        done, _ = wait_job(api, good_id)

        assert failed["status"] == "failed" and "truncated or corrupt" in failed["error"], failed
        assert failed["files"] == {}
        assert api.get(f"/api/jobs/{bad_id}/files/annotated.mp4").status_code == 404
        assert done["status"] == "done", done
        seq = api.get("/api/cameras").json()[0]["seq"] or 0
        later = wait_for(
            lambda: (c := api.get("/api/cameras").json()[0])["seq"] and c["seq"] > seq and c,
            what="the live camera to go on",
        )
        assert later["name"] == "cam1" and later["status"] == "running"  # type: ignore[index]
    summary = json.loads((tmp_path / "ui" / "jobs" / bad_id / "summary.json").read_text())
    assert summary["status"] == "failed"
