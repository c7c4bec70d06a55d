"""Timelines, pipeline health and metrics, basic auth, webcam publishing and camera error states."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from services.common import codec, health, keys, registry
from services.common.image import decode_jpeg
from services.common.schema import Frame
from services.ui.app import create_app
from services.ui.pipeline import panel_html
from services.ui.settings import UISettings
from services.ui.stage import grid_html
from services.ui.webcam import WebcamHub, camera_for
from tests.support.ui import FakePipeline, run_ingest
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


def make_app(redis_client: redis.Redis, redis_url: str, tmp_path: Path, **settings: Any) -> TestClient:
    config = UISettings(
        redis_url=redis_url, data_dir=tmp_path / "ui", poll_hz=20, pipeline_interval_s=0.2, **settings
    )
    return TestClient(create_app(config, redis_client))


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_camera_timeline(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    with make_app(redis_client, redis_url, tmp_path) as api:
        assert "no camera named" in api.get("/api/cameras/ghost/timeline").json()["detail"]
        registry.add(redis_client, "cam1", "/v.mp4", loop=True)
        resp = api.get("/api/cameras/cam1/timeline")
        assert resp.status_code == 200 and resp.json() == {"camera_id": "cam1", "version": 1, "tracks": []}
        doc = {"camera_id": "cam1", "tracks": {"3": [{"label": "happy", "start_seq": 0, "end_seq": 9}]}}
        redis_client.set(keys.timeline("cam1"), json.dumps(doc))
        resp = api.get("/api/cameras/cam1/timeline")
        assert resp.status_code == 200 and resp.json() == doc
        redis_client.set(keys.timeline("cam1"), b"{not json")
        assert api.get("/api/cameras/cam1/timeline").status_code == 502


def test_metrics_and_health_panel_report_the_pipeline(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    registry.add(redis_client, "cam1", "/v.mp4", loop=True)
    health.beat(redis_client, "detector", "box-1", 30, {"cameras": 1, "processed": 41, "dropped": 3})
    frames = keys.stream("frames", "cam1")
    redis_client.xgroup_create(frames, "detector", id="0", mkstream=True)
    captured = time.time_ns() // 1_000_000 - 250
    for seq in range(5):
        ref = Frame(camera_id="cam1", seq=seq, captured_ms=captured, frame_key=f"k{seq}", size_wh=(4, 4))
        redis_client.xadd(frames, codec.encode(ref))  # type: ignore[arg-type]
    redis_client.xreadgroup("detector", "c1", {frames: ">"}, count=2)  # 2 pending, 3 not delivered

    with make_app(redis_client, redis_url, tmp_path) as api:
        app_state = api.app.state.live  # type: ignore[attr-defined]
        wait_for(lambda: app_state.pipeline.lag.get("cam1"), what="a pipeline snapshot")
        text = api.get("/metrics").text
        panel = panel_html(app_state.pipeline)

    assert metric(text, "emostream_service_up", service="detector", instance="box-1") == 1
    assert metric(text, "emostream_service_stat", service="detector", stat="dropped") == 3
    assert metric(text, "emostream_service_stat", service="detector", stat="processed") == 41
    assert metric(text, "emostream_group_lag", camera="cam1", group="detector") == 5
    latency = metric(text, "emostream_pipeline_latency_ms", camera="cam1", stage="frames")
    assert latency is not None and 200 <= latency < 5000
    assert "emostream_ui_frames_drawn_total" in text  # the UI's own metrics are there too
    assert 'data-service="detector"' in panel and "<td>41</td>" in panel and "<td>3</td>" in panel
    assert 'data-camera="cam1"' in panel and "<td>5</td>" in panel


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_password_protects_everything_but_healthz(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    with make_app(redis_client, redis_url, tmp_path, ui_password="s3cret") as api:
        for path in ("/", "/api/cameras", "/metrics", "/config", "/api/jobs", "/video/cam1.mjpg"):
            resp = api.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["www-authenticate"].startswith("Basic")
        assert api.get("/api/cameras", headers=basic("emostream", "wrong")).status_code == 401
        assert api.get("/api/cameras", headers=basic("admin", "s3cret")).status_code == 401
        assert api.get("/api/cameras", headers={"Authorization": "Basic !!!"}).status_code == 401
        assert api.get("/api/cameras", headers=basic("emostream", "s3cret")).status_code == 200
        assert api.get("/", headers=basic("emostream", "s3cret")).status_code == 200
        assert api.get("/healthz").status_code == 200


def test_no_password_means_no_login(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    with make_app(redis_client, redis_url, tmp_path) as api:
        assert api.get("/api/cameras").status_code == 200


def test_webcam_frames_go_into_the_pipeline_as_a_push_camera(
    redis_client: redis.Redis, redis_url: str
) -> None:
    hub = WebcamHub(redis_client, frame_ttl_s=30, maxlen=100, idle_s=0.3)
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :, 0] = 220  # red in RGB
    cam = hub.publish("Session-hash_42!", rgb)
    hub.publish("Session-hash_42!", rgb)

    assert cam == camera_for("Session-hash_42!") == "webcam-Sessionhash4"
    camera = registry.get(redis_client, cam)
    assert camera is not None and camera.uri == f"push:{cam}" and camera.mode == "live"
    assert camera.status == "running" and camera.frames == 2
    refs = [codec.decode(f) for _, f in redis_client.xrange(keys.stream("frames", cam))]
    assert [r.seq for r in refs] == [0, 1] and all(r.size_wh == (640, 480) for r in refs)
    bgr = decode_jpeg(redis_client.get(refs[0].frame_key))  # type: ignore[arg-type]
    assert bgr.shape == (480, 640, 3) and bgr[240, 320, 2] > 200 and bgr[240, 320, 0] < 40  # RGB -> BGR
    assert 0 < redis_client.ttl(refs[0].frame_key) <= 30

    with pytest.raises(ValueError, match="RGB frame"):
        hub.publish("s", np.zeros((10, 10), np.uint8))
    time.sleep(0.4)
    assert hub.sweep() == [cam]
    assert registry.get(redis_client, cam) is None
    hub.publish("Session-hash_42!", rgb)  # a returning browser gets a fresh camera (streams were dropped)
    refs = [codec.decode(f) for _, f in redis_client.xrange(keys.stream("frames", cam))]
    assert [r.seq for r in refs] == [0]
    hub.stop("Session-hash_42!")
    assert registry.get(redis_client, cam) is None


def test_unreachable_camera_shows_an_error_and_is_retried(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    with run_ingest(redis_url), make_app(redis_client, redis_url, tmp_path) as api:
        resp = api.post("/api/cameras", json={"name": "door", "uri": "rtsp://127.0.0.1:1/none"})
        assert resp.status_code == 201
        cam = wait_for(
            lambda: next((c for c in api.get("/api/cameras").json() if c["status"] == "error"), None),
            timeout_s=30,
            what="the error state",
        )
        assert cam["name"] == "door" and "rtsp://127.0.0.1:1/none" in cam["error"]  # type: ignore[index]
        retry = redis_client.hget(keys.camera("door"), "retry_in_s")
        assert retry is not None and float(retry) >= 1
        views = api.app.state.live  # type: ignore[attr-defined]
        wait_for(lambda: views.get("door") and views.get("door").camera.status == "error", what="view")
        assert "emo-status-error" in grid_html([views.get("door").camera])
        assert api.get("/healthz").json()["status"] == "ok"  # nothing else is affected


@pytest.mark.parametrize("name", ["bad name", "x" * 65, "../etc", "-lead"])
def test_bad_camera_names(redis_client: redis.Redis, redis_url: str, tmp_path: Path, name: str) -> None:
    with make_app(redis_client, redis_url, tmp_path) as api:
        resp = api.post("/api/cameras", json={"name": name, "uri": "/v.mp4"})
        assert resp.status_code == 422 and "must be 1-64" in str(resp.json()["detail"]), "the rule, named"
        assert api.get(f"/video/{name}.mjpg").status_code == 404
        assert api.delete(f"/api/cameras/{name}").status_code in (404, 405)


def test_webcam_result_is_drawn_by_the_shared_reader(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    with make_app(redis_client, redis_url, tmp_path) as api, FakePipeline(redis_client):
        hub = api.app.state.webcam  # type: ignore[attr-defined]
        cam = hub.publish("abc", np.full((480, 640, 3), 100, np.uint8))
        view = wait_for(lambda: (v := api.app.state.live.get(cam)) and v.tracks and v)  # type: ignore[attr-defined]
        assert view.drawn_latency_ms is not None and 0 <= view.drawn_latency_ms < 5000  # type: ignore[attr-defined]
        snap = api.get(f"/snapshot/{cam}.jpg")
        assert snap.status_code == 200 and decode_jpeg(snap.content).shape == (480, 640, 3)
