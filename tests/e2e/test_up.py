"""``emostream up`` with no Redis configured (and two detector replicas): healthy, cameras report frames and
tracks, SIGTERM cleans up."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.wait import free_port, wait_for

pytestmark = [pytest.mark.e2e]


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


def test_up_runs_the_stack_and_stops_cleanly(sample_media: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "EMOSTREAM_REDIS_URL"}
    # A loaded 2-core CI machine runs MTCNN slowly: allow live frames more time before they are dropped.
    env["EMOSTREAM_LIVE_MAX_AGE_MS"] = "8000"
    log = open(tmp_path / "up.log", "w")  # noqa: SIM115 -- the child writes to it until the finally
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--port",
            str(port),
            "--source",
            f"cam1={sample_media / 'single_face.mp4'}",
            "--replicas",
            "detector=2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        cam: dict[str, object] = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            try:
                cameras = get_json(f"http://127.0.0.1:{port}/api/cameras")
            except OSError:
                time.sleep(1)
                continue
            assert isinstance(cameras, list)
            cam = next((c for c in cameras if c["name"] == "cam1"), {})
            if cam.get("tracks"):
                break
            time.sleep(1)
        assert cam.get("status") == "running", cam
        assert int(cam["frames"]) > 0 and float(cam["fps"]) > 0  # type: ignore[arg-type]
        assert cam.get("tracks"), f"no tracks within the deadline: {cam}"
        track = cam["tracks"][0]  # type: ignore[index]
        assert track["track_id"] >= 1 and track["label"]
        health = get_json(f"http://127.0.0.1:{port}/healthz")
        assert isinstance(health, dict) and health["status"] == "ok"
        running = {name.split(":")[0] for name in health["services"]}
        assert running >= {"ingest", "detector", "classifier", "tracker", "events", "ui"}
        wait_for(lambda: "first annotated frame after" in (tmp_path / "up.log").read_text(), 30, "the report")
        assert re.search(
            r"first annotated frame after \d+\.\d s \(camera cam1\)", (tmp_path / "up.log").read_text()
        )

        # each replica beats once its own MTCNN has loaded: one may serve frames before the other is up
        def detectors() -> list[str]:
            found = get_json(f"http://127.0.0.1:{port}/healthz")
            assert isinstance(found, dict)
            return [name for name in found["services"] if name.startswith("detector:")]

        wait_for(lambda: len(detectors()) == 2, 120, "two detector replicas beating")
        assert len(detectors()) == 2, f"--replicas detector=2 runs two detectors: {detectors()}"

        children = descendants(proc.pid)
        assert len(children) >= 8, "six services, a second detector and the embedded redis-server"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(25)
        assert time.monotonic() - t0 < 20, "SIGTERM must stop everything within 20 s"
        assert proc.returncode == 0
        time.sleep(0.5)
        left = [pid for pid in children if alive(pid)]
        assert not left, f"processes left behind: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
