"""Pure detector stage: detections container, filtering, cropping, JPEG round trips."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest

from services.common.image import decode_jpeg, encode_jpeg
from services.detector.stage import FaceDetections, crop_with_margin, filter_faces


def make_detections(boxes: list[list[float]], scores: list[float]) -> FaceDetections:
    n = len(boxes)
    return FaceDetections(
        boxes_xyxy=np.array(boxes, np.float32).reshape(n, 4),
        scores=np.array(scores, np.float32),
        landmarks_xy=np.zeros((n, 5, 2), np.float32),
    )


def frame(h: int = 100, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("boxes_shape", "scores_shape", "landmarks_shape", "expected"),
    [
        ((0, 4), (0,), (0, 5, 2), nullcontext()),
        ((3, 4), (3,), (3, 5, 2), nullcontext()),
        ((3,), (3,), (3, 5, 2), pytest.raises(ValueError, match="boxes_xyxy")),
        ((3, 5), (3,), (3, 5, 2), pytest.raises(ValueError, match="boxes_xyxy")),
        ((3, 4), (2,), (3, 5, 2), pytest.raises(ValueError, match="scores")),
        ((3, 4), (3, 1), (3, 5, 2), pytest.raises(ValueError, match="scores")),
        ((3, 4), (3,), (2, 5, 2), pytest.raises(ValueError, match="landmarks_xy")),
        ((3, 4), (3,), (3, 68, 2), pytest.raises(ValueError, match="landmarks_xy")),
    ],
)
def test_detections_validate_shapes(
    boxes_shape: tuple[int, ...],
    scores_shape: tuple[int, ...],
    landmarks_shape: tuple[int, ...],
    expected: AbstractContextManager[object],
) -> None:
    with expected:
        d = FaceDetections(np.zeros(boxes_shape), np.full(scores_shape, 0.5), np.zeros(landmarks_shape))
        assert len(d) == boxes_shape[0]
        assert d.boxes_xyxy.dtype == np.float32


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.0, 1.0], nullcontext()),
        ([0.5, 1.5], pytest.raises(ValueError, match="0..1")),
        ([-0.1, 0.5], pytest.raises(ValueError, match="0..1")),
        ([np.nan, 0.5], pytest.raises(ValueError, match="0..1")),
    ],
)
def test_detections_validate_scores(scores: list[float], expected: AbstractContextManager[object]) -> None:
    with expected:
        make_detections([[0, 0, 1, 1]] * 2, scores)


def test_empty_detections() -> None:
    d = FaceDetections.empty()
    assert len(d) == 0
    assert d.boxes_xyxy.shape == (0, 4) and d.scores.shape == (0,) and d.landmarks_xy.shape == (0, 5, 2)


@pytest.mark.parametrize(
    ("min_score", "min_size_px", "kept_scores"),
    [
        (0.0, 0.0, [0.99, 0.5, 0.95, 0.9]),
        (0.9, 0.0, [0.99, 0.95, 0.9]),
        (0.0, 20.0, [0.99, 0.5, 0.9]),  # the 100x10 box is too thin
        (0.9, 20.0, [0.99, 0.9]),
        (0.9, 40.0, [0.99]),
        (1.0, 0.0, []),
    ],
)
def test_filter_faces(min_score: float, min_size_px: float, kept_scores: list[float]) -> None:
    d = make_detections(
        [[0, 0, 50, 60], [10, 10, 40, 40], [0, 0, 100, 10], [5, 5, 25, 30]],
        [0.99, 0.5, 0.95, 0.9],
    )
    kept = filter_faces(d, min_score, min_size_px)
    np.testing.assert_allclose(kept.scores, kept_scores, rtol=1e-6)
    assert kept.landmarks_xy.shape == (len(kept_scores), 5, 2)


def test_filter_faces_empty() -> None:
    assert len(filter_faces(FaceDetections.empty(), 0.5, 20)) == 0


@pytest.mark.parametrize(
    ("box", "margin", "expected_hw", "expected"),
    [
        ((50, 20, 90, 60), 0.0, (40, 40), nullcontext()),
        ((50, 20, 90, 60), 0.25, (60, 60), nullcontext()),
        ((60, 20, 80, 60), 0.0, (40, 40), nullcontext()),  # tall box becomes square
        ((40, 30, 100, 50), 0.0, (60, 60), nullcontext()),  # wide box becomes square
        ((0, 0, 20, 20), 0.5, (30, 30), nullcontext()),  # clipped at the top-left corner
        ((190, 90, 210, 110), 0.0, (10, 10), nullcontext()),  # straddles the bottom-right corner
        ((-50, -50, 250, 150), 0.0, (100, 200), nullcontext()),  # bigger than the frame
        ((100, 50, 100, 50), 0.0, (1, 1), nullcontext()),  # degenerate box still gives one pixel
        ((199.5, 99.5, 230, 130), 0.0, (1, 1), nullcontext()),  # barely overlaps
        ((200, 0, 240, 40), 0.0, None, pytest.raises(ValueError, match="outside")),
        ((-40, 10, 0, 50), 0.0, None, pytest.raises(ValueError, match="outside")),
        ((10, 100, 50, 140), 0.0, None, pytest.raises(ValueError, match="outside")),
        ((50, 20, 40, 60), 0.0, None, pytest.raises(ValueError, match="x2 >= x1")),
        ((50, 20, 90, 60), -0.1, None, pytest.raises(ValueError, match="margin")),
    ],
)
def test_crop_with_margin(
    box: tuple[float, float, float, float],
    margin: float,
    expected_hw: tuple[int, int] | None,
    expected: AbstractContextManager[object],
) -> None:
    img = frame()
    with expected:
        crop = crop_with_margin(img, box, margin)
        assert crop.shape == (*expected_hw, 3)  # type: ignore[misc]
        assert crop.dtype == np.uint8


def test_crop_is_a_copy_of_the_right_pixels() -> None:
    img = frame()
    crop = crop_with_margin(img, np.array([50, 20, 90, 60], np.float32), 0.0)
    np.testing.assert_array_equal(crop, img[20:60, 50:90])
    crop[:] = 0
    assert img[20:60, 50:90].any()


def test_jpeg_round_trip() -> None:
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)  # blue half in BGR
    data = encode_jpeg(img, quality=95)
    assert data[:2] == b"\xff\xd8"
    back = decode_jpeg(data)
    assert back.shape == img.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - img.astype(int)).mean() < 3


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"not a jpeg at all", "cannot decode"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "cannot decode"),
    ],
)
def test_decode_jpeg_rejects_garbage(data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_jpeg(data)


@pytest.mark.parametrize(
    ("img", "quality", "match"),
    [
        (np.zeros((0, 10, 3), np.uint8), 90, "non-empty"),
        (np.zeros((10, 10, 4), np.uint8), 90, "non-empty"),
        (np.zeros((10, 10, 3), np.uint8), 0, "quality"),
        (np.zeros((10, 10, 3), np.uint8), 101, "quality"),
    ],
)
def test_encode_jpeg_rejects_bad_input(img: np.ndarray, quality: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_jpeg(img, quality)
