"""Cross-site requests (CSRF) against a real dashboard (uvicorn, real Redis) with login and token on:
a form or fetch on any other site, sent with the login the browser has cached, changes nothing; the
dashboard's own pages, curl and bearer-token clients go on working."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from services.common import registry
from tests.support.ui import exposed_settings, serve_ui

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests"
PASSWORD = "pw-for-tests"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"emostream:{PASSWORD}".encode()).decode()}
EVIL = {**BASIC, "Origin": "http://evil.example"}
ALLOWED = "https://ops.example.org"


@pytest.fixture()
def ui(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[str]:
    settings = exposed_settings(
        redis_url,
        tmp_path / "data",
        PASSWORD,
        TOKEN,
        ui_allowed_origins=f"{ALLOWED}, http://other.example:8080",
    )
    with serve_ui(settings, redis_client) as url:
        yield url


def own(url: str) -> dict[str, str]:
    return {**BASIC, "Origin": url}


def video_form() -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("clip.mp4", b"\0" * 1000, "video/mp4")}


def assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 403, answer.text
    detail = answer.json()["detail"]
    assert "cross-site request refused" in detail and "EMOSTREAM_UI_ALLOWED_ORIGINS" in detail


@pytest.mark.parametrize(
    "headers",
    [
        EVIL,
        {**BASIC, "Origin": "null"},
        {**BASIC, "Sec-Fetch-Site": "cross-site"},  # a browser that sent no Origin
        {**BASIC, "Origin": "http://ops.example.org"},  # allowed over https only
    ],
)
def test_cross_site_uploads_are_refused(ui: str, redis_client: redis.Redis, headers: dict[str, str]) -> None:
    assert_refused(httpx.post(f"{ui}/api/jobs", files=video_form(), headers=headers, timeout=10))
    assert_refused(httpx.post(f"{ui}/gradio_api/upload", files=video_form(), headers=headers, timeout=10))
    assert httpx.get(f"{ui}/api/jobs", headers=BASIC, timeout=10).json() == [], "a job was made"


def test_cross_site_camera_changes_and_gradio_events_are_refused(ui: str, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "door", "rtsp://10.0.0.5/s")
    body = {"name": "cam", "uri": "rtsp://10.0.0.5/stream"}
    assert_refused(httpx.post(f"{ui}/api/cameras", json=body, headers=EVIL, timeout=10))
    assert_refused(httpx.request("DELETE", f"{ui}/api/cameras/door", headers=EVIL, timeout=10))
    join = {"data": [], "fn_index": 0, "session_hash": "s1", "event_data": None, "trigger_id": 1}
    assert_refused(httpx.post(f"{ui}/gradio_api/queue/join", json=join, headers=EVIL, timeout=10))
    assert_refused(httpx.post(f"{ui}/gradio_api/stream/x", json=join, headers=EVIL, timeout=10))
    assert registry.get(redis_client, "cam") is None
    assert registry.get(redis_client, "door") is not None, "a cross-site DELETE removed the camera"
    # reading is not a change: the page itself still loads for a link from elsewhere
    assert httpx.get(f"{ui}/api/cameras", headers=EVIL, timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("same-origin", None),  # the dashboard's own page: Origin is the URL it was served from
        ("allowed", {**BASIC, "Origin": ALLOWED}),
        ("allowed-port", {**BASIC, "Origin": "http://other.example:8080"}),
        ("curl", BASIC),  # neither Origin nor Sec-Fetch-Site
        ("same-origin-fetch", {**BASIC, "Sec-Fetch-Site": "same-origin"}),
        ("bearer", {"Authorization": f"Bearer {TOKEN}"}),
        ("bearer-from-elsewhere", {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}),
    ],
)
def test_same_origin_curl_and_token_clients_still_work(
    ui: str, redis_client: redis.Redis, name: str, headers: dict[str, str] | None
) -> None:
    headers = headers or own(ui)
    body = {"name": name, "uri": "rtsp://10.0.0.5/stream"}
    assert httpx.post(f"{ui}/api/cameras", json=body, headers=headers, timeout=10).status_code == 201
    assert httpx.delete(f"{ui}/api/cameras/{name}", headers=headers, timeout=10).status_code == 204
    upload = httpx.post(f"{ui}/gradio_api/upload", files=video_form(), headers=headers, timeout=10)
    assert upload.status_code == 200, upload.text


def frames(url: str, origin: str | None) -> bytes:
    """The first message of ``/ws/frames`` opened from a page of ``origin`` (None: not a browser)."""
    ws_url = url.replace("http://", "ws://") + "/ws/frames"
    with connect(
        ws_url, origin=Origin(origin) if origin else None, additional_headers=BASIC, open_timeout=5
    ) as ws:
        message = ws.recv(timeout=10)
    assert isinstance(message, bytes)
    return message


def test_a_cross_site_websocket_gets_no_frames(ui: str, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "door", "rtsp://10.0.0.5/s")
    with pytest.raises(InvalidStatus) as refused:
        frames(ui, "http://evil.example")
    assert refused.value.response.status_code == 403
    for origin in (ui, ALLOWED, None):  # its own page, an allowed one, a non-browser client
        frame = frames(ui, origin)
        assert frame[1 : 1 + frame[0]] == b"door"
