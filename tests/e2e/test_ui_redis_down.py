"""Redis goes away under a running dashboard: REST answers 503 with a JSON reason, the page shows a
banner instead of freezing, and both recover by themselves when Redis is back. Real Redis, real browser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.embedded_redis import EmbeddedRedis
from services.common import registry
from services.common.worker import redis_client
from services.ui.settings import UISettings
from tests.e2e.test_ui_browser import CHROMIUM
from tests.e2e.test_ui_tabs_browser import ARGS
from tests.support.ui import serve_ui
from tests.support.wait import free_port, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture()
def redis_and_ui(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, str]]:
    server = EmbeddedRedis(data_dir=tmp_path / "redis")
    port = free_port()
    settings = UISettings(redis_url=server.url, port=port, poll_hz=10, push_hz=5, data_dir=tmp_path / "ui")
    client = redis_client(settings)
    registry.add(client, "cam1", "/videos/a.mp4", loop=True)
    try:
        with serve_ui(settings, client) as url:
            yield server, url
    finally:
        server.stop()


def get(url: str) -> tuple[int, dict[str, object] | list[object]]:
    try:
        with urllib.request.urlopen(url, timeout=15) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_redis_outage_gives_503_and_a_banner_then_heals(redis_and_ui: tuple[EmbeddedRedis, str]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    server, base = redis_and_ui
    assert get(base + "/api/cameras")[0] == 200
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(base + "/")
            page.wait_for_selector("#emo-grid [data-camera='cam1']", timeout=20_000)
            assert page.query_selector(".emo-banner") is None
            server.kill()
            # the camera list is the shared reader's: it answers 503 from the reader's first failed poll
            status, body = wait_for(
                lambda: (r := get(base + "/api/cameras"))[0] == 503 and r, 10, "a 503 from /api/cameras"
            )
            assert status == 503 and isinstance(body, dict) and "redis unavailable" in str(body["detail"])
            page.wait_for_selector(".emo-banner", timeout=20_000)
            assert "Redis is unavailable" in page.inner_text(".emo-banner")
            assert page.query_selector("#emo-grid [data-camera='cam1']") is not None, "tiles stay"
            server.start()  # same port, same data: the camera is still registered
            page.wait_for_selector(".emo-banner", state="detached", timeout=30_000)
            status, cams = get(base + "/api/cameras")
            assert status == 200 and [c["name"] for c in cams] == ["cam1"]  # type: ignore[index]
        finally:
            browser.close()
