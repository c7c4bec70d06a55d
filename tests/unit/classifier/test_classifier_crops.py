"""Eye-aligned face crops (services.detector.stage.crop_aligned) for the classifier."""

from __future__ import annotations

import numpy as np
import pytest

from services.detector.stage import crop_aligned, crop_with_margin


def eyes_frame(angle_deg: float, centre_xy: tuple[float, float] = (100, 80), half_gap: float = 20) -> tuple:
    """A dark frame with two bright eye dots rotated by ``angle_deg``, and its box and landmarks."""
    frame = np.zeros((160, 220, 3), np.uint8)
    a = np.radians(angle_deg)
    cx, cy = centre_xy
    eyes = [
        (cx - half_gap * np.cos(a), cy - half_gap * np.sin(a)),
        (cx + half_gap * np.cos(a), cy + half_gap * np.sin(a)),
    ]
    eyes = [(round(x), round(y)) for x, y in eyes]  # landmarks on the dots' exact centres
    for x, y in eyes:
        frame[y - 2 : y + 3, x - 2 : x + 3] = 255
    marks = np.array([*eyes, (cx, cy + 10), (cx - 10, cy + 20), (cx + 10, cy + 20)], np.float32)
    box = np.array([cx - 30, cy - 30, cx + 30, cy + 30], np.float32)
    return frame, box, marks


def dot_rows(crop: np.ndarray) -> tuple[float, float]:
    """Mean row of the bright pixels in the left and right half of the crop."""
    gray = crop[:, :, 0].astype(np.float32)
    w = gray.shape[1]
    rows = np.arange(gray.shape[0])[:, None]
    left, right = gray[:, : w // 2], gray[:, w // 2 :]
    return float((rows * left).sum() / left.sum()), float((rows * right).sum() / right.sum())


@pytest.mark.parametrize("angle_deg", [-25.0, -10.0, 0.0, 15.0, 30.0])
@pytest.mark.parametrize("margin", [0.0, 0.2])
def test_aligned_crop_levels_the_eyes(angle_deg: float, margin: float) -> None:
    frame, box, marks = eyes_frame(angle_deg)
    crop = crop_aligned(frame, box, marks, margin)
    side = round(60 * (1 + 2 * margin))
    assert crop.shape == (side, side, 3)
    left_row, right_row = dot_rows(crop)
    assert abs(left_row - right_row) < 1.0
    if angle_deg:
        before = dot_rows(crop_with_margin(frame, box, margin))
        assert abs(before[0] - before[1]) > 5.0  # without alignment they are not level


def test_level_eyes_give_the_plain_crop() -> None:
    frame, box, marks = eyes_frame(0.0)
    np.testing.assert_array_equal(crop_aligned(frame, box, marks, 0.2), crop_with_margin(frame, box, 0.2))


def test_aligned_crop_at_the_edge_stays_square() -> None:
    frame, box, marks = eyes_frame(10.0, centre_xy=(25, 25))
    assert crop_aligned(frame, box, marks, 0.3).shape == (round(60 * 1.6), round(60 * 1.6), 3)


@pytest.mark.parametrize(
    ("box", "marks_shape", "margin", "message"),
    [
        ((10, 10, 50, 50), (5, 2), -0.1, "margin"),
        ((10, 10, 50, 50), (68, 2), 0.2, "landmarks_xy"),
        ((50, 10, 10, 50), (5, 2), 0.2, "x2 >= x1"),
        ((500, 500, 600, 600), (5, 2), 0.2, "outside"),
    ],
)
def test_aligned_crop_rejects_bad_input(
    box: tuple[float, ...], marks_shape: tuple[int, int], margin: float, message: str
) -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        crop_aligned(frame, box, np.zeros(marks_shape, np.float32), margin)
