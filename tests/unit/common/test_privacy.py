"""The blur privacy mode (services.common.privacy, annotate.render), judged by the real MTCNN: after the
blur it finds no face where it found one before, while the boxes and labels are still drawn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.annotate import COLOURS_BGR, render
from services.common.privacy import blur_boxes, blur_whole
from services.common.schema import Track, Tracks
from services.detector.model import MtcnnDetector

STILLS = ["single_face.jpg", "multi_face.jpg", "t1.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg"]


@pytest.fixture(scope="module")
def detector() -> MtcnnDetector:
    return MtcnnDetector(device="cpu")


def still(sample_media: Path, name: str) -> np.ndarray:
    path = sample_media / name
    if not path.exists():
        pytest.skip(f"{name} is not in the sample media")
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def boxes_of(detector: MtcnnDetector, img: np.ndarray) -> list[tuple[float, float, float, float]]:
    (found,) = detector.detect([img])
    return [(float(a), float(b), float(c), float(d)) for a, b, c, d in found.boxes_xyxy]


def tracks_msg(faces: list[tuple[float, float, float, float]], shown: int) -> Tracks:
    """The first ``shown`` faces as tracks; every face in ``face_boxes`` (as the tracker sends them)."""
    tracks = tuple(
        Track(
            track_id=i + 1, box_xyxy=b, label="happy", confidence=0.9, raw_label="happy", probs={"happy": 0.9}
        )
        for i, b in enumerate(faces[:shown])
    )
    h, w = 10_000, 10_000
    return Tracks(
        camera_id="c",
        seq=0,
        captured_ms=0,
        frame_key="k",
        size_wh=(w, h),
        tracks=tracks,
        face_boxes=tuple(faces),
    )


@pytest.mark.parametrize("name", STILLS)
def test_no_face_is_found_after_the_blur(detector: MtcnnDetector, sample_media: Path, name: str) -> None:
    img = still(sample_media, name)
    faces = boxes_of(detector, img)
    assert faces, f"MTCNN finds the faces of {name} before the blur"
    blurred = blur_boxes(img.copy(), faces)
    assert boxes_of(detector, blurred) == []
    assert not np.array_equal(blurred, img)


@pytest.mark.parametrize("name", STILLS)
def test_a_frame_whose_faces_are_unknown_is_blurred_whole(
    detector: MtcnnDetector, sample_media: Path, name: str
) -> None:
    img = still(sample_media, name)
    assert boxes_of(detector, blur_whole(img.copy())) == []


def test_render_blurs_faces_not_shown_as_tracks_and_keeps_the_labels(
    detector: MtcnnDetector, sample_media: Path
) -> None:
    img = still(sample_media, "multi_face.jpg")
    faces = boxes_of(detector, img)
    assert len(faces) >= 3
    msg = tracks_msg(faces, shown=2)  # the others are held back, e.g. for re-identification
    out = render(img.copy(), msg, "blur")
    assert boxes_of(detector, out) == [], "a face in face_boxes but not a track is blurred too"
    colour = np.array(COLOURS_BGR["happy"])
    for x1, y1, x2, _ in faces[:2]:  # the shown tracks' boxes are drawn in their label's colour
        top = out[int(round(y1)), int(round(x1)) : int(round(x2))]
        assert (np.abs(top.astype(int) - colour).sum(axis=1) < 10).mean() > 0.8


def test_render_off_keeps_faces_and_blur_without_tracks_blurs_whole(
    detector: MtcnnDetector, sample_media: Path
) -> None:
    img = still(sample_media, "multi_face.jpg")
    faces = boxes_of(detector, img)
    shown = render(img.copy(), tracks_msg(faces, shown=len(faces)), "off")
    assert len(boxes_of(detector, shown)) >= len(faces), "off: faces as captured"
    unknown = render(img.copy(), None, "blur")
    assert boxes_of(detector, unknown) == []


def test_boxes_outside_the_frame_or_without_area_change_nothing() -> None:
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    out = blur_boxes(
        img.copy(), [(500, 500, 600, 600), (10, 10, 10, 50), (40, 40, 20, 80), (-90, -90, -40, -40)]
    )
    assert np.array_equal(out, img)
    edge = blur_boxes(img.copy(), [(-20, -20, 30, 30)])  # clipped, not refused
    assert not np.array_equal(edge[:40, :40], img[:40, :40]) and np.array_equal(
        edge[80:, 100:], img[80:, 100:]
    )
