"""Fakes of the model seams: :class:`~services.classifier.stage.EmotionModel` and
:class:`~services.detector.stage.FaceDetector`, for unit tests of the pure stage code without torch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.common.labels import CANONICAL_LABELS
from services.detector.stage import FaceDetections


class FakeEmotionModel:
    """An EmotionModel answering fixed probabilities and recording the size of every ``predict`` call.

    ``probs``: one row (the same for every crop) or a function of the crop's index among all crops seen
    so far, so a test can tell crops apart after batching. Default: uniform over ``labels``.
    """

    def __init__(
        self,
        probs: Sequence[float] | None = None,
        labels: tuple[str, ...] = CANONICAL_LABELS,
        by_index: bool = False,
    ) -> None:
        self.labels = labels
        self.row = np.asarray(probs if probs is not None else [1.0 / len(labels)] * len(labels), np.float32)
        if self.row.shape != (len(labels),):
            raise ValueError(f"probs must have {len(labels)} values, got {self.row.shape}")
        self.by_index = by_index
        self.batch_sizes: list[int] = []
        self.crops_seen: list[np.ndarray] = []

    def predict(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """``by_index``: row i is one-hot at ``(number of crops seen before it) % len(labels)``."""
        self.batch_sizes.append(len(crops_bgr))
        first = len(self.crops_seen)
        self.crops_seen.extend(np.asarray(c) for c in crops_bgr)
        if not self.by_index:
            return np.tile(self.row, (len(crops_bgr), 1))
        out = np.zeros((len(crops_bgr), len(self.labels)), np.float32)
        out[np.arange(len(crops_bgr)), (first + np.arange(len(crops_bgr))) % len(self.labels)] = 1.0
        return out


class FakeFaceDetector:
    """A FaceDetector answering given detections per frame (cycled) and recording the frames it saw."""

    def __init__(self, per_frame: Sequence[FaceDetections]) -> None:
        if not per_frame:
            raise ValueError("FakeFaceDetector needs at least one FaceDetections")
        self.per_frame = list(per_frame)
        self.calls: list[int] = []  # number of frames per detect call

    def detect(self, frames_bgr: Sequence[np.ndarray]) -> list[FaceDetections]:
        start = sum(self.calls)
        self.calls.append(len(frames_bgr))
        return [self.per_frame[(start + i) % len(self.per_frame)] for i in range(len(frames_bgr))]


def detections(boxes: Sequence[Sequence[float]], scores: Sequence[float]) -> FaceDetections:
    """FaceDetections of ``boxes`` (x1, y1, x2, y2) with level eyes at 40% of each box's height."""
    n = len(boxes)
    b = np.asarray(boxes, np.float32).reshape(n, 4)
    x1, y1, x2, y2 = b.T
    w, h = x2 - x1, y2 - y1
    marks = np.stack(
        [
            np.stack([x1 + 0.3 * w, y1 + 0.4 * h], 1),
            np.stack([x1 + 0.7 * w, y1 + 0.4 * h], 1),
            np.stack([x1 + 0.5 * w, y1 + 0.6 * h], 1),
            np.stack([x1 + 0.35 * w, y1 + 0.8 * h], 1),
            np.stack([x1 + 0.65 * w, y1 + 0.8 * h], 1),
        ],
        1,
    ).reshape(n, 5, 2)
    return FaceDetections(boxes_xyxy=b, scores=np.asarray(scores, np.float32), landmarks_xy=marks)
