"""job_outputs.write_outputs writes browser-playable H.264 (not OpenCV's mp4v) and keeps every frame."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.annotate import COLOURS_BGR
from services.common.job_journal import JobResult
from services.common.job_outputs import H264Writer, write_outputs
from services.common.schema import Track, Tracks


def make_video(path: Path, frames: int, size_wh: tuple[int, int], fps: float = 20.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size_wh)
    for i in range(frames):
        img = np.full((size_wh[1], size_wh[0], 3), 90, np.uint8)
        img[:, : (i * 7) % size_wh[0]] = 140  # every frame differs
        writer.write(img)
    writer.release()


def probe(path: Path) -> str:
    import imageio_ffmpeg

    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True
    )
    return done.stderr.decode(errors="replace")


def count_frames(path: Path) -> tuple[int, tuple[int, int], np.ndarray | None]:
    cap = cv2.VideoCapture(str(path))
    n, size, first = 0, (0, 0), None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        first = frame if first is None else first
        n, size = n + 1, (frame.shape[1], frame.shape[0])
    cap.release()
    return n, size, first


@pytest.mark.parametrize(("frames", "size_wh"), [(45, (320, 240)), (7, (161, 121))])
def test_write_outputs_is_h264_with_every_frame(
    tmp_path: Path, frames: int, size_wh: tuple[int, int]
) -> None:
    video = tmp_path / "in.mp4"
    make_video(video, frames, size_wh)
    track = Track(
        track_id=3,
        box_xyxy=(40.0, 60.0, 140.0, 110.0),
        label="sad",
        confidence=0.9,
        raw_label="sad",
        probs={"sad": 0.9, "happy": 0.1},
    )
    result = JobResult(
        frames={
            0: Tracks(camera_id="j", seq=0, captured_ms=1, frame_key="k", size_wh=size_wh, tracks=(track,))
        }
    )

    summary = write_outputs(video, tmp_path, result, processing_s=1.0)

    out = tmp_path / "annotated.mp4"
    info = probe(out)
    assert "Video: h264" in info and "yuv420p" in info, info
    n_in, (w_in, h_in), _ = count_frames(video)
    n, (w, h), first = count_frames(out)
    assert n == n_in == frames == summary.frames
    assert (w, h) == (w_in + w_in % 2, h_in + h_in % 2)  # odd sizes are padded to even ones
    assert first is not None
    # The label above the box is filled with the emotion's colour (its left margin holds no text).
    fill = np.median(first[47:57, 41:43].reshape(-1, 3), axis=0)
    assert np.abs(fill - np.array(COLOURS_BGR["sad"])).max() < 30, fill


def test_h264_writer_refuses_a_frame_of_another_size(tmp_path: Path) -> None:
    writer = H264Writer(tmp_path / "x.mp4", 10.0, (64, 48))
    try:
        with pytest.raises(ValueError, match="64x48"):
            writer.write(np.zeros((50, 64, 3), np.uint8))
    finally:
        writer.close()
