"""IOU and the optimal assignment of tracks to detections."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.boxes import BoxXYXY, iou_matrix, iou_xyxy
from services.tracker.association import associate


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param((0, 0, 10, 10), (0, 0, 10, 10), 1.0, id="identical"),
        pytest.param((0, 0, 10, 10), (20, 20, 30, 30), 0.0, id="no-overlap"),
        pytest.param((0, 0, 10, 10), (10, 0, 20, 10), 0.0, id="touching-edge"),
        pytest.param((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150, id="half-shift"),
        pytest.param((0, 0, 10, 10), (0, 0, 5, 5), 25 / 100, id="contained"),
        pytest.param((0, 0, 10, 10), (2, 2, 12, 12), 64 / 136, id="diagonal-shift"),
        pytest.param((5, 5, 5, 5), (0, 0, 10, 10), 0.0, id="zero-area"),
        pytest.param((5, 5, 5, 5), (5, 5, 5, 5), 0.0, id="both-zero-area"),
    ],
)
def test_iou_xyxy(a: BoxXYXY, b: BoxXYXY, expected: float) -> None:
    assert iou_xyxy(a, b) == pytest.approx(expected)
    assert iou_xyxy(b, a) == pytest.approx(expected)


def test_iou_matrix_shape_and_values() -> None:
    out = iou_matrix([(0, 0, 10, 10), (100, 100, 110, 110)], [(0, 0, 10, 10), (5, 0, 15, 10), (0, 0, 1, 1)])
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, [[1.0, 1 / 3, 0.01], [0.0, 0.0, 0.0]])


def test_iou_matrix_empty() -> None:
    assert iou_matrix([], [(0, 0, 1, 1)]).shape == (0, 1)


def _strip(x1: float, x2: float) -> BoxXYXY:
    return (x1, 0.0, x2, 10.0)


@pytest.mark.parametrize(
    ("tracks", "detections", "threshold", "matches", "unmatched_t", "unmatched_d"),
    [
        pytest.param([], [_strip(0, 10)], 0.4, [], [], [0], id="no-tracks"),
        pytest.param([_strip(0, 10)], [], 0.4, [], [0], [], id="no-detections"),
        pytest.param(
            [_strip(0, 10), _strip(100, 110)],
            [_strip(101, 111), _strip(1, 11)],
            0.4,
            [(0, 1), (1, 0)],
            [],
            [],
            id="swapped-order",
        ),
        # Greedy would take T0-D1 (IOU 0.667) and leave T1-D0 (0.11, rejected); the optimum pairs
        # T0-D0 and T1-D1 (0.538 each).
        pytest.param(
            [_strip(0, 10), _strip(5, 15)],
            [_strip(-3, 7), _strip(2, 12)],
            0.4,
            [(0, 0), (1, 1)],
            [],
            [],
            id="optimal-not-greedy",
        ),
        pytest.param([_strip(0, 10)], [_strip(5, 15)], 0.4, [], [0], [0], id="below-threshold"),
        pytest.param([_strip(0, 10)], [_strip(5, 15)], 0.3, [(0, 0)], [], [], id="above-lower-threshold"),
        pytest.param(
            [_strip(0, 10)], [_strip(0, 10), _strip(1, 11)], 0.4, [(0, 0)], [], [1], id="extra-detection"
        ),
    ],
)
def test_associate(
    tracks: list[BoxXYXY],
    detections: list[BoxXYXY],
    threshold: float,
    matches: list[tuple[int, int]],
    unmatched_t: list[int],
    unmatched_d: list[int],
) -> None:
    assert associate(tracks, detections, threshold) == (matches, unmatched_t, unmatched_d)
