"""``emostream bench`` end to end: the monolith loop and the real pipeline (its own embedded Redis, real
MTCNN and classifier processes) on the same frames, in one run, as one line of JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

from services.cli.bench import camera_live, stage_figures
from services.cli.bench.results import SEGMENTS

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EMOSTREAM_REDIS_URL"}  # its own embedded Redis
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def json_line(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout  # --json: one line and nothing else on stdout
    return dict(json.loads(lines[0]))


@pytest.fixture(scope="module")
def short_clip(sample_media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20 frames of single_face.mp4 (one face in every frame)."""
    out = tmp_path_factory.mktemp("bench") / "short.mp4"
    cap = cv2.VideoCapture(str(sample_media / "single_face.mp4"))
    writer = None
    for _ in range(20):
        ok, img = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(
                str(out), cv2.VideoWriter.fourcc(*"mp4v"), 25, (img.shape[1], img.shape[0])
            )
        writer.write(img)
    assert writer is not None
    writer.release()
    cap.release()
    return out


def test_file_mode_runs_both_on_the_same_frames(short_clip: Path) -> None:
    report = json_line(bench("--mode", "file", "--videos", str(short_clip), str(short_clip), "--json"))
    mono, pipe = report["runs"]
    assert (mono["name"], pipe["name"]) == ("monolith", "pipeline")
    # lossless: both saw every frame of both videos, and found the face in (nearly) all of them
    assert mono["frames"] == pipe["frames"] == 40
    assert mono["faces"] >= 38 and pipe["faces"] >= 38
    assert report["ratio"] == pytest.approx(pipe["fps"] / mono["fps"], rel=0.02)
    assert pipe["stages"]["detector"] > 0 and pipe["stages"]["classifier_per_face"] > 0
    assert pipe["batches"]["detector_frames"] >= 1 and pipe["batches"]["classifier_faces"] >= 1
    assert mono["stages"]["detect"] > 0 and mono["stages"]["classify_per_face"] > 0
    assert 0 < pipe["cpu_cores"] <= (os.cpu_count() or 1) + 0.5


def test_live_mode_reports_every_camera(sample_media: Path) -> None:
    report = json_line(
        bench(
            *("--mode", "live", "--cameras", "2", "--fps", "4", "--seconds", "10", "--warmup", "20"),
            "--json",
        )
    )
    for run in report["runs"]:
        assert set(run["cameras"]) == {"cam1", "cam2"}
        for cam in run["cameras"].values():
            assert cam["annotated_fps"] > 0  # no camera starves
            assert cam["p50_ms"] is not None and cam["p99_ms"] >= cam["p50_ms"]
            assert 0 <= cam["drop_rate"] <= 1
        assert run["annotated_fps"] == pytest.approx(
            sum(c["annotated_fps"] for c in run["cameras"].values()), abs=0.02
        )
    pipeline = next(r for r in report["runs"] if r["name"] == "pipeline")
    hops = pipeline["hops"]  # every stage stamped every result it passed on
    assert list(hops) == [name for name, _, _ in SEGMENTS]
    assert all(h["count"] > 0 and h["p50_ms"] >= 0 and h["p99_ms"] >= h["p50_ms"] for h in hops.values()), (
        hops
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--videos", "/nonexistent/clip.mp4"), "no such video: /nonexistent/clip.mp4"),
        (("--replicas", "ingest=2"), "ingest"),
    ],
)
def test_bad_arguments_fail_clearly(args: tuple[str, ...], message: str) -> None:
    proc = bench("--mode", "file", *args)
    assert proc.returncode == 2
    assert message in proc.stdout


def test_stage_figures_sum_replicas_and_divide_by_the_right_count() -> None:
    stages, batches, faces = stage_figures(
        {
            "detector:a": {"busy_ms": 300, "processed": 10, "passes": 2},
            "detector:b": {"busy_ms": 100, "processed": 10, "passes": 3},
            "classifier:a": {"busy_ms": 500, "processed": 20, "passes": 5, "faces": 50},
            "tracker:a": {"busy_ms": 40, "acked": 20},
            "ingest:a": {"frames": 20},
        }
    )
    assert stages == {"classifier_per_face": 10.0, "detector": 20.0, "tracker": 2.0}
    assert batches == {"classifier_faces": 10.0, "detector_frames": 4.0}
    assert faces == 50


def test_camera_live_counts_drops_from_the_seqs_it_did_not_get() -> None:
    cam = camera_live([100.0, 200.0, 300.0, 400.0], [1, 2, 5, 10], seconds=2.0)
    assert (cam.offered_fps, cam.annotated_fps, cam.drop_rate) == (5.0, 2.0, 0.6)
    assert cam.p50_ms == 250 and 396 <= (cam.p99_ms or 0) <= 400
    starved = camera_live([], [], seconds=2.0)
    assert (starved.annotated_fps, starved.drop_rate, starved.p99_ms) == (0.0, 1.0, None)
