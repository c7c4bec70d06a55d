"""Dashboard numbers in headless Chromium: fps per tile, bar update rate, webcam round trip, server CPU.

Usage: python -m benchmarks.ui [--cameras 4] [--seconds 20] [--pipeline fake|real] [--media DIR]

Runs an embedded Redis, the ingest service and the UI (each its own process, so the UI's CPU time is
its own), registers ``--cameras`` sample videos as live cameras, and opens the dashboard in headless
Chromium. ``--pipeline fake`` (default) stands in for detector, classifier and tracker with a stage
that boxes every frame at no cost, so the numbers are the UI's own; ``--pipeline real`` runs the real
services (on a 2-core machine the model, not the UI, then sets the frame rate).

Measured:
- fps per tile: how often each MJPEG ``<img>`` shows a new picture (sampled through a canvas every
  animation frame, counting changes);
- bar updates/s: animation frames in which some bar's width changed (a MutationObserver);
- webcam round trip: Chromium's fake camera streams into the pipeline; the UI reports ``now -
  captured_ms`` when it first sees the frame's tracks (median and 90th percentile);
- server CPU: the UI process's CPU time / wall time while one browser watches the grid, and with no
  browser for comparison (100 % is one core);
- source fps: the rate ingest published each camera at (the ceiling for the tiles), and per camera the
  frames the UI drew and sent over the frame socket per second (where frames are lost, if any).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from services.cli.embedded_redis import EmbeddedRedis, free_port
from services.common import registry
from services.common.latency import latency_summary

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")

# Per tile: count animation frames whose downscaled pixels differ from the previous ones.
TILE_PROBE_JS = """() => {
  window.__emoTiles = {};
  const c = document.createElement('canvas'); c.width = 32; c.height = 18;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  const last = {};
  function tick() {
    for (const img of document.querySelectorAll('#emo-grid .emo-tile img')) {
      const name = img.closest('.emo-tile').dataset.camera;
      if (!img.naturalWidth) continue;
      ctx.drawImage(img, 0, 0, 32, 18);
      const d = ctx.getImageData(0, 0, 32, 18).data;
      let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;
      if (last[name] !== h) { window.__emoTiles[name] = (window.__emoTiles[name] || 0) + 1; last[name] = h; }
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  window.__emoBarFrames = 0;
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { window.__emoBarFrames++; pending = false; });
  }).observe(document.querySelector('#emo-bars'),
             {subtree: true, attributes: true, attributeFilter: ['style']});
}"""


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime + stime


def cpu_share(pid: int, seconds: float) -> float:
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_s(pid) - c0) / (time.monotonic() - t0)


def moving_probs(seq: int) -> dict[str, float]:
    """Probabilities that change every frame, so the bars have something to animate."""
    happy = 0.2 + 0.6 * ((seq % 20) / 19)
    return {"happy": round(happy, 3), "neutral": round(0.9 - happy, 3), "sad": 0.1}


@contextmanager
def process(module: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", module], env={**os.environ, **env})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def pipeline(kind: str, client: redis.Redis, url: str) -> Iterator[None]:
    if kind == "fake":
        from tests.integration.test_ui_support import FakePipeline

        with FakePipeline(client, probs_for=moving_probs):
            yield
        return
    from services.cli.stack import stack

    os.environ["EMOSTREAM_REDIS_URL"] = url
    with stack(("detector", "classifier", "tracker")) as running:
        running.wait_healthy(300)
        yield


def counters(base: str) -> tuple[float, float]:
    """(frames the UI drew, frames it sent over frame sockets) so far, from its /metrics."""
    import urllib.request

    with urllib.request.urlopen(base + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = dict(
        re.findall(r"^(emostream_ui_frames_drawn_total|emostream_ui_ws_frames_total) (\S+)$", text, re.M)
    )
    return float(found.get("emostream_ui_frames_drawn_total", 0)), float(
        found.get("emostream_ui_ws_frames_total", 0)
    )


def wait_http(url: str, timeout_s: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pipeline", choices=("fake", "real"), default="fake")
    parser.add_argument("--media", type=Path, default=None)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from services.cli.samples import ensure_samples

    shared = Path(__file__).resolve().parents[2] / "shared" / "media"
    media = args.media or (shared if shared.is_dir() else ensure_samples())
    port = free_port()
    results: dict[str, object] = {"cameras": args.cameras, "pipeline": args.pipeline, "seconds": args.seconds}
    with EmbeddedRedis() as embedded:
        client = redis.Redis.from_url(embedded.url)
        env = {"EMOSTREAM_REDIS_URL": embedded.url, "EMOSTREAM_LOG_LEVEL": "WARNING"}
        for i in range(args.cameras):
            registry.add(client, f"cam{i + 1}", str(media / VIDEOS[i % len(VIDEOS)]), mode="live", loop=True)
        ui_env = {**env, "EMOSTREAM_PORT": str(port)}
        with (
            process("services.ingest", env),
            pipeline(args.pipeline, client, embedded.url),
            process("services.ui", ui_env) as ui,
        ):
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/healthz")
            time.sleep(3)  # cameras running, frames flowing
            results["server_cpu_idle_pct"] = round(100 * cpu_share(ui.pid, min(10.0, args.seconds)), 1)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(base + "/")
                page.wait_for_function(
                    f"() => document.querySelectorAll('#emo-grid .emo-tile img').length === {args.cameras}",
                    timeout=60_000,
                )
                page.wait_for_selector("#emo-bars .emo-bar", state="attached", timeout=300_000)
                time.sleep(2)
                page.evaluate(TILE_PROBE_JS)
                Path("test-artifacts").mkdir(exist_ok=True)
                page.screenshot(path=f"test-artifacts/benchmark_ui_grid_{args.pipeline}.png", full_page=True)
                t0 = time.monotonic()
                before = counters(base)
                results["server_cpu_grid_pct"] = round(100 * cpu_share(ui.pid, args.seconds), 1)
                after = counters(base)
                wall = time.monotonic() - t0
                per_cam = wall * args.cameras
                results["ui_drawn_fps_per_camera"] = round((after[0] - before[0]) / per_cam, 2)
                results["ws_sent_fps_per_camera"] = round((after[1] - before[1]) / per_cam, 2)
                tiles = page.evaluate("() => window.__emoTiles")
                bars = page.evaluate("() => window.__emoBarFrames")
                results["tile_fps"] = {k: round(v / wall, 2) for k, v in sorted(tiles.items())}
                results["tile_fps_mean"] = round(sum(tiles.values()) / wall / max(1, len(tiles)), 2)
                results["bar_updates_per_s"] = round(bars / wall, 2)
                cams = json.loads(page.evaluate("() => fetch('/api/cameras').then(r => r.text())"))
                results["source_fps"] = {c["name"]: c["fps"] for c in cams}  # what ingest published
                page.close()

                cam = browser.new_page(viewport={"width": 1400, "height": 1000})
                cam.goto(base + "/")
                cam.get_by_role("tab", name="Webcam").click()
                cam.get_by_text("Click to Access Webcam").click()
                cam.locator("#emo-webcam-in button", has_text="Record").click()
                try:
                    cam.wait_for_function(
                        "() => /round trip .*: \\d+ ms/"
                        ".test(document.querySelector('#emo-webcam-latency').innerText)",
                        timeout=120_000,
                    )
                except Exception:
                    cam.screenshot(path="test-artifacts/benchmark_ui_webcam.png", full_page=True)
                    raise
                rtts: list[int] = []
                deadline = time.monotonic() + args.seconds
                last = ""
                while time.monotonic() < deadline:
                    text = cam.inner_text("#emo-webcam-latency")
                    found = re.search(r"round trip .*?: (\d+) ms", text)
                    if found and text != last:
                        rtts.append(int(found.group(1)))
                        last = text
                    time.sleep(0.1)
                browser.close()
            if rtts:
                rtt = latency_summary(rtts)
                results["webcam_round_trip_ms_median"] = rtt.p50_ms
                results["webcam_round_trip_ms_p90"] = rtt.p90_ms
                results["webcam_round_trip_samples"] = rtt.count
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
