"""``emostream analyze`` end to end: real services as processes, real Redis, real MTCNN and classifier."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.cli.stack import Stack
from services.common.labels import CANONICAL_LABELS

# the contract of the pipeline issue, spelled out rather than imported from the code under test
CSV_HEAD = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "label", "confidence", "raw_label"]

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def run_analyze(
    redis_url: str, video: Path, out: Path | None, cwd: Path | None = None, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMOSTREAM_REDIS_URL": redis_url, **env_vars}
    where = ["--out", str(out)] if out is not None else []
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "analyze", str(video), *where, "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    n, size = 0, (0, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, size = n + 1, (frame.shape[1], frame.shape[0])
    cap.release()
    return n, size


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def sliding_face_clip(still: Path, out: Path, frames: int = 40) -> list[tuple[float, float, float, float]]:
    """A clip nobody has seen: a face photo sliding over a grey background. Returns where it was pasted."""
    face = cv2.imread(str(still))
    h, w = face.shape[:2]
    scale = 200 / h
    face = cv2.resize(face, (int(w * scale), 200))
    fh, fw = face.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), 20.0, (640, 360))
    pasted = []
    for i in range(frames):
        canvas = np.full((360, 640, 3), 90, np.uint8)
        x = int(10 + i * (640 - fw - 20) / (frames - 1))
        canvas[80 : 80 + fh, x : x + fw] = face
        writer.write(canvas)
        pasted.append((float(x), 80.0, float(x + fw), float(80 + fh)))
    writer.release()
    return pasted


def test_analyze_single_face_writes_three_outputs(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    video = sample_media / "single_face.mp4"
    done = run_analyze(services_up.redis_url, video, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    frames_in, size_in = count_frames(video)
    frames_out, size_out = count_frames(tmp_path / "annotated.mp4")
    assert (frames_out, size_out) == (frames_in, size_in)

    header, rows = read_rows(tmp_path / "tracks.csv")
    assert header == CSV_HEAD + [f"p_{label}" for label in CANONICAL_LABELS]
    assert {int(r["frame"]) for r in rows} == set(range(frames_in)), "the face is found in every frame"
    assert {r["track_id"] for r in rows} == {"1"}, "one face, one identity"
    for r in rows:
        x1, y1, x2, y2 = (float(r[k]) for k in ("x1", "y1", "x2", "y2"))
        assert 0 <= x1 < x2 <= size_in[0] and 0 <= y1 < y2 <= size_in[1]
        assert r["label"] in CANONICAL_LABELS and r["raw_label"] in CANONICAL_LABELS
        assert sum(float(r[f"p_{label}"]) for label in CANONICAL_LABELS) == pytest.approx(1.0, abs=0.01)
        assert float(r["time_s"]) == pytest.approx(int(r["frame"]) / 30.0, abs=0.002)

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "done"
    assert summary["frames"] == frames_in
    assert summary["fps"] == pytest.approx(30.0, abs=0.1)
    assert summary["processing_s"] > 0
    assert [t["track_id"] for t in summary["tracks"]] == [1]
    assert summary["tracks"][0]["dominant_emotion"] in CANONICAL_LABELS

    timeline = json.loads((tmp_path / "timeline.json").read_text())
    assert [t["track_id"] for t in timeline] == [1]
    segments = timeline[0]["segments"]
    # the segments tile the track's frames in order, and each one is the CSV's shown label over its span
    assert segments[0]["start_seq"] == 0 and segments[-1]["end_seq"] == frames_in - 1
    for before, after in zip(segments, segments[1:], strict=False):
        assert after["start_seq"] == before["end_seq"] + 1 and after["label"] != before["label"]
    shown = {int(r["frame"]): r["label"] for r in rows}
    for seg in segments:
        assert {shown[f] for f in range(seg["start_seq"], seg["end_seq"] + 1)} == {seg["label"]}
        assert seg["start_s"] == pytest.approx(seg["start_seq"] / 30.0, abs=0.002)
        assert seg["end_s"] == pytest.approx(seg["end_seq"] / 30.0, abs=0.002)


def test_analyze_follows_a_moving_face_in_an_unseen_clip(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    video = tmp_path / "sliding.mp4"
    pasted = sliding_face_clip(sample_media / "single_face.jpg", video)
    done = run_analyze(services_up.redis_url, video, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    _, rows = read_rows(tmp_path / "out" / "tracks.csv")
    assert {r["track_id"] for r in rows} == {"1"}, "no identity switch on a single moving face"
    found = {int(r["frame"]): r for r in rows}
    assert len(found) >= 0.9 * len(pasted)
    for frame, row in found.items():
        px1, _, px2, _ = pasted[frame]
        centre = (float(row["x1"]) + float(row["x2"])) / 2
        assert px1 <= centre <= px2, (
            f"frame {frame}: box centre {centre} outside the pasted face {px1}..{px2}"
        )


def test_analyze_an_unreadable_video_is_refused_before_anything_starts(tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(os.urandom(50_000))
    env = {**os.environ, "EMOSTREAM_REDIS_URL": "redis://127.0.0.1:9/0"}  # nothing there: none is needed
    argv = [sys.executable, "-m", "services.cli", "analyze", str(video), "--out", str(tmp_path / "out")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot read" in done.stdout and "broken.mp4" in done.stdout
    assert not (tmp_path / "out").exists()


def test_analyze_without_out_writes_next_to_where_it_runs_and_says_where(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    done = run_analyze(services_up.redis_url, sample_media / "single_face.mp4", None, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "single_face-emostream"
    assert (out / "summary.json").is_file() and (out / "annotated.mp4").is_file()
    assert str(out) in done.stdout


def analyze_refused(video: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``analyze`` with bad arguments: it must refuse before starting anything."""
    argv = [sys.executable, "-m", "services.cli", "analyze", str(video), "--out", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_analyze_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = analyze_refused(tmp_path / "nope.mp4", tmp_path / "out")
    assert done.returncode == 2
    assert "no such file" in done.stdout and "nope.mp4" in done.stdout


def test_analyze_a_folder_runs_concurrent_jobs_each_with_its_own_outputs(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(sample_media / "single_face.mp4", videos / "a.mp4")
    sliding_face_clip(sample_media / "single_face.jpg", videos / "b.mp4", frames=30)
    (videos / "c.mp4").write_bytes(os.urandom(50_000))  # not decodable
    (videos / "notes.txt").write_text("not a video: ignored")
    done = run_analyze(services_up.redis_url, videos, tmp_path / "out")
    assert done.returncode == 1, "one job failed"
    assert "c.mp4" in done.stdout and "job failed" in done.stdout, done.stdout
    for name, frames in (("a", count_frames(videos / "a.mp4")[0]), ("b", 30)):
        summary = json.loads((tmp_path / "out" / name / "summary.json").read_text())
        assert summary["status"] == "done" and summary["frames"] == frames, (name, summary)
        assert (tmp_path / "out" / name / "annotated.mp4").is_file()
    failed = json.loads((tmp_path / "out" / "c" / "summary.json").read_text())
    assert failed["status"] == "failed"
    assert not (tmp_path / "out" / "notes").exists()


def test_analyze_a_folder_without_videos_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = analyze_refused(tmp_path / "empty", tmp_path / "o")
    assert done.returncode == 2
    assert "no video in folder" in done.stdout


def drifting_group_clip(still: Path, out: Path, frames: int = 16) -> None:
    """A group photo (five faces) drifting right by 2 px a frame, at 960x640."""
    group = cv2.resize(cv2.imread(str(still)), (1000, 667))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (960, 640))
    for i in range(frames):
        writer.write(np.ascontiguousarray(group[10:650, 2 * i : 2 * i + 960]))
    writer.release()


def test_privacy_blur_keeps_the_tracks_and_leaves_no_face_in_the_video(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    """The issue's check: EMOSTREAM_PRIVACY=blur emostream analyze on a multi-face clip keeps its tracks,
    and MTCNN finds no face in annotated.mp4 (it finds all five in the clip itself)."""
    from services.detector.model import MtcnnDetector

    video = tmp_path / "group.mp4"
    drifting_group_clip(sample_media / "multi_face.jpg", video)
    done = run_analyze(services_up.redis_url, video, tmp_path / "out", EMOSTREAM_PRIVACY="blur")
    assert done.returncode == 0, done.stdout + done.stderr
    _, rows = read_rows(tmp_path / "out" / "tracks.csv")
    assert len({r["track_id"] for r in rows}) == 5, "every face is still tracked and labelled"

    detector = MtcnnDetector(device="cpu")

    def faces_in(path: Path) -> list[int]:
        cap = cv2.VideoCapture(str(path))
        found: list[int] = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            found.append(len(detector.detect([frame])[0]))
        cap.release()
        return found

    assert min(faces_in(video)) >= 5, "MTCNN finds the five faces in every frame of the clip itself"
    seen = faces_in(tmp_path / "out" / "annotated.mp4")
    assert len(seen) == 16 and sum(seen) == 0, f"faces MTCNN still finds per frame: {seen}"
