"""The classifier's pure stage (services.classifier.stage) against a FakeEmotionModel: forward passes of
bounded size, order, and the Emotions built from each Faces message; and that it needs no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.classifier.service import ClassifierHandler
from services.classifier.stage import MAX_FACES_PER_PASS, classify, emotions_of, predict_in_passes
from services.common.image import encode_jpeg
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Emotions, Face, Faces
from tests.support.fakes import FakeEmotionModel

ROOT = Path(__file__).resolve().parents[3]


def faces_message(seq: int, n: int, camera_id: str = "cam", crop: bytes | None = None) -> Faces:
    jpeg = crop if crop is not None else encode_jpeg(np.full((20, 16, 3), seq % 256, np.uint8))
    return Faces(
        camera_id=camera_id,
        seq=seq,
        captured_ms=1_000_000 + seq,
        mode="live",
        frame_key=f"frame:{camera_id}:{seq}",
        size_wh=(640, 360),
        faces=tuple(
            Face(box_xyxy=(float(i), 2.0, 50.0 + i, 60.0), score=0.9 - 0.01 * i, crop_jpeg=jpeg)
            for i in range(n)
        ),
    )


@pytest.mark.parametrize(
    ("n", "max_per_pass", "sizes"),
    [(0, 4, []), (1, 4, [1]), (4, 4, [4]), (5, 4, [4, 1]), (10, 3, [3, 3, 3, 1]), (7, 1, [1] * 7)],
)
def test_passes_never_exceed_the_max_and_keep_order(n: int, max_per_pass: int, sizes: list[int]) -> None:
    model = FakeEmotionModel(by_index=True)
    crops = [np.full((8, 8), i, np.uint8) for i in range(n)]
    probs = predict_in_passes(model, crops, max_per_pass)
    assert model.batch_sizes == sizes
    assert probs.shape == (n, len(CANONICAL_LABELS)) and probs.dtype == np.float32
    assert probs.argmax(1).tolist() == [i % len(CANONICAL_LABELS) for i in range(n)]
    assert [int(c[0, 0]) for c in model.crops_seen] == list(range(n))


def test_bad_max_and_bad_model_answers_are_refused() -> None:
    with pytest.raises(ValueError, match="max_per_pass"):
        predict_in_passes(FakeEmotionModel(), [np.zeros((8, 8), np.uint8)], 0)

    class Short(FakeEmotionModel):
        def predict(self, crops_bgr: object) -> np.ndarray:
            return np.zeros((0, 7), np.float32)

    with pytest.raises(ValueError, match="shape"):
        predict_in_passes(Short(), [np.zeros((8, 8), np.uint8)], 4)


def test_emotions_carry_identity_and_one_face_emotion_per_face() -> None:
    msg = faces_message(7, 3, camera_id="door")
    probs = np.eye(7, dtype=np.float32)[[2, 0, 5]]
    out = emotions_of(msg, probs, CANONICAL_LABELS, "fake")
    assert isinstance(out, Emotions)
    assert (out.camera_id, out.seq, out.captured_ms, out.mode) == ("door", 7, 1_000_007, "live")
    assert (out.frame_key, out.size_wh, out.model) == ("frame:door:7", (640, 360), "fake")
    assert len(out.faces) == 3
    for face, emo, row in zip(msg.faces, out.faces, probs, strict=True):
        assert (emo.box_xyxy, emo.score) == (face.box_xyxy, face.score)
        assert tuple(emo.probs) == CANONICAL_LABELS
        assert list(emo.probs.values()) == row.tolist()
    with pytest.raises(ValueError, match="3 faces"):
        emotions_of(msg, probs[:2], CANONICAL_LABELS, "fake")


def test_a_faces_message_without_faces_gives_emotions_without_faces() -> None:
    model = FakeEmotionModel()
    (out,) = classify([faces_message(3, 0)], model, "fake")
    assert isinstance(out, Emotions) and out.faces == () and out.seq == 3
    assert model.batch_sizes == []  # no forward pass for no faces


def test_classify_splits_all_cameras_faces_into_bounded_passes_in_order() -> None:
    model = FakeEmotionModel(by_index=True)
    messages = [faces_message(seq, n, camera_id=f"cam{seq % 2}") for seq, n in enumerate([3, 0, 5, 2])]
    out = classify(messages, model, "fake", max_per_pass=4)
    assert model.batch_sizes == [4, 4, 2]  # 10 faces from four frames of two cameras
    assert [(m.camera_id, m.seq, len(m.faces)) for m in out if isinstance(m, Emotions)] == [
        ("cam0", 0, 3),
        ("cam1", 1, 0),
        ("cam0", 2, 5),
        ("cam1", 3, 2),
    ]
    labels = [max(f.probs, key=f.probs.__getitem__) for m in out if isinstance(m, Emotions) for f in m.faces]
    assert labels == [CANONICAL_LABELS[i % 7] for i in range(10)]  # face k got the k-th crop's row


def test_an_undecodable_crop_fails_only_its_message() -> None:
    model = FakeEmotionModel([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    out = classify([faces_message(1, 2), faces_message(2, 1, crop=b"junk"), faces_message(3, 1)], model, "m")
    assert [type(m).__name__ for m in out] == ["Emotions", "ValueError", "Emotions"]
    assert model.batch_sizes == [3]
    assert all(f.probs["happy"] == 1.0 for m in out if isinstance(m, Emotions) for f in m.faces)


def test_handler_classifies_through_the_stage_with_its_pass_limit() -> None:
    model = FakeEmotionModel()
    handler = ClassifierHandler(model, "fake", max_age_ms=1_000, max_faces_per_pass=2)
    out = handler.classify([faces_message(1, 3), faces_message(2, 2)])
    assert model.batch_sizes == [2, 2, 1]
    assert [len(m.faces) for m in out if isinstance(m, Emotions)] == [3, 2]
    assert ClassifierHandler(model, "fake", 1_000).max_faces_per_pass == MAX_FACES_PER_PASS
    with pytest.raises(ValueError, match="max_faces_per_pass"):
        ClassifierHandler(model, "fake", 1_000, max_faces_per_pass=0)


@pytest.mark.parametrize("module", ["services.classifier.stage", "services.classifier.service"])
def test_imports_without_torch(module: str) -> None:
    code = f"import sys; sys.modules['torch'] = None; import {module}; assert sys.modules['torch'] is None"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
