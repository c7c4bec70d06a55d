"""The outputs of a file job: ``annotated.mp4`` (H.264, every frame), ``tracks.csv`` (one row per frame and
track) and ``timeline.json`` (``services.common.timeline``), written from what the job collected; the
:class:`~services.common.job_store.JobSummary` for ``summary.json`` is returned."""

from __future__ import annotations

import csv
import threading
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from services.common.annotate import render
from services.common.job_journal import JobResult
from services.common.job_store import JobSummary, TrackSummary
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Skip, Tracks
from services.common.settings import Privacy
from services.common.timeline import encode_tracks, video_timeline

CSV_HEAD = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "label", "confidence", "raw_label"]


class H264Writer:
    """Writes BGR frames to an H.264 MP4 that browsers play (OpenCV's ``mp4v`` is not playable there).

    Uses the ffmpeg binary (with libx264) bundled in the imageio-ffmpeg wheel; one output frame per
    frame written (constant rate ``fps``); odd sizes are padded by one pixel (yuv420p needs even sizes).
    """

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int]) -> None:
        import imageio_ffmpeg  # only the processes that write videos need it

        self.size_wh = size_wh
        self._gen = imageio_ffmpeg.write_frames(
            str(path),
            size_wh,
            fps=fps,
            codec="libx264",
            pix_fmt_in="bgr24",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=[
                *("-preset", "veryfast", "-crf", "23", "-movflags", "+faststart"),
                *("-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"),
            ],
        )
        self._gen.send(None)

    def write(self, frame_bgr: np.ndarray) -> None:
        h, w = frame_bgr.shape[:2]
        if (w, h) != self.size_wh:
            raise ValueError(f"frame is {w}x{h}, the video is {self.size_wh[0]}x{self.size_wh[1]}")
        self._gen.send(np.ascontiguousarray(frame_bgr, dtype=np.uint8))

    def close(self) -> None:
        self._gen.close()


COUNTS_HEAD = ["frame", "time_s", *(f"n_{label}" for label in CANONICAL_LABELS)]


def write_counts(path: Path, result: JobResult, frames: int, fps: float) -> None:
    """``counts.csv``: per frame, the faces showing each label (what the ``aggregate`` identity mode
    keeps instead of tracks; a frame the pipeline skipped has no row)."""
    with open(path, "w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(COUNTS_HEAD)
        for index in range(frames):
            msg = result.frames.get(index)
            if isinstance(msg, Tracks):
                counts = msg.label_counts()
                rows.writerow([index, f"{index / fps:.3f}", *(counts.get(lb, 0) for lb in CANONICAL_LABELS)])


def write_outputs(
    video: Path,
    out: Path,
    result: JobResult,
    processing_s: float,
    stop: threading.Event | None = None,
    privacy: Privacy = "off",
) -> JobSummary:
    """Annotate every frame of ``video`` and write the outputs and ``timeline.json``; returns the summary
    (its ``video`` is the path of ``video``). Under ``privacy`` ``"blur"`` every face of
    ``annotated.mp4`` is blurred (a frame the pipeline skipped, whose faces are not known, whole).

    Raises InterruptedError when ``stop`` is set before the outputs are complete; the partial
    ``annotated.mp4`` and ``tracks.csv`` are removed first, so an interrupted job leaves no output that
    looks whole.

    Long because: one pass over the video writes the annotated frames, the CSV rows and the per-track totals
    together, so the video is decoded once.
    """
    cap = cv2.VideoCapture(str(video))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
    writer: H264Writer | None = None
    per_track: dict[int, Counter[str]] = {}
    first_last: dict[int, list[int]] = {}
    probs_sum: dict[int, Counter[str]] = {}
    index = 0
    with open(out / "tracks.csv", "w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(CSV_HEAD + [f"p_{label}" for label in CANONICAL_LABELS])
        while not (stopped := stop is not None and stop.is_set()):
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = H264Writer(out / "annotated.mp4", fps, (w, h))
            msg = result.frames.get(index)
            tracks = msg.tracks if isinstance(msg, Tracks) else ()
            render(frame, msg if isinstance(msg, Tracks) else None, privacy)
            writer.write(frame)
            for t in tracks:
                rows.writerow(
                    [
                        index,
                        f"{index / fps:.3f}",
                        t.track_id,
                        *(f"{v:.1f}" for v in t.box_xyxy),
                        t.label,
                        f"{t.confidence:.4f}",
                        t.raw_label,
                        *(f"{t.probs.get(label, 0.0):.4f}" for label in CANONICAL_LABELS),
                    ]
                )
                per_track.setdefault(t.track_id, Counter())[t.label] += 1
                first_last.setdefault(t.track_id, [index, index])[1] = index
                probs_sum.setdefault(t.track_id, Counter()).update(t.probs)
            index += 1
    cap.release()
    if writer is not None:
        writer.close()
    if stopped:
        for name in ("annotated.mp4", "tracks.csv"):
            (out / name).unlink(missing_ok=True)
        raise InterruptedError("stopped while writing the outputs; the partial outputs were removed")
    (out / "timeline.json").write_bytes(encode_tracks(video_timeline(result, fps)))
    if any(isinstance(m, Tracks) and m.counts for m in result.frames.values()):
        write_counts(out / "counts.csv", result, index, fps)
    return JobSummary(
        video=str(video),
        frames=index,
        fps=round(fps, 3),
        processing_s=round(processing_s, 3),
        processing_fps=round(index / processing_s, 2) if processing_s > 0 else None,
        frames_with_faces=sum(
            1 for m in result.frames.values() if isinstance(m, Tracks) and m.label_counts()
        ),
        frames_skipped=sum(1 for m in result.frames.values() if isinstance(m, Skip)),
        tracks=tuple(
            TrackSummary(
                track_id=tid,
                frames=sum(labels.values()),
                first_seq=first_last[tid][0],
                last_seq=first_last[tid][1],
                dominant_emotion=labels.most_common(1)[0][0],
                mean_probs={k: round(v / sum(labels.values()), 4) for k, v in probs_sum[tid].items()},
            )
            for tid, labels in sorted(per_track.items())
        ),
    )
