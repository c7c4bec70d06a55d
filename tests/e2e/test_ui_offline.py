"""No request leaves the machine: server and browser run in a network namespace with only loopback.

The outer test re-runs the inner one under ``unshare -n`` (a new network namespace: no interface but
``lo``, no route, no DNS). Everything there must still work: the page and its assets, MJPEG tiles with
annotated frames, the webcam tab, the health panel; and every request the browser made names this host.
Skipped where ``unshare`` or ``ip`` is missing or not permitted (it needs root or user namespaces).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis

from services.common import registry
from services.ui.settings import UISettings
from tests.support.ui import FakePipeline, run_ingest, serve_ui
from tests.support.wait import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
INNER = "EMOSTREAM_TEST_OFFLINE_INNER"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def interfaces() -> list[str]:
    """Network interfaces of this process's namespace (``/proc/net/dev`` is per namespace)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines]


def test_dashboard_works_with_only_loopback(sample_media: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    pytest.importorskip("playwright.sync_api")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not permitted here (needs root or user namespaces)")
    env = {**os.environ, INNER: str(sample_media)}
    inner = f"{Path(__file__).relative_to(ROOT)}::test_inner_offline_dashboard"
    # --show-capture=no: a failure's own lines, not the server's log, end the output shown below
    pytest_args = f"-q -p no:cacheprovider --show-capture=no {inner}"
    cmd = f"ip link set lo up && exec {sys.executable} -m pytest {pytest_args}"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "1 passed" in out, out[-4000:]  # it ran, rather than skipped


def test_inner_offline_dashboard(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    if INNER not in os.environ:
        pytest.skip("runs inside test_dashboard_works_with_only_loopback's network namespace")
    assert interfaces() == ["lo"], interfaces()
    from playwright.sync_api import sync_playwright

    media = Path(os.environ[INNER])
    registry.add(redis_client, "cam1", str(media / "single_face.mp4"), mode="live", loop=True)
    settings = UISettings(redis_url=redis_url, port=free_port(), poll_hz=20, data_dir=tmp_path / "ui")
    requested: list[str] = []
    with (
        run_ingest(redis_url, data_dir=settings.data_dir),
        FakePipeline(redis_client),
        serve_ui(settings, redis_client) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.goto(url + "/")
            page.wait_for_selector('#emo-bars .emo-camera[data-camera="cam1"] .emo-track', timeout=30_000)
            page.wait_for_function(
                "() => { const i = document.querySelector('#emo-grid img');"
                " return i && i.naturalWidth === 640; }",
                timeout=30_000,
            )
            page.get_by_role("tab", name="Webcam").click()
            page.get_by_text("Click to Access Webcam").click()
            page.locator("#emo-webcam-in button", has_text="Record").click()
            page.wait_for_selector("#emo-webcam-out img.emo-webcam-result", timeout=30_000)
            page.get_by_role("tab", name="Health").click()
            page.wait_for_selector('#emo-health tr[data-camera="cam1"]', timeout=30_000)
            page.get_by_role("tab", name="Video").click()
            page.wait_for_selector("#emo-upload", timeout=10_000)
        finally:
            browser.close()
    assert len(requested) > 20  # the page, its assets, the event stream, the MJPEG tiles
    external = [u for u in requested if urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not [u for u in external if not u.startswith(("data:", "blob:"))], external
