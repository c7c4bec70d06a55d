"""Privacy modes: what of a face may leave the pipeline (``EMOSTREAM_PRIVACY``, docs/privacy.md).

``off`` (the default) shows faces as captured. ``blur`` blurs every detected face in every image that
leaves the pipeline: the dashboard's tiles, MJPEG streams and snapshots, and a job's ``annotated.mp4``.
The detector, classifier and tracker still see the raw frame in memory; only what is drawn for people to
see is blurred. A face is blurred where the detector found it in that frame (``Tracks.face_boxes``) and
where its track's smoothed box is, each with a margin; a frame whose faces are not known yet (no tracker
output so far) is blurred whole.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from services.common.schema import Box

#: the box grows by this share of its size on each side (hair, chin and ears are part of a face)
MARGIN = 0.35
#: a blurred face keeps this many cells across: a blob of skin colour, nothing a person or a face
#: detector can recognise (tests/unit/common/test_privacy.py runs MTCNN over the result)
CELLS = 3
#: a frame whose faces are not known yet keeps this many cells across its longer side
WHOLE_CELLS = 8


def _cells_blur(region: np.ndarray, cells_w: int, cells_h: int) -> np.ndarray:
    """``region`` reduced to ``cells_w`` x ``cells_h`` averages and smoothly enlarged back."""
    h, w = region.shape[:2]
    small_w, small_h = max(1, min(w, cells_w)), max(1, min(h, cells_h))
    small = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def blur_boxes(frame_bgr: np.ndarray, boxes: Iterable[Box], margin: float = MARGIN) -> np.ndarray:
    """Blur each box of ``frame_bgr`` (grown by ``margin`` of its size, clipped to the frame) in place;
    returns the frame. Boxes outside the frame or with no area are skipped."""
    h, w = frame_bgr.shape[:2]
    for x1, y1, x2, y2 in boxes:
        bw, bh = x2 - x1, y2 - y1
        if not (bw > 0 and bh > 0):
            continue
        left, top = max(0, int(x1 - margin * bw)), max(0, int(y1 - margin * bh))
        right, bottom = min(w, int(np.ceil(x2 + margin * bw))), min(h, int(np.ceil(y2 + margin * bh)))
        if right <= left or bottom <= top:
            continue
        frame_bgr[top:bottom, left:right] = _cells_blur(frame_bgr[top:bottom, left:right], CELLS, CELLS)
    return frame_bgr


def blur_whole(frame_bgr: np.ndarray) -> np.ndarray:
    """The whole frame blurred (its faces are not known): :data:`WHOLE_CELLS` cells across its longer
    side, so even a face that fills the frame keeps no more cells than that."""
    h, w = frame_bgr.shape[:2]
    long = max(h, w, 1)
    frame_bgr[:] = _cells_blur(
        frame_bgr, max(1, round(WHOLE_CELLS * w / long)), max(1, round(WHOLE_CELLS * h / long))
    )
    return frame_bgr
