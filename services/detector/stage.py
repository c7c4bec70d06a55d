"""Face detections as parallel arrays, the detector seam, and the pure steps around detection: filtering,
cropping, and the ``Faces`` message of one frame. No Redis, no environment, no torch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from services.common.appearance import Kind as AppearanceKind
from services.common.appearance import describe, pack
from services.common.image import encode_jpeg
from services.common.schema import Face, Faces, Frame, carried

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceDetections:
    """The faces found in one frame, as parallel arrays.

    Attributes:
        boxes_xyxy: (n, 4) float32, x1, y1, x2, y2 in input-frame pixels.
        scores: (n,) float32 detection confidences in 0..1.
        landmarks_xy: (n, 5, 2) float32 points in input-frame pixels: left eye, right eye, nose,
            mouth left, mouth right.

    Raises:
        ValueError: (from ``__post_init__``) when shapes disagree or scores lie outside 0..1.
    """

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    landmarks_xy: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes_xyxy, dtype=np.float32)
        scores = np.asarray(self.scores, dtype=np.float32)
        landmarks = np.asarray(self.landmarks_xy, dtype=np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes_xyxy must be (n, 4), got {boxes.shape}")
        n = boxes.shape[0]
        if scores.shape != (n,):
            raise ValueError(f"scores must be ({n},) to match boxes_xyxy, got {scores.shape}")
        if landmarks.shape != (n, 5, 2):
            raise ValueError(f"landmarks_xy must be ({n}, 5, 2) to match boxes_xyxy, got {landmarks.shape}")
        if n and (np.isnan(scores).any() or scores.min() < 0.0 or scores.max() > 1.0):
            raise ValueError(f"scores must lie in 0..1, got {scores.tolist()}")
        object.__setattr__(self, "boxes_xyxy", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "landmarks_xy", landmarks)

    @classmethod
    def empty(cls) -> FaceDetections:
        """No faces."""
        return cls(
            boxes_xyxy=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            landmarks_xy=np.zeros((0, 5, 2), np.float32),
        )

    def __len__(self) -> int:
        return int(self.boxes_xyxy.shape[0])

    def __getitem__(self, index: np.ndarray | slice) -> FaceDetections:
        """Select faces by boolean mask, index array or slice."""
        return FaceDetections(self.boxes_xyxy[index], self.scores[index], self.landmarks_xy[index])

    def to_frame(
        self, scale_xy: np.ndarray | float, offset_xy: np.ndarray | float, size_wh: tuple[int, int]
    ) -> FaceDetections:
        """These faces found in a scaled or cut image, in the pixels of the ``size_wh`` frame it came from
        (frame = image * scale + offset), boxes clipped to the frame."""
        scale = np.broadcast_to(np.asarray(scale_xy, np.float32), (2,))
        offset = np.broadcast_to(np.asarray(offset_xy, np.float32), (2,))
        boxes = self.boxes_xyxy * np.tile(scale, 2) + np.tile(offset, 2)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, size_wh[0])
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, size_wh[1])
        return FaceDetections(boxes, self.scores, self.landmarks_xy * scale + offset)


class FaceDetector(Protocol):
    """Finds faces in BGR frames."""

    def detect(self, frames_bgr: Sequence[np.ndarray]) -> list[FaceDetections]:
        """Detect faces in each (h, w, 3) BGR uint8 frame; returns one FaceDetections per frame, in order."""
        ...


def filter_faces(d: FaceDetections, min_score: float, min_size_px: float) -> FaceDetections:
    """Keep faces with ``score >= min_score`` whose shorter box side is ``>= min_size_px`` pixels."""
    wh = d.boxes_xyxy[:, 2:4] - d.boxes_xyxy[:, 0:2]
    keep = (d.scores >= min_score) & (wh.min(axis=1, initial=np.inf) >= min_size_px)
    return d[keep]


def crop_with_margin(
    frame_bgr: np.ndarray, box_xyxy: Sequence[float] | np.ndarray, margin: float
) -> np.ndarray:
    """Cut a square face crop out of a frame.

    The box grows by ``margin`` times its width (left and right) and height (top and bottom), then becomes
    a square of side ``max(w, h)`` around its centre, clipped to the frame (so crops at edges are not
    square).

    Args:
        frame_bgr: (h, w, 3) BGR uint8 frame.
        box_xyxy: x1, y1, x2, y2 in frame pixels.
        margin: fraction of the box size added on each side, >= 0.

    Returns:
        A (ch, cw, 3) copy with ch, cw >= 1.

    Raises:
        ValueError: for a negative margin, a box with x2 < x1 or y2 < y1, or a box entirely outside the frame.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    if not (x2 >= x1 and y2 >= y1):
        raise ValueError(f"box must have x2 >= x1 and y2 >= y1, got {(x1, y1, x2, y2)}")
    fh, fw = frame_bgr.shape[:2]
    if x2 <= 0 or y2 <= 0 or x1 >= fw or y1 >= fh:
        raise ValueError(f"box {(x1, y1, x2, y2)} lies entirely outside the {fw}x{fh} frame")
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    left = int(np.clip(np.floor(cx - side / 2.0), 0, fw - 1))
    top = int(np.clip(np.floor(cy - side / 2.0), 0, fh - 1))
    right = int(np.clip(np.ceil(cx + side / 2.0), left + 1, fw))
    bottom = int(np.clip(np.ceil(cy + side / 2.0), top + 1, fh))
    return frame_bgr[top:bottom, left:right].copy()


