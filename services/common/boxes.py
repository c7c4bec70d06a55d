"""Axis-aligned boxes in pixels: intersection over union, one pair or all pairs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

BoxXYXY = tuple[float, float, float, float]


def iou_xyxy(a: BoxXYXY, b: BoxXYXY) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes in pixels; 0.0 when either has no area."""
    return float(iou_matrix([a], [b])[0, 0])


def iou_matrix(
    boxes_a: Sequence[BoxXYXY] | npt.NDArray[np.floating],
    boxes_b: Sequence[BoxXYXY] | npt.NDArray[np.floating],
) -> npt.NDArray[np.float64]:
    """Pairwise IOU of (n, 4) and (m, 4) boxes, shape ``(len(boxes_a), len(boxes_b))``, values in 0..1."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0.0, None) * np.clip(iy2 - iy1, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out: npt.NDArray[np.float64] = np.zeros(inter.shape, dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0.0)
    return out
