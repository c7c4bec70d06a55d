"""The per-track emotion timeline of a video job as a PNG: one row per track, coloured by shown label.

Drawn from the job's timeline (``timeline.json``, :class:`services.common.timeline.TrackSegments`): each
segment fills its frames with its label, so the plot shows exactly what ``timeline.json`` says.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from services.common.annotate import COLOURS_BGR
from services.common.timeline import TrackSegments

ROW_H = 26
LEFT = 90
WIDTH = 900


def label_rows(tracks: Iterable[TrackSegments], frames: int) -> dict[int, list[str]]:
    """track id -> shown label per frame index ("" outside the track's segments) of a video's timeline."""
    rows: dict[int, list[str]] = {}
    for track in tracks:
        row = rows.setdefault(track.track_id, [""] * frames)
        for seg in track.segments:
            for f in range(max(seg.start_seq, 0), min(seg.end_seq + 1, frames)):
                row[f] = seg.label
    return dict(sorted(rows.items()))


def timeline_png(tracks: Iterable[TrackSegments], frames: int, fps: float) -> bytes:
    """Draw :func:`label_rows` (x: time in seconds, one row per track, legend below) as PNG bytes."""
    rows = label_rows(tracks, max(frames, 1))
    labels = [lb for lb in COLOURS_BGR if any(lb in r for r in rows.values())] or ["neutral"]
    height = 30 + ROW_H * max(1, len(rows)) + 50
    img = np.full((height, WIDTH, 3), 255, np.uint8)
    plot_w = WIDTH - LEFT - 20
    font = cv2.FONT_HERSHEY_SIMPLEX
    if not rows:
        cv2.putText(img, "no faces found", (LEFT, 40), font, 0.6, (80, 80, 80), 1, cv2.LINE_AA)
    for i, (track_id, per_frame) in enumerate(rows.items()):
        y = 20 + i * ROW_H
        cv2.putText(img, f"track #{track_id}", (8, y + 17), font, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
        cv2.rectangle(img, (LEFT, y), (LEFT + plot_w, y + ROW_H - 6), (235, 235, 235), -1)
        n = len(per_frame)
        for f, label in enumerate(per_frame):
            if label:
                x1 = LEFT + f * plot_w // n
                x2 = max(x1 + 1, LEFT + (f + 1) * plot_w // n)
                cv2.rectangle(img, (x1, y), (x2 - 1, y + ROW_H - 7), COLOURS_BGR.get(label, (0, 0, 0)), -1)
    axis_y = 24 + ROW_H * max(1, len(rows))
    duration_s = frames / fps if fps > 0 else 0.0
    for k in range(6):
        x = LEFT + k * plot_w // 5
        cv2.line(img, (x, axis_y - 6), (x, axis_y - 2), (90, 90, 90), 1)
        cv2.putText(img, f"{duration_s * k / 5:.1f}s", (x - 12, axis_y + 10), font, 0.4, (60, 60, 60), 1)
    x = LEFT
    for label in labels:
        cv2.rectangle(img, (x, axis_y + 22), (x + 14, axis_y + 34), COLOURS_BGR[label], -1)
        cv2.putText(img, label, (x + 18, axis_y + 33), font, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
        x += 30 + 9 * len(label)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("PNG encoding of the timeline failed")
    return buf.tobytes()
