"""Pure parts of the ui: basic-auth parsing, upload names and probing, job state, dwell time,
the timeline plot, the health panel and settings from the environment."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.annotate import COLOURS_BGR
from services.common.job_journal import JobResult
from services.common.job_store import JobRecord, JobSummary
from services.common.schema import Skip, Track, Tracks
from services.common.timeline import encode_tracks, video_timeline
from services.ui import job_manager
from services.ui.auth import credentials
from services.ui.job_manager import Job, UploadError, probe_video, safe_name
from services.ui.pipeline import Snapshot, entry_ms, panel_html
from services.ui.settings import UISettings
from services.ui.stage import DWELL_GRACE_MS, dwell
from services.ui.timeline import label_rows, timeline_png
from services.ui.webcam import camera_for


def b64(text: str) -> bytes:
    return b"Basic " + base64.b64encode(text.encode())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b64("emostream:pw"), ("emostream", "pw")),
        (b64("u:pa:ss"), ("u", "pa:ss")),
        (b64("nocolon"), None),
        (b"Bearer abc", None),
        (b"Basic !!!", None),
        (b"Basic", None),
    ],
)
def test_credentials(header: bytes, expected: tuple[str, str] | None) -> None:
    assert credentials(header) == expected


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("a b?.mov", "a_b_.mov"),
        ("", "video"),
        ("..", "video"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_probe_video(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    assert probe_video(video, "v.avi") == (5, 10.0)
    with pytest.raises(UploadError, match="is not a video") as info:
        probe_video(video, "v.txt")
    assert info.value.status == 415
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 100)
    with pytest.raises(UploadError, match="not a readable video"):
        probe_video(tmp_path / "junk.mp4", "junk.mp4")


@pytest.mark.parametrize(
    ("status", "done", "total", "progress"),
    [("queued", 0, 0, 0.0), ("running", 36, 72, 0.5), ("running", 72, 72, 0.99), ("done", 72, 72, 1.0)],
)
def test_job_progress(status: str, done: int, total: int, progress: float) -> None:
    job = Job(
        "id1", "a.mp4", Path("/x"), Path("/nonexistent"), status=status, frames_done=done, frames_total=total
    )
    assert job.progress == progress
    assert job.json()["files"] == {}  # nothing on disk


def tracks_at(captured_ms: int, *ids: int, seq: int = 0) -> Tracks:
    return Tracks(
        camera_id="c",
        seq=seq,
        captured_ms=captured_ms,
        frame_key="k",
        size_wh=(10, 10),
        tracks=tuple(
            Track(
                track_id=i, box_xyxy=(0, 0, 1, 1), label="happy", confidence=1.0, raw_label="happy", probs={}
            )
            for i in ids
        ),
    )


def test_dwell_keeps_first_seen_and_forgets_after_the_grace() -> None:
    seen = dwell({}, tracks_at(1_000, 1))
    seen = dwell(seen, tracks_at(2_000, 1, 2))
    assert seen == {1: (1_000, 2_000), 2: (2_000, 2_000)}
    seen = dwell(seen, tracks_at(2_500, 2))  # 1 missing for a moment: kept
    assert seen[1] == (1_000, 2_000)
    seen = dwell(seen, tracks_at(2_000 + DWELL_GRACE_MS, 2))  # 1 gone for the grace: forgotten
    assert 1 not in seen and seen[2][0] == 2_000


def test_timeline_rows_and_png() -> None:
    result = JobResult(
        frames={
            0: tracks_at(0, 1, seq=0),
            1: Skip(camera_id="c", seq=1, captured_ms=0, stage="detector", reason="x"),
            2: tracks_at(0, 1, 4, seq=2),
            3: tracks_at(0, 4, seq=3),
        }
    )
    tracks = video_timeline(result, 25.0)
    rows = label_rows(tracks, 4)
    # a segment spans the frames in which its track is not seen (as in timeline.json)
    assert rows == {1: ["happy", "happy", "happy", ""], 4: ["", "", "happy", "happy"]}
    assert label_rows(tracks, 3) == {1: ["happy"] * 3, 4: ["", "", "happy"]}, "cut at the video's end"
    img = cv2.imdecode(np.frombuffer(timeline_png(tracks, 4, 25.0), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[1] == 900
    happy = np.all(np.abs(img.astype(int) - np.array(COLOURS_BGR["happy"])) < 10, axis=2)
    assert happy.sum() > 500  # the bars (and the legend) are drawn in the emotion's colour
    empty = cv2.imdecode(np.frombuffer(timeline_png([], 0, 25.0), np.uint8), cv2.IMREAD_COLOR)
    assert empty is not None


def test_entry_ms_and_health_panel() -> None:
    assert entry_ms(b"1700000000123-4") == 1700000000123
    assert "reading the pipeline" in panel_html(Snapshot())
    snap = Snapshot(
        services={"tracker:h-1": {"cameras": 2, "dropped": 5, "note": "x"}},
        latency_ms={"cam<1>": {"frames": 12, "tracks": 340}},
        lag={"cam<1>": {"detector": 0, "classifier": 3, "tracker": 1}},
        read_ms=1,
    )
    page = panel_html(snap)
    assert 'data-service="tracker"' in page and "<td>h-1</td>" in page and "<td>5</td>" in page
    assert "cam&lt;1&gt;" in page and "<td>340 ms</td>" in page and "<td>3</td>" in page
    assert "no service is reporting" in panel_html(Snapshot(read_ms=1))


def test_webcam_camera_names_are_valid_registry_names() -> None:
    assert camera_for("a/b c") == "webcam-abc"
    assert camera_for("!!!") == "webcam-anon"
    assert len(camera_for("x" * 100)) == len("webcam-") + 12


def test_password_and_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOSTREAM_UI_PASSWORD", "pw")
    monkeypatch.setenv("EMOSTREAM_MAX_UPLOAD_MB", "1.5")
    settings = UISettings()
    assert settings.ui_password == "pw" and settings.ui_user == "emostream"
    assert settings.max_upload_bytes == int(1.5 * 1024 * 1024)


def test_timeline_png_is_drawn_at_the_videos_frame_rate_while_the_job_is_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "timeline.json").write_bytes(encode_tracks(()))
    job = JobRecord("j1", "v.mp4", "/v.mp4", str(tmp_path), status="writing")  # extra outputs come first
    job.summary = JobSummary(
        video="v.mp4",
        frames=7,
        fps=10.0,
        processing_s=1.0,
        processing_fps=7.0,
        frames_with_faces=0,
        frames_skipped=0,
        tracks=(),
    )
    drawn: list[tuple[int, float]] = []
    monkeypatch.setattr(
        job_manager, "timeline_png", lambda tracks, frames, fps: drawn.append((frames, fps)) or b"png"
    )
    job_manager.write_timeline_png(job, JobResult())
    assert drawn == [(7, 10.0)], "the summary's frames and fps, not the 25 fps fallback"
    assert (tmp_path / "timeline.png").read_bytes() == b"png"
