"""The real MTCNN detector on the sample media (CPU, weights from the facenet-pytorch wheel)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.backend import openvino_available
from services.detector.model import MtcnnDetector
from services.detector.stage import FaceDetections


@pytest.fixture(scope="module")
def detector() -> MtcnnDetector:
    return MtcnnDetector(device="cpu")


def read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def read_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    assert frames, path
    return frames


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return float(inter / (area - inter))


def assert_inside(d: FaceDetections, img: np.ndarray) -> None:
    h, w = img.shape[:2]
    assert (d.boxes_xyxy[:, [0, 1]] >= 0).all()
    assert (d.boxes_xyxy[:, 2] <= w).all() and (d.boxes_xyxy[:, 3] <= h).all()
    assert ((d.scores >= 0) & (d.scores <= 1)).all()


def test_single_face_image(detector: MtcnnDetector, sample_media: Path) -> None:
    img = read_image(sample_media / "single_face.jpg")
    (d,) = detector.detect([img])
    assert len(d) == 1
    assert_inside(d, img)
    x1, y1, x2, y2 = d.boxes_xyxy[0]
    assert x2 - x1 > 50 and y2 - y1 > 50
    assert d.scores[0] > 0.9
    # landmarks lie inside the box, eyes above the mouth
    lm = d.landmarks_xy[0]
    assert ((lm[:, 0] >= x1) & (lm[:, 0] <= x2) & (lm[:, 1] >= y1) & (lm[:, 1] <= y2)).all()
    assert lm[0, 1] < lm[3, 1] and lm[1, 1] < lm[4, 1]


@pytest.mark.parametrize(("name", "n_faces"), [("multi_face.jpg", 5), ("t1.jpg", 6)])
def test_group_photos(detector: MtcnnDetector, sample_media: Path, name: str, n_faces: int) -> None:
    path = sample_media / name
    if not path.exists():
        pytest.skip(f"{name} is not in the sample media")
    img = read_image(path)
    (d,) = detector.detect([img])
    assert len(d) == n_faces
    assert_inside(d, img)


def test_batched_equals_one_at_a_time(detector: MtcnnDetector, sample_media: Path) -> None:
    frames = read_frames(sample_media / "single_face.mp4", 8)
    batched = detector.detect(frames)
    assert len(batched) == len(frames) == 8
    for img, d in zip(frames, batched, strict=True):
        (single,) = detector.detect([img])
        assert len(d) == 1 and len(single) == 1
        np.testing.assert_allclose(d.boxes_xyxy, single.boxes_xyxy, atol=2.0)


def test_mixed_sizes_keep_order(detector: MtcnnDetector, sample_media: Path) -> None:
    video = read_frames(sample_media / "single_face.mp4", 2)
    multi = read_image(sample_media / "multi_face.jpg")
    no_face = read_frames(sample_media / "no_face.mp4", 1)
    results = detector.detect([video[0], multi, no_face[0], video[1]])
    assert [len(d) for d in results] == [1, 5, 0, 1]


def test_no_face_video(detector: MtcnnDetector, sample_media: Path) -> None:
    frames = read_frames(sample_media / "no_face.mp4", 4)
    results = detector.detect(frames)
    assert [len(d) for d in results] == [0] * len(frames)
    assert all(d.boxes_xyxy.shape == (0, 4) for d in results)


def test_empty_input(detector: MtcnnDetector) -> None:
    assert detector.detect([]) == []


def test_rejects_grey_frame(detector: MtcnnDetector) -> None:
    with pytest.raises(ValueError, match=r"\(h, w, 3\)"):
        detector.detect([np.zeros((100, 100), np.uint8)])


def test_downscaled_boxes_are_in_input_pixels(detector: MtcnnDetector, sample_media: Path) -> None:
    (img,) = read_frames(sample_media / "single_face.mp4", 1)
    assert max(img.shape[:2]) == 640
    (full,) = detector.detect([img])
    (small,) = MtcnnDetector(max_side_px=320, device="cpu").detect([img])
    assert len(full) == 1 and len(small) == 1
    assert iou(full.boxes_xyxy[0], small.boxes_xyxy[0]) > 0.8
    assert np.abs(full.landmarks_xy - small.landmarks_xy).max() < 10


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
def test_openvino_backend_finds_the_same_faces_as_torch(sample_media: Path) -> None:
    cap = cv2.VideoCapture(str(sample_media / "WolfgangLanger_Pexels.mp4"))
    frames = [cap.read()[1] for _ in range(12)]
    cap.release()
    frames.append(cv2.imread(str(sample_media / "multi_face.jpg")))  # 5 faces, its own size: its own batch
    reference = MtcnnDetector(device="cpu", backend="torch").detect(frames)
    fast_detector = MtcnnDetector(device="cpu", backend="openvino")
    assert fast_detector.backend == "openvino"
    fast = fast_detector.detect(frames)
    for ref, got in zip(reference, fast, strict=True):
        assert len(got) == len(ref)
        for box in ref.boxes_xyxy:
            assert max(iou(box, other) for other in got.boxes_xyxy) > 0.8
        np.testing.assert_allclose(np.sort(got.scores), np.sort(ref.scores), atol=0.02)
    # torch's own resize is back once detection is done: another detector in the process is untouched
    import facenet_pytorch.models.utils.detect_face as detect_face_module

    assert detect_face_module.imresample.__module__ == "facenet_pytorch.models.utils.detect_face"