def crop_aligned(
    frame_bgr: np.ndarray,
    box_xyxy: Sequence[float] | np.ndarray,
    landmarks_xy: Sequence[Sequence[float]] | np.ndarray,
    margin: float,
) -> np.ndarray:
    """Cut a square face crop rotated about the box centre so that the eyes are level.

    The crop has the side ``crop_with_margin`` gives (``max(w, h) * (1 + 2 * margin)``), centred on the box;
    pixels beyond the frame repeat its border, so crops at edges stay square.

    Args:
        frame_bgr: (h, w, 3) BGR uint8 frame.
        box_xyxy: x1, y1, x2, y2 in frame pixels.
        landmarks_xy: (5, 2) points in frame pixels; rows 0 and 1 are the left and right eye.
        margin: fraction of the box size added on each side, >= 0.

    Returns:
        A (s, s, 3) array with s >= 1.

    Raises:
        ValueError: as :func:`crop_with_margin`, and for landmarks that are not (5, 2).
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    if not (x2 >= x1 and y2 >= y1):
        raise ValueError(f"box must have x2 >= x1 and y2 >= y1, got {(x1, y1, x2, y2)}")
    marks = np.asarray(landmarks_xy, dtype=np.float64)
    if marks.shape != (5, 2):
        raise ValueError(f"landmarks_xy must be (5, 2), got {marks.shape}")
    fh, fw = frame_bgr.shape[:2]
    if x2 <= 0 or y2 <= 0 or x1 >= fw or y1 >= fh:
        raise ValueError(f"box {(x1, y1, x2, y2)} lies entirely outside the {fw}x{fh} frame")
    (lx, ly), (rx, ry) = marks[0], marks[1]
    angle_deg = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    side = max(1, round(max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)))
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    matrix = cv2.getRotationMatrix2D((cx, cy), angle_deg, 1.0)
    matrix[:, 2] += np.array([side / 2.0 - cx, side / 2.0 - cy])
    crop: np.ndarray = cv2.warpAffine(
        frame_bgr, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop


def crop_face(
    frame_bgr: np.ndarray,
    box_xyxy: Sequence[float] | np.ndarray,
    landmarks_xy: Sequence[Sequence[float]] | np.ndarray,
    margin: float,
    align: bool,
) -> np.ndarray:
    """The face crop the classifier gets: :func:`crop_aligned` when ``align``, else :func:`crop_with_margin`.

    Raises ValueError as they do.
    """
    if align:
        return crop_aligned(frame_bgr, box_xyxy, landmarks_xy, margin)
    return crop_with_margin(frame_bgr, box_xyxy, margin)


def faces_of_frame(
    msg: Frame,
    frame_bgr: np.ndarray,
    dets: FaceDetections,
    *,
    min_score: float,
    min_size_px: float,
    crop_margin: float,
    align_faces: bool,
    appearance: AppearanceKind = "none",
) -> Faces:
    """The Faces message of one frame: the detections that pass :func:`filter_faces`, in order, each with its
    box, score, landmarks, JPEG crop (:func:`crop_face`) and ``appearance`` descriptor (empty for
    ``"none"``); identity fields are copied from ``msg``.

    Raises ValueError as :func:`crop_face` does.
    """
    kept = filter_faces(dets, min_score, min_size_px)
    boxes = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in kept.boxes_xyxy]
    faces = tuple(
        Face(
            box_xyxy=xyxy,
            score=float(score),
            landmarks_xy=tuple((float(x), float(y)) for x, y in marks),
            crop_jpeg=encode_jpeg(crop_face(frame_bgr, box, marks, crop_margin, align_faces)),
            appearance=pack(describe(appearance, frame_bgr, xyxy)),
        )
        for xyxy, box, score, marks in zip(
            boxes, kept.boxes_xyxy, kept.scores, kept.landmarks_xy, strict=True
        )
    )
    return Faces(**carried(msg), faces=faces)
