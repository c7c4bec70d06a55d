"""The ui service against a real Redis: REST API, snapshots with boxes drawn, the Gradio page."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from services.common import codec, keys, registry
from services.common.annotate import COLOURS_BGR
from services.common.image import decode_jpeg, encode_jpeg
from services.common.schema import Event, Skip, Track, Tracks
from services.ui.app import create_app
from services.ui.settings import UISettings
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

BOX = (100.0, 120.0, 300.0, 360.0)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def publish(
    client: redis.Redis, cam: str, seq: int, probs: dict[str, float], box: tuple[float, ...] = BOX
) -> Tracks:
    """Write a grey 640x480 frame at ``frame:{cam}:{seq}`` and a Tracks message for it."""
    img = np.full((480, 640, 3), 128, np.uint8)
    client.set(keys.frame(cam, seq), encode_jpeg(img, 95), ex=60)
    label = max(probs, key=probs.__getitem__)
    track = Track(
        track_id=1,
        box_xyxy=box,  # type: ignore[arg-type]
        label=label,
        confidence=probs[label],
        raw_label=label,
        probs=probs,
    )
    msg = Tracks(
        camera_id=cam,
        seq=seq,
        captured_ms=now_ms() - 40,
        frame_key=keys.frame(cam, seq),
        size_wh=(640, 480),
        tracks=(track,),
    )
    client.xadd(keys.stream("tracks", cam), codec.encode(msg))  # type: ignore[arg-type]
    return msg


@pytest.fixture()
def api(redis_client: redis.Redis, redis_url: str) -> Iterator[TestClient]:
    settings = UISettings(redis_url=redis_url, poll_hz=30)
    with TestClient(create_app(settings, redis_client)) as client:
        yield client


def test_cameras_lists_latest_tracks_and_latency(api: TestClient, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "cam1", "/videos/a.mp4", loop=True)
    publish(redis_client, "cam1", 0, {"happy": 0.8, "neutral": 0.2})
    skip = Skip(camera_id="cam1", seq=1, captured_ms=now_ms(), stage="detector", reason="old")
    redis_client.xadd(keys.stream("tracks", "cam1"), codec.encode(skip))  # type: ignore[arg-type]
    # GET /api/cameras answers from the shared reader: let it poll once after these writes
    assert api.app.state.live.refresh()  # type: ignore[attr-defined]

    body = api.get("/api/cameras").json()

    assert [c["name"] for c in body] == ["cam1"]
    cam = body[0]
    assert cam["uri"] == "/videos/a.mp4" and cam["mode"] == "live" and cam["status"] == "new"
    assert cam["seq"] == 0  # the Skip marker after it is ignored
    assert cam["tracks"] == [
        {
            "track_id": 1,
            "box_xyxy": list(BOX),
            "label": "happy",
            "confidence": 0.8,
            "raw_label": "happy",
            "probs": {"happy": 0.8, "neutral": 0.2},
        }
    ]
    assert 40 <= cam["latency_ms"] < 5000


def test_snapshot_draws_the_box_in_the_emotion_colour(api: TestClient, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "cam1", "rtsp://example.invalid/stream")
    assert api.get("/snapshot/cam1.jpg").status_code == 404  # nothing drawn yet
    publish(redis_client, "cam1", 0, {"sad": 0.9, "happy": 0.1})

    resp = wait_for(lambda: (r := api.get("/snapshot/cam1.jpg")).status_code == 200 and r, 5, "a snapshot")

    assert resp and resp.headers["content-type"] == "image/jpeg"
    img = decode_jpeg(resp.content)
    assert img.shape == (480, 640, 3)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    edge = img[(y1 + y2) // 2, x1].astype(int)  # middle of the left edge, away from the label
    inside = img[(y1 + y2) // 2, (x1 + x2) // 2].astype(int)
    assert np.abs(edge - np.array(COLOURS_BGR["sad"])).max() < 40, edge
    assert np.abs(inside - 128).max() < 10, inside


def test_snapshot_keeps_last_frame_when_frame_key_expired(api: TestClient, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "cam1", "0")
    publish(redis_client, "cam1", 0, {"angry": 1.0})
    first = wait_for(
        lambda: (r := api.get("/snapshot/cam1.jpg")).status_code == 200 and r.content, 5, "a snapshot"
    )
    msg = publish(redis_client, "cam1", 1, {"fear": 1.0})
    redis_client.delete(msg.frame_key)

    live = api.app.state.live  # type: ignore[attr-defined]
    # the reader itself has taken seq 1
    wait_for(lambda: (v := live.get("cam1")) and v.tracks and v.tracks.seq == 1, 5, "the reader at seq 1")

    assert api.get("/snapshot/cam1.jpg").content == first


def test_add_and_remove_cameras(api: TestClient, redis_client: redis.Redis) -> None:
    resp = api.post("/api/cameras", json={"name": "door-1", "uri": "/data/door.mp4"})
    assert resp.status_code == 201, resp.text
    cam = registry.get(redis_client, "door-1")
    assert cam is not None and cam.mode == "live" and cam.loop is True
    resp = api.post("/api/cameras", json={"name": "lobby", "uri": "rtsp://10.0.0.5/live"})
    assert resp.status_code == 201 and registry.get(redis_client, "lobby").loop is False  # type: ignore[union-attr]

    assert api.post("/api/cameras", json={"name": "door-1", "uri": "/x.mp4"}).status_code == 409
    bad = api.post("/api/cameras", json={"name": "bad name!", "uri": "/x.mp4"})
    assert bad.status_code == 422 and "must be 1-64 of letters" in str(bad.json()["detail"])
    empty = api.post("/api/cameras", json={"name": "ok", "uri": "  "})
    assert empty.status_code == 422 and "uri must not be empty" in str(empty.json()["detail"])

    assert api.delete("/api/cameras/door-1").status_code == 204
    assert registry.get(redis_client, "door-1") is None
    missing = api.delete("/api/cameras/door-1")
    assert missing.status_code == 404 and "door-1" in missing.json()["detail"]


def test_healthz_and_metrics(api: TestClient) -> None:
    resp = api.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok" and resp.json()["redis"] is True
    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and "emostream_ui_frames_drawn_total" in metrics.text


def test_healthz_is_503_without_redis(redis_url: str) -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    with TestClient(create_app(UISettings(redis_url="redis://127.0.0.1:1/0"), dead)) as client:
        resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.json()["redis"] is False


def test_mjpeg_stream_sends_jpeg_parts(api: TestClient, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "cam1", "0")
    publish(redis_client, "cam1", 0, {"happy": 1.0})
    wait_for(lambda: api.get("/snapshot/cam1.jpg").status_code == 200, 5, "a snapshot")
    assert api.get("/video/nope.mjpg").status_code == 404

    with api.stream("GET", "/video/cam1.mjpg") as resp:
        assert resp.headers["content-type"].startswith("multipart/x-mixed-replace")
        data = b""
        for chunk in resp.iter_bytes():
            data += chunk
            if data.count(b"\xff\xd9") >= 1:
                break
    start = data.index(b"\xff\xd8")
    assert decode_jpeg(data[start : data.index(b"\xff\xd9") + 2]).shape == (480, 640, 3)


LOCAL = re.compile(r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|testserver)(?::\d+)?(?:/|\b)")


def test_gradio_page_is_served_without_external_urls(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    config = api.get("/config")
    assert config.status_code == 200
    # Gradio's index.html carries og:/twitter: <meta> tags naming gradio.app: metadata for link previews that
    # a browser never fetches (the e2e test checks no request leaves the host); everything else must be local.
    html = re.sub(r"<meta\b[^>]*>", "", page.text)
    for text in (html, config.text):
        urls = re.findall(r"https?://[^\s\"'<>)]+", text)
        external = [u for u in urls if not LOCAL.match(u) and "www.w3.org" not in u]
        assert not external, external
    assert "emo-faces" in config.text and "watch(" in config.text
    # the footer links the two documents the ui serves (docs/privacy.md, docs/responsible-use.md)
    for doc in ("privacy.md", "responsible-use.md"):
        assert f"/docs/{doc}" in config.text and api.get(f"/docs/{doc}").status_code == 200


def test_camera_list_is_the_shared_readers_and_sees_rest_writes_at_once(
    api: TestClient, redis_client: redis.Redis
) -> None:
    live = api.app.state.live  # type: ignore[attr-defined]
    assert api.post("/api/cameras", json={"name": "a", "uri": "/data/a.mp4"}).status_code == 201
    assert [c["name"] for c in api.get("/api/cameras").json()] == ["a"], "a POST shows in the next GET"
    assert [v.camera.camera_id for v in live.views()] == ["a"]
    calls: list[str] = []
    real = redis_client.execute_command

    def counted(*args: object, **kwargs: object) -> object:
        if threading.current_thread().name != "ui-reader":  # the reader's own polls go on meanwhile
            calls.append(str(args[0]))
        return real(*args, **kwargs)

    redis_client.execute_command = counted  # type: ignore[method-assign]
    try:
        for _ in range(20):
            assert api.get("/api/cameras").status_code == 200
    finally:
        redis_client.execute_command = real  # type: ignore[method-assign]
    assert calls == [], f"GET /api/cameras reads Redis per request: {calls[:5]}"
    assert api.delete("/api/cameras/a").status_code == 204
    assert api.get("/api/cameras").json() == [], "a DELETE shows in the next GET"


def _event(camera: str, track: int, kind: str, n: int = 1) -> Event:
    return Event(
        camera_id=camera,
        seq=n,
        captured_ms=now_ms(),
        event_id=f"{camera}:{track}:{kind}:{n}",
        kind=kind,  # type: ignore[arg-type]
        track_id=track,
        label="angry",
        confidence=0.7,
        previous="neutral" if kind == "label_changed" else "",
        dwell_s=2.5,
    )


def test_events_are_listed_newest_first_by_camera(api: TestClient, redis_client: redis.Redis) -> None:
    assert api.get("/api/events").json() == []
    for e in [
        _event("cam1", 1, "track_started"),
        _event("cam2", 4, "track_started"),
        _event("cam1", 1, "label_changed"),
    ]:
        redis_client.xadd(keys.EVENTS, codec.encode(e))  # type: ignore[arg-type]
    redis_client.xadd(keys.EVENTS, {"type": "event", "v": "1", "body": b"\xc1"})  # malformed: skipped
    time.sleep(1.1)  # the log is read at most once a second for everyone
    all_ = api.get("/api/events").json()
    assert [e["event_id"] for e in all_] == [
        "cam1:1:label_changed:1",
        "cam2:4:track_started:1",
        "cam1:1:track_started:1",
    ]
    assert all_[0]["previous"] == "neutral" and all_[0]["dwell_s"] == 2.5
    assert [e["camera_id"] for e in api.get("/api/events", params={"camera": "cam2"}).json()] == ["cam2"]
    assert len(api.get("/api/events", params={"limit": 1}).json()) == 1
    assert api.get("/api/events", params={"limit": 0}).status_code == 422
