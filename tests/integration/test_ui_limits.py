"""Limits of a real dashboard (uvicorn, real Redis) with login, token and source policy on: how many
cameras it registers, how large a body each route takes, how many pixels a frame may claim. Each
refusal has a status and names the limit, and what was registered or running before stays."""

from __future__ import annotations

import base64
import json
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.common import registry
from services.ui.camera_limit import CameraLimit
from services.ui.webcam import CameraLimitReached, FrameRefused, WebcamHub
from tests.integration.test_ui_hostile_requests import raw
from tests.support.image_bombs import jpeg, png_header
from tests.support.ui import exposed_settings, serve_ui

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()
MAX_CAMERAS = 3


@pytest.fixture()
def ui(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[str]:
    settings = exposed_settings(
        redis_url, tmp_path / "data", "pw-for-tests", TOKEN, ui_max_cameras=MAX_CAMERAS
    )
    with serve_ui(settings, redis_client) as url:
        yield url


def add(url: str, name: str, replace: bool = False) -> httpx.Response:
    body = {"name": name, "uri": f"rtsp://10.0.0.5/{name}", "replace": replace}
    return httpx.post(f"{url}/api/cameras", json=body, headers=BEARER, timeout=10)


def test_cameras_past_the_limit_are_refused(ui: str, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "job-1", "job:abc/input-a.mp4", mode="file")  # a video job: not counted
    for i in range(MAX_CAMERAS):
        assert add(ui, f"cam{i}").status_code == 201
    refused = add(ui, "one-too-many")
    assert refused.status_code == 409, refused.text
    assert "EMOSTREAM_UI_MAX_CAMERAS" in refused.json()["detail"] and "3" in refused.json()["detail"]
    assert registry.get(redis_client, "one-too-many") is None
    replaced = add(ui, "cam0", replace=True)  # replacing one at the limit still works
    assert replaced.status_code == 201, replaced.text
    assert {c.camera_id for c in registry.all_cameras(redis_client)} == {"job-1", "cam0", "cam1", "cam2"}
    assert httpx.delete(f"{ui}/api/cameras/cam1", headers=BEARER, timeout=10).status_code == 204
    assert add(ui, "one-too-many").status_code == 201, "a removed camera makes room"


def test_a_webcam_past_the_limit_is_refused(redis_client: redis.Redis) -> None:
    limit = CameraLimit(redis_client, 2)
    hub = WebcamHub(redis_client, frame_ttl_s=30, maxlen=100, limit=limit)
    registry.add(redis_client, "door", "rtsp://10.0.0.5/s")
    assert hub.publish_encoded("first", jpeg()) == "webcam-first"
    with pytest.raises(CameraLimitReached, match="EMOSTREAM_UI_MAX_CAMERAS"):
        hub.publish_encoded("second", jpeg())
    assert hub.publish_encoded("first", jpeg()) == "webcam-first", "a running webcam goes on"
    assert {c.camera_id for c in registry.all_cameras(redis_client)} == {"door", "webcam-first"}


def test_a_frame_that_claims_too_many_pixels_is_refused_undecoded(redis_client: redis.Redis) -> None:
    hub = WebcamHub(redis_client, frame_ttl_s=30, maxlen=100, max_frame_px=4096 * 2160)
    for bomb in (png_header(12000, 12000), jpeg(claim_wh=(12000, 12000))):
        with pytest.raises(FrameRefused, match="12000x12000.*EMOSTREAM_MAX_FRAME_PX") as refused:
            hub.publish_encoded("s", bomb)
        assert refused.value.status == 413
    with pytest.raises(FrameRefused, match="not a JPEG or PNG"):
        hub.publish_encoded("s", b"GIF89a....")
    assert registry.all_cameras(redis_client) == [], "a refused frame registered a camera"
    assert hub.publish_encoded("s", jpeg(640, 480)) == "webcam-s"


def stream_event(url: str) -> tuple[int, int]:
    """(fn_index, trigger id) of the webcam's stream event, from the page's config."""
    config = httpx.get(f"{url}/config", headers=BEARER, timeout=10).json()
    dep = next(d for d in config["dependencies"] if any(t[1] == "stream" for t in d["targets"]))
    return dep["id"], dep["targets"][0][0]


def join(url: str, frame: dict[str, Any], session: str) -> httpx.Response:
    fn, trigger = stream_event(url)
    body = {"data": [frame, {}], "fn_index": fn, "session_hash": session, "trigger_id": trigger}
    return httpx.post(f"{url}/gradio_api/queue/join", json=body, headers=BEARER, timeout=30)


def data_url(image: bytes, kind: str = "png") -> dict[str, Any]:
    return {
        "url": f"data:image/{kind};base64," + base64.b64encode(image).decode(),
        "meta": {"_type": "gradio.FileData"},
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_pushed_frame_bomb_gets_413_before_it_is_decoded(ui: str, redis_client: redis.Redis) -> None:
    before = peak_rss_mb()
    for bomb, kind in ((png_header(12000, 12000), "png"), (jpeg(claim_wh=(12000, 12000)), "jpeg")):
        answer = join(ui, data_url(bomb, kind), "bomber")
        assert answer.status_code == 413, answer.text
        assert (
            "12000x12000" in answer.json()["detail"] and "EMOSTREAM_MAX_FRAME_PX" in answer.json()["detail"]
        )
    time.sleep(0.5)  # a frame that was queued anyway would be decoding now
    assert peak_rss_mb() - before < 200, "the server decoded the 12000x12000 frame"
    assert registry.get(redis_client, "webcam-bomber") is None
    fine = join(ui, data_url(jpeg(640, 480), "jpeg"), "fine")
    assert fine.status_code == 200, fine.text  # a normal webcam frame is queued as before


def completed(url: str, session: str) -> dict[str, Any]:
    """The first finished (or streamed) message of ``session``'s queue."""
    with httpx.stream(
        "GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, headers=BEARER, timeout=20
    ) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line[5:])
                if message.get("msg") in ("process_completed", "process_streaming"):
                    return message
    raise AssertionError("the queue ended without an answer")


def test_an_uploaded_frame_bomb_is_refused_where_frames_are_decoded(
    ui: str, redis_client: redis.Redis
) -> None:
    upload = httpx.post(
        f"{ui}/gradio_api/upload",
        files={"files": ("b.png", png_header(12000, 12000), "image/png")},
        headers=BEARER,
        timeout=10,
    )
    assert upload.status_code == 200, upload.text
    assert (
        join(ui, {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}, "filer").status_code == 200
    )
    answer = completed(ui, "filer")
    assert answer["success"] is False and "EMOSTREAM_MAX_FRAME_PX" in answer["output"]["error"]
    assert registry.get(redis_client, "webcam-filer") is None


@pytest.mark.parametrize("path", [b"/gradio_api/upload", b"/gradio_api/queue/join", b"/gradio_api/stream/x"])
def test_gradio_bodies_over_the_limit_are_refused_before_they_are_read(ui: str, path: bytes) -> None:
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: 50000000\r\n"
    head += b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    status, answer = raw(ui, head)
    assert status == 413 and b"over the limit" in answer


@pytest.mark.parametrize(
    ("path", "kind", "size"),
    [
        (b"/gradio_api/upload", b"multipart/form-data; boundary=xyz", 3 << 20),  # against 1 MB uploads
        (b"/gradio_api/queue/join", b"application/json", 2 << 20),  # against 1 MiB bodies
        (b"/gradio_api/stream/x", b"application/json", 2 << 20),
    ],
)
def test_chunked_gradio_bodies_over_the_limit_are_cut_off(
    ui: str, path: bytes, kind: bytes, size: int
) -> None:
    part = b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="big.mp4"\r\n\r\n'
    body = (part if b"multipart" in kind else b'{"data": ["') + b"\0" * size
    chunks = b"".join(
        b"%x\r\n" % len(body[i : i + 65536]) + body[i : i + 65536] + b"\r\n"
        for i in range(0, len(body), 65536)
    )
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Transfer-Encoding: chunked\r\n"
    head += b"Content-Type: " + kind + b"\r\n\r\n"
    status, answer = raw(ui, head, chunks + b"0\r\n\r\n")
    assert status == 413, answer[:300]
    assert b"too large" in answer or b"maximum allowed size" in answer
