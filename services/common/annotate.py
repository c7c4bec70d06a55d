"""Drawing tracks on frames; one colour per emotion, shared by the UI and ``analyze``."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from services.common import privacy
from services.common.schema import Track, Tracks
from services.common.settings import Privacy

#: BGR colour per canonical label (the UI uses the same colours as hex, see :func:`hex_colour`).
COLOURS_BGR: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 60),
    "fear": (160, 60, 150),
    "happy": (0, 200, 255),
    "sad": (200, 110, 30),
    "surprise": (0, 140, 255),
    "neutral": (170, 170, 170),
    "contempt": (90, 90, 140),
}


def hex_colour(label: str) -> str:
    b, g, r = COLOURS_BGR.get(label, (255, 255, 255))
    return f"#{r:02x}{g:02x}{b:02x}"


def draw_tracks(frame_bgr: np.ndarray, tracks: Iterable[Track]) -> np.ndarray:
    """Draw each track's box, id, shown label and confidence onto ``frame_bgr`` in place; returns it."""
    h, w = frame_bgr.shape[:2]
    thickness = max(1, round(min(h, w) / 240))
    scale = max(0.4, min(h, w) / 720)
    for t in tracks:
        colour = COLOURS_BGR.get(t.label, (255, 255, 255))
        x1, y1, x2, y2 = (int(round(v)) for v in t.box_xyxy)
        cv2.rectangle(frame_bgr, (x1, y1), (x2, y2), colour, thickness)
        text = f"#{t.track_id} {t.label} {t.confidence:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - base - 4)
        cv2.rectangle(frame_bgr, (x1, top), (x1 + tw + 6, top + th + base + 4), colour, -1)
        cv2.putText(
            frame_bgr,
            text,
            (x1 + 3, top + th + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (20, 20, 20),
            1,
            cv2.LINE_AA,
        )
    return frame_bgr


def render(frame_bgr: np.ndarray, msg: Tracks | None, mode: Privacy = "off") -> np.ndarray:
    """``frame_bgr`` as people see it, in place: under ``mode`` ``"blur"`` every face of ``msg`` blurred
    (the whole frame when ``msg`` is None: its faces are not known), then the tracks drawn."""
    if mode == "blur":
        if msg is None:
            return privacy.blur_whole(frame_bgr)
        privacy.blur_boxes(frame_bgr, (*msg.face_boxes, *(t.box_xyxy for t in msg.tracks)))
    return draw_tracks(frame_bgr, msg.tracks if msg is not None else ())
