"""The Hugging Face backend with a tiny locally built Swin (random weights), and model selection by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.classifier.hf_model import HfEmotionModel, label_matrix, looks_like_path
from services.classifier.loader import load_model
from services.common.labels import CANONICAL_LABELS, UnknownLabelError

transformers = pytest.importorskip("transformers")

SWIN_LABELS = ["anger", "disgust", "fear", "happiness", "sadness", "surprised", "neutral", "contempt"]


def save_tiny_swin(out_dir: Path, labels: list[str]) -> Path:
    """A 2-stage Swin of a few thousand random weights, saved with its image processor."""
    config = transformers.SwinConfig(
        image_size=32,
        patch_size=4,
        embed_dim=8,
        depths=[1, 1],
        num_heads=[1, 2],
        window_size=4,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    transformers.SwinForImageClassification(config).save_pretrained(out_dir)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def swin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_swin(tmp_path_factory.mktemp("swin"), SWIN_LABELS)


@pytest.fixture(scope="module")
def swin(swin_dir: Path) -> HfEmotionModel:
    # fp32 eager: these tests compare against the transformers model run directly (backends: test_backend.py)
    model = load_model(str(swin_dir), device="cpu", backend="torch")
    assert isinstance(model, HfEmotionModel)
    return model


def crops(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [(48, 48), (120, 90, 3), (33, 70, 3), (64, 64, 4), (20, 20, 1)]
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in sizes]


def test_swin_checkpoint_gives_canonical_probabilities(swin: HfEmotionModel) -> None:
    probs = swin.predict(crops())
    assert swin.labels == CANONICAL_LABELS
    assert probs.shape == (5, len(CANONICAL_LABELS))
    assert probs.dtype == np.float32
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert swin.predict([]).shape == (0, len(CANONICAL_LABELS))


def test_swin_batch_equals_one_by_one(swin: HfEmotionModel) -> None:
    batch = crops(1) * 3
    np.testing.assert_allclose(
        swin.predict(batch), np.concatenate([swin.predict([c]) for c in batch]), atol=1e-5
    )


def test_swin_contempt_is_dropped_and_the_rest_renormalised(swin: HfEmotionModel, swin_dir: Path) -> None:
    import torch

    net = transformers.AutoModelForImageClassification.from_pretrained(swin_dir).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(swin_dir)
    crop = crops(2)[1]
    rgb = crop[:, :, ::-1].copy()
    with torch.inference_mode():
        raw = torch.softmax(net(**processor(images=[rgb], return_tensors="pt")).logits, 1)[0].numpy()
    assert raw[7] > 0  # contempt had some probability...
    np.testing.assert_allclose(swin.predict([crop])[0], raw[:7] / raw[:7].sum(), atol=1e-5)  # ...now gone


def test_swin_rejects_malformed_crops(swin: HfEmotionModel) -> None:
    with pytest.raises(ValueError, match="uint8"):
        swin.predict([np.zeros((48, 48, 3), np.float32)])


@pytest.mark.parametrize(
    ("id2label", "expected", "error"),
    [
        ({0: "Happy", 1: "SAD"}, {0: "happy", 1: "sad"}, None),
        ({0: "contempt", 1: "anger", 2: "surprised"}, {1: "angry", 2: "surprise"}, None),
        ({0: "joy", 1: "happiness"}, {0: "happy", 1: "happy"}, None),
        ({0: "LABEL_0", 1: "LABEL_1"}, None, UnknownLabelError),
        ({0: "happy", 1: "bored"}, None, UnknownLabelError),
        ({0: "contempt"}, None, ValueError),
    ],
)
def test_label_matrix(id2label: dict[int, str], expected: dict[int, str] | None, error: type | None) -> None:
    if error is not None:
        with pytest.raises(error, match="checkpoint ckpt"):
            label_matrix(id2label, "ckpt")
        return
    matrix = label_matrix(id2label, "ckpt")
    assert matrix.shape == (len(id2label), len(CANONICAL_LABELS))
    got = {i: CANONICAL_LABELS[int(row.argmax())] for i, row in enumerate(matrix) if row.any()}
    assert got == expected
    assert matrix.sum(axis=1).max() == 1


def test_checkpoint_with_unmappable_labels_is_refused(tmp_path: Path) -> None:
    save_tiny_swin(tmp_path, ["LABEL_0", "LABEL_1", "LABEL_2"])
    with pytest.raises(UnknownLabelError, match=r"'LABEL_0' cannot be mapped"):
        load_model(str(tmp_path), device="cpu")


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("/nonexistent/checkpoint", FileNotFoundError, "does not exist|neither"),
        ("./missing-dir", FileNotFoundError, "neither"),
        ("not-a-model", FileNotFoundError, "neither a bundled model"),
        ("a/b/c", FileNotFoundError, "neither"),
    ],
)
def test_load_model_refuses_bad_names(name: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_model(name, device="cpu")


def test_load_model_refuses_a_directory_that_is_no_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_model(str(tmp_path), device="cpu")


def test_hf_model_refuses_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HfEmotionModel(str(tmp_path / "absent"), device="cpu")


def test_hf_model_wraps_a_broken_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "swin"}))
    with pytest.raises(OSError, match="cannot load the image-classification checkpoint"):
        HfEmotionModel(str(tmp_path), device="cpu")


@pytest.mark.parametrize(
    ("name", "is_path"),
    [
        ("MahmoudWSegni/swin-tiny-patch4-window7-224-finetuned-face-emotion-v12", False),
        ("/abs/dir", True),
        ("./rel", True),
        ("~/ckpt", True),
        ("a/b/c", True),
    ],
)
def test_looks_like_path(name: str, is_path: bool) -> None:
    assert looks_like_path(name) is is_path
