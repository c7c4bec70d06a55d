"""The dashboard in a real headless Chromium: tiles show the frames the page's WebSocket pushes, bars
move without being re-rendered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import redis

from services.common import codec, keys, registry
from services.common.image import encode_jpeg
from services.common.schema import Track, Tracks
from services.ui.settings import UISettings
from tests.support.ui import serve_ui
from tests.support.wait import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
# Reads the tile's pixel on the left box edge (x=220, y=190 in the 640x360 frame) through a canvas;
# sad is BGR (200, 110, 30), so RGB (30, 110, 200).
SAD_EDGE_JS = """() => {
  const img = document.querySelector('#emo-grid img');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const [r, g, b] = ctx.getImageData(220, 190, 1, 1).data;
  return Math.abs(r - 30) < 40 && Math.abs(g - 110) < 40 && Math.abs(b - 200) < 40;
}"""
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def publish(client: redis.Redis, cam: str, seq: int, probs: dict[str, float]) -> None:
    img = np.full((360, 640, 3), 90, np.uint8)
    img[:, :, 1] = np.linspace(40, 200, 640, dtype=np.uint8)  # something to look at in the screenshot
    client.set(keys.frame(cam, seq), encode_jpeg(img), ex=60)
    label = max(probs, key=probs.__getitem__)
    track = Track(
        track_id=1,
        box_xyxy=(220.0, 80.0, 420.0, 300.0),
        label=label,
        confidence=probs[label],
        raw_label=label,
        probs=probs,
    )
    msg = Tracks(
        camera_id=cam,
        seq=seq,
        captured_ms=time.time_ns() // 1_000_000,
        frame_key=keys.frame(cam, seq),
        size_wh=(640, 360),
        tracks=(track,),
    )
    client.xadd(keys.stream("tracks", cam), codec.encode(msg))  # type: ignore[arg-type]


@pytest.fixture()
def server(redis_client: redis.Redis, redis_url: str) -> Iterator[str]:
    port = free_port()
    settings = UISettings(redis_url=redis_url, port=port, poll_hz=20, push_hz=10)
    with serve_ui(settings, redis_client) as url:
        yield url


def test_grid_shows_websocket_frames_and_bars_animate_in_place(
    server: str, redis_client: redis.Redis
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    registry.add(redis_client, "cam1", "/videos/a.mp4", loop=True)
    publish(redis_client, "cam1", 0, {"happy": 0.7, "sad": 0.3})
    ARTIFACTS.mkdir(exist_ok=True)
    requested: list[str] = []
    sockets: list[str] = []

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(server + "/")
            page.wait_for_function(
                "() => { const i = document.querySelector('#emo-grid img');"
                " return i && i.complete !== undefined && i.naturalWidth > 0; }",
                timeout=20_000,
            )
            assert page.eval_on_selector("#emo-grid img", "i => i.dataset.emoCamera") == "cam1"
            src = page.eval_on_selector("#emo-grid img", "i => i.src")
            assert src.startswith("blob:")  # a frame from the page's frame socket

            bar = page.wait_for_selector('#emo-bars .emo-bar[data-label="happy"]', timeout=10_000)
            assert bar is not None
            page.wait_for_function("el => parseFloat(el.style.width) === 70", arg=bar, timeout=10_000)
            bar.evaluate("el => { el.__emoMark = 'same-node'; }")
            page.screenshot(path=str(ARTIFACTS / "ui_dashboard_before.png"), full_page=True)

            publish(redis_client, "cam1", 1, {"happy": 0.2, "sad": 0.8})
            page.wait_for_function("el => parseFloat(el.style.width) === 20", arg=bar, timeout=10_000)

            # The tile shows the new frame: the box edge turns from the happy to the sad colour.
            page.wait_for_function(SAD_EDGE_JS, timeout=10_000)
            assert bar.evaluate("el => el.__emoMark") == "same-node"  # moved, not re-rendered
            assert bar.evaluate("el => el.isConnected") is True
            assert bar.evaluate("el => getComputedStyle(el).transitionProperty") in ("width", "all")
            title = page.text_content("#emo-bars .emo-track-title") or ""
            assert "#1" in title

            # A new camera re-renders the grid by diffing: the first tile's <img> stays.
            img = page.query_selector("#emo-grid img")
            assert img is not None
            img.evaluate("el => { el.__emoMark = 'same-img'; }")
            registry.add(redis_client, "cam2", "/videos/b.mp4", loop=True)
            page.wait_for_function("() => document.querySelectorAll('#emo-grid img').length === 2")
            assert img.evaluate("el => el.__emoMark + ' ' + el.isConnected") == "same-img true"
            time.sleep(0.5)  # let the transition finish for the screenshot
            page.screenshot(path=str(ARTIFACTS / "ui_dashboard.png"), full_page=True)
        finally:
            browser.close()

    assert "/ws/frames" in [urlparse(u).path for u in sockets], sockets  # the tiles' frames came this way
    assert not [u for u in requested if urlparse(u).path.startswith("/video/")], requested  # no MJPEG
    external = [u for u in requested if urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not [u for u in external if not u.startswith(("data:", "blob:"))], external
