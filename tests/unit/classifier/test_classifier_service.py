"""The classifier stage (no Redis) with a Hugging Face checkpoint: crops in, canonical probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.classifier.loader import load_model
from services.classifier.service import ClassifierHandler
from services.common.image import encode_jpeg
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Emotions, Face, Faces


@pytest.fixture(scope="module")
def swin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.unit.classifier.test_classifier_hf import SWIN_LABELS, save_tiny_swin

    return save_tiny_swin(tmp_path_factory.mktemp("swin"), SWIN_LABELS)


def faces_message(seq: int, crops: list[bytes]) -> Faces:
    return Faces(
        camera_id="cam",
        seq=seq,
        captured_ms=1_000 + seq,
        mode="file",
        frame_key=f"frame:cam:{seq}",
        size_wh=(640, 360),
        faces=tuple(Face(box_xyxy=(1.0, 2.0, 50.0, 60.0), score=0.99, crop_jpeg=c) for c in crops),
    )


@pytest.mark.parametrize("model_name", ["swin", "mini-xception"])
def test_classify_publishes_canonical_probabilities(swin_dir: Path, model_name: str) -> None:
    name = str(swin_dir) if model_name == "swin" else model_name
    handler = ClassifierHandler(load_model(name, device="cpu"), name, max_age_ms=1_000)
    rng = np.random.default_rng(0)
    crop = encode_jpeg(rng.integers(0, 256, (70, 60, 3), dtype=np.uint8))
    out = handler.classify(
        [faces_message(1, [crop, crop]), faces_message(2, []), faces_message(3, [b"junk"])]
    )
    assert [type(m).__name__ for m in out] == ["Emotions", "Emotions", "ValueError"]
    first = out[0]
    assert isinstance(first, Emotions)
    assert first.model == name
    assert len(first.faces) == 2
    for face in first.faces:
        assert tuple(face.probs) == CANONICAL_LABELS  # contempt never reaches the tracker
        assert sum(face.probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert isinstance(out[1], Emotions) and out[1].faces == ()
