"""File jobs: collect a job's tracks from Redis and write its outputs (annotated video, CSV, summary).

Used by ``emostream analyze`` and by the UI's video jobs, so both produce the same files.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import redis

from services.common import codec, keys, registry
from services.common.annotate import draw_tracks
from services.common.labels import CANONICAL_LABELS
from services.common.schema import End, Message, Skip, Tracks

log = logging.getLogger(__name__)

CSV_HEAD = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "label", "confidence", "raw_label"]


class JobError(RuntimeError):
    """The job could not finish; the message says why."""


@dataclass
class JobResult:
    frames: dict[int, Message] = field(default_factory=dict)  # seq -> Tracks or Skip
    end: End | None = None


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


def collect(
    client: redis.Redis,
    camera_id: str,
    stall_timeout_s: float,
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> JobResult:
    """Read the job's tracks stream from the start until its End marker.

    ``on_progress(done, total)`` is called as frames complete (``total`` 0 while unknown). Raises
    :class:`JobError` after ``stall_timeout_s`` without progress, or when ``stop`` is set.
    """
    result = JobResult()
    stream = keys.stream("tracks", camera_id)
    last_id: bytes | str = "0"
    last_progress = time.monotonic()
    total = 0
    while result.end is None:
        if stop is not None and stop.is_set():
            raise JobError("cancelled")
        reply = client.xread({stream: last_id}, count=256, block=500)
        for _, items in cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], reply or []):
            for entry_id, fields in items:
                last_id = entry_id
                msg = codec.decode(fields)
                if isinstance(msg, End):
                    result.end = msg
                elif isinstance(msg, Tracks | Skip) and msg.seq not in result.frames:
                    result.frames[msg.seq] = msg
                    last_progress = time.monotonic()
        cam = registry.get(client, camera_id)
        total = cam.total_frames if cam is not None and cam.total_frames else total
        if on_progress is not None:
            on_progress(len(result.frames), total)
        if time.monotonic() - last_progress > stall_timeout_s:
            raise JobError(f"no progress for {stall_timeout_s:.0f} s (is every service running?)")
    return result


def write_outputs(video: Path, out: Path, result: JobResult, processing_s: float) -> dict[str, object]:
    """Annotate every frame of ``video`` and write the outputs and ``timeline.json``; returns the summary."""
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
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = H264Writer(out / "annotated.mp4", fps, (w, h))
            msg = result.frames.get(index)
            tracks = msg.tracks if isinstance(msg, Tracks) else ()
            draw_tracks(frame, tracks)
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
    (out / "timeline.json").write_text(json.dumps(timeline(result, fps), indent=1))
    summary: dict[str, object] = {
        "video": str(video),
        "frames": index,
        "fps": round(fps, 3),
        "processing_s": round(processing_s, 3),
        "processing_fps": round(index / processing_s, 2) if processing_s > 0 else None,
        "frames_with_faces": sum(1 for m in result.frames.values() if isinstance(m, Tracks) and m.tracks),
        "frames_skipped": sum(1 for m in result.frames.values() if isinstance(m, Skip)),
        "tracks": [
            {
                "track_id": tid,
                "frames": sum(labels.values()),
                "first_frame": first_last[tid][0],
                "last_frame": first_last[tid][1],
                "dominant_emotion": labels.most_common(1)[0][0],
                "mean_probs": {k: round(v / sum(labels.values()), 4) for k, v in probs_sum[tid].items()},
            }
            for tid, labels in sorted(per_track.items())
        ],
    }
    return summary


def timeline(result: JobResult, fps: float) -> list[dict[str, Any]]:
    """Per track, the segments of its shown label (``timeline.json``)::

        [{"track_id": int, "segments": [{"label": str, "start_frame": int, "end_frame": int,  # inclusive
                                         "start_s": float, "end_s": float, "frames": int,
                                         "mean_probs": {label: float}}]}]   # smoothed, averaged

    A segment ends where the shown label changes; frames where the track is not seen do not split it.
    """
    tracks: dict[int, list[dict[str, Any]]] = {}
    sums: dict[tuple[int, int], Counter[str]] = {}
    for seq in sorted(result.frames):
        msg = result.frames[seq]
        for t in msg.tracks if isinstance(msg, Tracks) else ():
            segs = tracks.setdefault(t.track_id, [])
            if not segs or segs[-1]["label"] != t.label:
                segs.append(
                    {"label": t.label, "start_frame": seq, "start_s": round(seq / fps, 3), "frames": 0}
                )
            seg = segs[-1]
            seg.update(end_frame=seq, end_s=round(seq / fps, 3), frames=seg["frames"] + 1)
            sums.setdefault((t.track_id, len(segs)), Counter()).update(t.probs)
    for tid, segs in tracks.items():
        for i, seg in enumerate(segs, start=1):
            seg["mean_probs"] = {k: round(v / seg["frames"], 4) for k, v in sums[(tid, i)].items()}
    return [{"track_id": tid, "segments": segs} for tid, segs in sorted(tracks.items())]


def cleanup(client: redis.Redis, camera_id: str) -> None:
    """Unregister the job and delete its streams and any frame it left behind."""
    registry.remove(client, camera_id)
    leftovers = list(client.scan_iter(match=f"frame:{camera_id}:*", count=1000))
    if leftovers:
        client.delete(*leftovers)
