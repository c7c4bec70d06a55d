"""The dashboard's tabs in a real headless Chromium: webcam (fake camera device), video upload,
adding and removing cameras, and the health panel. The real ingest service reads the videos; a fake
model stage (tests/support/ui.py) stands in for detector, classifier and tracker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from services.common import codec, health, keys
from services.common.schema import Event
from services.ui.settings import UISettings
from tests.support.ui import FakePipeline, run_ingest, serve_ui
from tests.support.wait import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# happy is BGR (0, 200, 255): RGB (255, 200, 0). Reads the label fill just above the fake box's left edge.
HAPPY_LABEL_JS = """(sel) => {
  const img = document.querySelector(sel);
  if (!img || !img.naturalWidth) return false;
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const x = Math.round(c.width * 0.3) + 2, y = Math.round(c.height * 0.2) - 6;
  const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
  // the size of the very image that was checked: the element may load a newer frame right after
  return Math.abs(r - 255) < 50 && Math.abs(g - 200) < 50 && b < 70 ? [c.width, c.height] : false;
}"""


@pytest.fixture()
def ui(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[str]:
    settings = UISettings(
        redis_url=redis_url,
        port=free_port(),
        poll_hz=20,
        push_hz=10,
        data_dir=tmp_path / "ui",
        pipeline_interval_s=0.5,
    )
    with (
        run_ingest(redis_url, file_high_water=1000, data_dir=settings.data_dir),  # the same job storage
        FakePipeline(redis_client),
        serve_ui(settings, redis_client) as url,
    ):
        yield url


@pytest.fixture()
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + FAKE_CAMERA)
        try:
            yield b
        finally:
            b.close()


def local_only(requested: list[str]) -> list[str]:
    return [
        u
        for u in requested
        if urlparse(u).hostname not in ("127.0.0.1", "localhost") and not u.startswith(("data:", "blob:"))
    ]


def test_webcam_streams_into_the_pipeline_and_shows_the_annotated_result(ui: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(ui + "/")
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#emo-webcam-in button", has_text="Record").click()

    page.wait_for_selector("#emo-webcam-out img.emo-webcam-result", timeout=20_000)
    size = page.wait_for_function(HAPPY_LABEL_JS, arg="#emo-webcam-out img", timeout=20_000).json_value()
    assert size == [640, 480], size  # the 640x480 constraint reached the camera
    page.wait_for_function(
        "() => /round trip .*: \\d+ ms/.test(document.querySelector('#emo-webcam-latency').innerText)",
        timeout=20_000,
    )
    bar = page.wait_for_selector('#emo-webcam-bars .emo-bar[data-label="happy"]', timeout=10_000)
    assert bar is not None and bar.evaluate("el => parseFloat(el.style.width)") == 70
    page.screenshot(path=str(ARTIFACTS / "ui_webcam.png"), full_page=True)
    assert not local_only(requested)


def test_upload_gives_a_playable_video_and_downloads(
    ui: str, browser: Any, sample_media: Path, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page.goto(ui + "/")
    page.get_by_role("tab", name="Video").click()
    page.set_input_files("#emo-upload input[type=file]", str(sample_media / "single_face.mp4"))

    page.wait_for_selector("#emo-job-status .emo-progress-fill", timeout=20_000)
    page.wait_for_selector("#emo-job-status [data-status=done]", timeout=90_000)
    video = page.wait_for_selector("#emo-job-video", timeout=10_000)
    assert video is not None
    page.wait_for_function("v => v.readyState >= 2 && v.videoWidth === 640", arg=video, timeout=20_000)
    video.evaluate("v => v.play()")
    page.wait_for_function("v => v.currentTime > 0.3", arg=video, timeout=20_000)  # it really plays
    assert video.evaluate("v => v.error") is None

    for name in ("tracks.csv", "timeline.json"):
        with page.expect_download() as info:
            page.click(f"#emo-job-result a.emo-download[download='{name}']")
        path = tmp_path / name
        info.value.save_as(path)
        assert info.value.suggested_filename == name
        text = path.read_text()
        assert text.startswith("frame,time_s,track_id") if name == "tracks.csv" else '"track_id": 1' in text
    page.wait_for_function(
        "() => { const i = document.querySelector('#emo-job-result img.emo-timeline');"
        " return i && i.naturalWidth > 0; }",
        timeout=10_000,
    )
    page.screenshot(path=str(ARTIFACTS / "ui_video_job.png"), full_page=True)


def test_a_non_video_upload_is_refused_with_a_message(ui: str, browser: Any, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"definitely not a video" * 100)
    page = browser.new_page()
    page.goto(ui + "/")
    page.get_by_role("tab", name="Video").click()
    page.set_input_files("#emo-upload input[type=file]", str(fake))
    page.wait_for_selector("#emo-job-status [data-status=refused]", timeout=20_000)
    assert "not a readable video" in page.inner_text("#emo-job-status")


def test_adding_and_removing_cameras_updates_the_grid(
    ui: str, browser: Any, sample_media: Path, redis_client: redis.Redis
) -> None:
    health.beat(redis_client, "detector", "box-1", 60, {"cameras": 1, "processed": 7, "dropped": 2})
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(ui + "/")
    page.wait_for_selector("#emo-grid .emo-empty", timeout=20_000)

    page.fill("#emo-cam-name textarea, #emo-cam-name input", "lobby")
    page.fill("#emo-cam-uri textarea, #emo-cam-uri input", str(sample_media / "single_face.mp4"))
    page.click("#emo-cam-add")
    page.wait_for_function(HAPPY_LABEL_JS, arg='#emo-grid .emo-tile[data-camera="lobby"] img', timeout=30_000)
    page.wait_for_function(
        "() => /[1-9][\\d.]* fps in, [1-9][\\d.]* annotated\\/s · \\d+ ms/.test("
        "document.querySelector('#emo-grid .emo-tile[data-camera=\"lobby\"] .emo-stats').innerText)",
        timeout=20_000,
    )
    page.wait_for_selector('#emo-bars .emo-camera[data-camera="lobby"] .emo-track', timeout=10_000)
    time.sleep(0.5)  # let the bars' transition finish for the screenshot
    page.screenshot(path=str(ARTIFACTS / "ui_dashboard_live.png"), full_page=True)

    page.fill("#emo-cam-name textarea, #emo-cam-name input", "door")
    page.fill("#emo-cam-uri textarea, #emo-cam-uri input", "rtsp://127.0.0.1:1/nothing")
    page.click("#emo-cam-add")
    page.wait_for_selector('#emo-grid .emo-tile[data-camera="door"] .emo-status-error', timeout=30_000)
    assert "rtsp://127.0.0.1:1/nothing" in page.inner_text('#emo-grid .emo-tile[data-camera="door"]')

    page.fill("#emo-cam-name textarea, #emo-cam-name input", "bad name!")
    page.fill("#emo-cam-uri textarea, #emo-cam-uri input", "/x.mp4")
    page.click("#emo-cam-add")
    page.wait_for_function(
        "() => document.querySelector('#emo-cam-message').innerText.includes('must be 1-64')", timeout=10_000
    )
    time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "ui_cameras.png"), full_page=True)

    page.fill("#emo-cam-name textarea, #emo-cam-name input", "door")
    page.click("#emo-cam-remove")
    page.wait_for_function(
        "() => !document.querySelector('#emo-grid .emo-tile[data-camera=\"door\"]')", timeout=20_000
    )
    assert page.query_selector('#emo-grid .emo-tile[data-camera="lobby"]') is not None

    page.get_by_role("tab", name="Health").click()
    page.wait_for_selector('#emo-health tr[data-service="detector"]', timeout=20_000)
    page.wait_for_selector('#emo-health tr[data-camera="lobby"]', timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "ui_health.png"), full_page=True)


def test_the_live_tab_shows_new_events_as_they_come(ui: str, browser: Any, redis_client: redis.Redis) -> None:
    def add(n: int, kind: str) -> str:
        event = Event(
            camera_id="lobby",
            seq=n,
            captured_ms=int(time.time() * 1000),
            event_id=f"lobby:3:{kind}:1",
            kind=kind,  # type: ignore[arg-type]
            track_id=3,
            label="angry",
            confidence=0.8,
            dwell_s=5.0,
        )
        redis_client.xadd(keys.EVENTS, codec.encode(event))  # type: ignore[arg-type]
        return event.event_id

    first = add(1, "track_started")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(ui + "/")
    page.wait_for_selector(f'#emo-events tr[data-emo-event="{first}"]', timeout=20_000)
    held = add(2, "label_held")  # while the page is open: pushed, no reload
    row = page.wait_for_selector(f'#emo-events tr[data-emo-event="{held}"]', timeout=20_000)
    assert row is not None and "angry for 5 s" in row.inner_text()
    rows = page.query_selector_all("#emo-events tbody tr")
    assert rows[0].get_attribute("data-emo-event") == held, "newest first"


def test_the_history_tab_shows_a_running_camera_s_last_hour(
    ui: str, browser: Any, redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    from services.common import registry
    from services.events.service import EventsWorker
    from services.events.settings import EventsSettings

    events = EventsWorker(EventsSettings(redis_url=redis_url, instance="events-ui"), stop=threading.Event())
    thread = threading.Thread(target=events.run, daemon=True)
    thread.start()
    try:
        registry.add(redis_client, "hall", str(sample_media / "single_face.mp4"), mode="live", loop=True)
        # a bucket closes when the first frame of the next 10 s arrives
        deadline = time.monotonic() + 40
        while not redis_client.zcard(keys.history("hall")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert redis_client.zcard(keys.history("hall")), "the events service wrote a 10 s bucket"
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(ui + "/")
        page.get_by_role("tab", name="History").click()
        page.wait_for_function(
            "() => document.querySelector('#emo-history-cam input')?.value === 'hall'", timeout=20_000
        )
        page.wait_for_selector('#emo-history-chart svg .emo-area[data-label="happy"] polygon', timeout=30_000)
        page.wait_for_selector("#emo-history-strips .emo-strip rect", timeout=20_000)
        href = page.get_attribute("#emo-history-chart a.emo-history-csv", "href")
        assert href == "/api/cameras/hall/history.csv?minutes=60"
        page.get_by_text("5 minutes").click()
        page.wait_for_selector('#emo-history-chart a[href$="minutes=5"]', timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "ui_history.png"), full_page=True)
    finally:
        events.stop.set()
        thread.join(10)


def test_login_when_a_password_is_set(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, browser: Any
) -> None:
    settings = UISettings(
        redis_url=redis_url, port=free_port(), data_dir=tmp_path / "ui", ui_password="s3cret"
    )
    with serve_ui(settings, redis_client) as url:
        anonymous = browser.new_page()
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):  # headless: 401, no prompt
            anonymous.goto(url + "/")
        page = browser.new_context(
            http_credentials={"username": "emostream", "password": "s3cret"}
        ).new_page()
        assert page.goto(url + "/").status == 200
        page.wait_for_selector(
            "#emo-grid .emo-empty", timeout=20_000
        )  # the app itself runs, event stream too
