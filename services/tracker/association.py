"""The optimal (Hungarian) assignment of tracks to detections."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from services.common.boxes import BoxXYXY, iou_matrix


def associate(
    track_boxes: Sequence[BoxXYXY], detection_boxes: Sequence[BoxXYXY], iou_threshold: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Match tracks to detections by minimising the total ``1 - IOU`` cost.

    Returns ``(matches, unmatched_tracks, unmatched_detections)``: ``matches`` holds
    ``(track_index, detection_index)`` pairs sorted by track index; an assigned pair whose IOU is
    below ``iou_threshold`` is rejected and both sides count as unmatched.
    """
    if not track_boxes or not detection_boxes:
        return [], list(range(len(track_boxes))), list(range(len(detection_boxes)))
    ious = iou_matrix(track_boxes, detection_boxes)
    rows, cols = linear_sum_assignment(1.0 - ious)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ious[r, c] >= iou_threshold]
    matched_t = {t for t, _ in matches}
    matched_d = {d for _, d in matches}
    unmatched_t = [t for t in range(len(track_boxes)) if t not in matched_t]
    unmatched_d = [d for d in range(len(detection_boxes)) if d not in matched_d]
    return sorted(matches), unmatched_t, unmatched_d


def centre_distance_matrix(boxes_a: Sequence[BoxXYXY], boxes_b: Sequence[BoxXYXY]) -> npt.NDArray[np.float64]:
    """Pairwise distance between box centres divided by the mean of the two boxes' heights (so 1.0 means
    "one face apart" at any scale); shape ``(len(boxes_a), len(boxes_b))``."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    size = (
        np.clip(a[:, None, 3] - a[:, None, 1], 1.0, None) + np.clip(b[None, :, 3] - b[None, :, 1], 1.0, None)
    ) / 2
    out: npt.NDArray[np.float64] = dist / size
    return out


def associate_gated(
    track_boxes: Sequence[BoxXYXY],
    detection_boxes: Sequence[BoxXYXY],
    iou_threshold: float,
    max_centre_dist: float | Sequence[float],
    centre_weight: float,
    forbidden: npt.NDArray[np.bool_] | None = None,
    extra_cost: npt.NDArray[np.float64] | None = None,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Optimal matching on the cost ``(1 - IOU) + centre_weight * centre distance`` (see
    :func:`centre_distance_matrix`).

    A pair may match when its IOU is at least ``iou_threshold`` or its centres are at most
    ``max_centre_dist`` face heights apart (a fast face whose prediction barely overlaps still matches);
    other pairs never match, nor do those where ``forbidden`` (same shape) is True. ``max_centre_dist``
    may be one value per track; ``extra_cost`` (same shape) is added to the cost. Returns
    ``(matches, unmatched_tracks, unmatched_detections)`` like :func:`associate`.
    """
    if not track_boxes or not detection_boxes:
        return [], list(range(len(track_boxes))), list(range(len(detection_boxes)))
    ious = iou_matrix(track_boxes, detection_boxes)
    dist = centre_distance_matrix(track_boxes, detection_boxes)
    gate = np.broadcast_to(np.asarray(max_centre_dist, np.float64).reshape(-1, 1), dist.shape)
    allowed = (ious >= iou_threshold) | (dist <= gate)
    if forbidden is not None:
        allowed &= ~forbidden
    cost = (1.0 - ious) + centre_weight * dist + (extra_cost if extra_cost is not None else 0.0)
    cost = np.where(allowed, cost, 1e6)
    rows, cols = linear_sum_assignment(cost)
    matches = sorted((int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c])
    matched_t = {t for t, _ in matches}
    matched_d = {d for _, d in matches}
    unmatched_t = [t for t in range(len(track_boxes)) if t not in matched_t]
    unmatched_d = [d for d in range(len(detection_boxes)) if d not in matched_d]
    return matches, unmatched_t, unmatched_d
