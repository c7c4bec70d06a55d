"""Appearance descriptors (services.common.appearance) on real faces of the sample media, their wire form,
and their path through the detector's and the classifier's messages."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from services.classifier.stage import emotions_of
from services.common import appearance
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Frame
from services.detector.stage import faces_of_frame
from tests.support.fakes import detections

# face boxes found once with MTCNN (tests/support/clips.py keeps the photos' boxes the same way)
MAN_BOX = (216.0, 75.0, 365.0, 293.0)  # single_face.mp4, 640x360, frames 5-60
WOMAN_BOX = (331.0, 73.0, 541.0, 360.0)  # WolfgangLanger_Pexels.mp4, 640x360, frame 100


def frame_of(video: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, video
    return frame


@pytest.mark.parametrize("kind", ["colour", "texture", "colour_texture"])
def test_the_same_person_is_more_alike_than_another(kind: appearance.Kind, sample_media: Path) -> None:
    man_a = appearance.describe(kind, frame_of(sample_media / "single_face.mp4", 5), MAN_BOX)
    man_b = appearance.describe(kind, frame_of(sample_media / "single_face.mp4", 60), MAN_BOX)
    woman = appearance.describe(kind, frame_of(sample_media / "WolfgangLanger_Pexels.mp4", 100), WOMAN_BOX)
    assert np.linalg.norm(man_a) == pytest.approx(1.0, abs=1e-5)
    assert appearance.similarity(man_a, man_b) > appearance.similarity(man_a, woman) + 0.02


def test_descriptor_sizes_and_none() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    box = (20.0, 30.0, 80.0, 100.0)
    assert appearance.describe("colour", frame, box).shape == (2 * 16 * 4 + 8,)
    assert appearance.describe("texture", frame, box).shape == (4 * 59,)
    assert appearance.describe("colour_texture", frame, box).shape == (2 * 16 * 4 + 8 + 4 * 59,)
    assert appearance.describe("none", frame, box).size == 0
    with pytest.raises(ValueError, match="unknown appearance descriptor 'sift'"):
        appearance.describe("sift", frame, box)  # type: ignore[arg-type]


def test_a_box_outside_the_frame_gives_a_zero_descriptor_not_an_error() -> None:
    frame = np.zeros((50, 50, 3), np.uint8)
    v = appearance.describe("colour_texture", frame, (60.0, 60.0, 90.0, 90.0))
    assert not v.any()
    assert appearance.similarity(v, v) == 0.0


def test_wire_form_round_trip_and_bad_bytes() -> None:
    v = appearance.describe("colour", np.full((40, 40, 3), 90, np.uint8), (5.0, 5.0, 35.0, 35.0))
    data = appearance.pack(v)
    assert len(data) == 2 * v.size
    assert np.allclose(appearance.unpack(data), v, atol=1e-3)
    assert appearance.pack([]) == b"" and appearance.unpack(b"").size == 0
    with pytest.raises(ValueError, match="float16"):
        appearance.unpack(b"\x00\x01\x02")
    assert appearance.similarity(v, v[:10]) == 0.0, "different lengths never look alike"


def test_the_detector_computes_it_and_the_classifier_carries_it(sample_media: Path) -> None:
    image = frame_of(sample_media / "single_face.mp4", 5)
    msg = Frame(camera_id="cam", seq=1, captured_ms=1, frame_key="f", size_wh=(640, 360))
    filters = {"min_score": 0.5, "min_size_px": 10.0, "crop_margin": 0.0, "align_faces": False}
    dets = detections([list(MAN_BOX)], [0.99])
    faces = faces_of_frame(msg, image, dets, **filters, appearance="colour_texture")
    expected = appearance.describe("colour_texture", image, MAN_BOX)
    assert np.allclose(appearance.unpack(faces.faces[0].appearance), expected, atol=1e-3)
    assert faces_of_frame(msg, image, dets, **filters).faces[0].appearance == b"", "off by default"
    probs = np.full((1, len(CANONICAL_LABELS)), 1 / len(CANONICAL_LABELS), np.float32)
    emotions = emotions_of(faces, probs, CANONICAL_LABELS, "m")
    assert emotions.faces[0].appearance == faces.faces[0].appearance
