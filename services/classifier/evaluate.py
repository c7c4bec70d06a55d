"""Offline evaluation of an :class:`EmotionModel` on a folder of labelled face images, and timing.

The folder holds one subfolder per label (any name :func:`canonical_label` maps, e.g. FER2013's
``angry/ ... surprise/``), each with image files. No Redis, no environment, no torch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from services.common.labels import UnknownLabelError, canonical_label

if TYPE_CHECKING:
    from services.classifier.stage import EmotionModel

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


@dataclass(frozen=True)
class EvalResult:
    """Scores of one evaluation run.

    ``confusion[i][j]`` counts images of true label ``labels[i]`` predicted as ``labels[j]``;
    ``per_class_recall`` holds only labels with at least one image; ``accuracy`` is in 0..1.
    """

    n: int
    accuracy: float
    per_class_recall: dict[str, float]
    confusion: list[list[int]]
    labels: tuple[str, ...]
    ece: float = 0.0  # expected calibration error of the top-1 probability, 15 bins


def labelled_files(data_dir: Path, labels: Sequence[str]) -> dict[str, list[Path]]:
    """Sorted image paths per canonical label found under ``data_dir``.

    Raises FileNotFoundError when ``data_dir`` is not a directory, UnknownLabelError when a subfolder's
    name maps to no canonical label, and ValueError when it maps to a label the model lacks.
    """
    if not data_dir.is_dir():
        raise FileNotFoundError(f"image folder {data_dir} does not exist")
    files: dict[str, list[Path]] = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        try:
            label = canonical_label(folder.name)
        except UnknownLabelError as err:
            raise UnknownLabelError(f"folder {folder}: {err}") from None
        if label not in labels:
            raise ValueError(f"folder {folder}: label {label!r} is not one of the model's labels {labels}")
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files.setdefault(label, []).extend(images)
    return files


def stratified_subset(files: dict[str, list[Path]], limit: int) -> dict[str, list[Path]]:
    """At most ``limit`` files in all, each label keeping its share (largest remainder), evenly strided.

    Deterministic: the same sorted input always gives the same subset.
    """
    total = sum(len(v) for v in files.values())
    if limit >= total:
        return files
    shares = {label: limit * len(paths) / total for label, paths in files.items()}
    counts = {label: int(share) for label, share in shares.items()}
    by_remainder = sorted(shares, key=lambda label: (counts[label] - shares[label], label))
    for label in by_remainder[: limit - sum(counts.values())]:
        counts[label] += 1
    return {
        label: [paths[i] for i in np.linspace(0, len(paths), counts[label], endpoint=False).astype(int)]
        for label, paths in files.items()
    }


def read_image(path: Path) -> np.ndarray:
    """The image as uint8 BGR ``(h, w, 3)``. Raises ValueError when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image {path}")
    return image


def evaluate(
    model: EmotionModel, data_dir: Path, limit: int | None = None, batch_size: int = 64
) -> EvalResult:
    """Accuracy, per-class recall and confusion of ``model`` on the labelled folder ``data_dir``.

    ``limit``: evaluate a deterministic stratified subset of at most this many images.
    Raises as :func:`labelled_files` and :func:`read_image` do, and ValueError when no image is found.
    """
    files = labelled_files(data_dir, model.labels)
    if limit is not None:
        files = stratified_subset(files, limit)
    items = [(path, model.labels.index(label)) for label, paths in files.items() for path in paths]
    if not items:
        raise ValueError(f"no images under {data_dir}")
    confusion = np.zeros((len(model.labels), len(model.labels)), dtype=np.int64)
    probs = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        probs.append(model.predict([read_image(path) for path, _ in chunk]))
        np.add.at(confusion, ([truth for _, truth in chunk], probs[-1].argmax(axis=1)), 1)
    support = confusion.sum(axis=1)
    result = EvalResult(
        n=len(items),
        accuracy=float(np.trace(confusion) / len(items)),
        per_class_recall={
            label: float(confusion[i, i] / support[i]) for i, label in enumerate(model.labels) if support[i]
        },
        confusion=confusion.tolist(),
        labels=tuple(model.labels),
        ece=expected_calibration_error(np.concatenate(probs), np.array([truth for _, truth in items])),
    )
    logger.info("evaluated data_dir=%s n=%d accuracy=%.4f", data_dir, result.n, result.accuracy)
    return result


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between top-1 confidence and accuracy over ``bins`` equal bins."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(float((pred[inside] == y[inside]).mean()) - float(conf[inside].mean()))
    return float(ece)


def ms_per_face(model: EmotionModel, crops: Sequence[np.ndarray], batch_size: int) -> float:
    """Mean wall-clock milliseconds per crop of ``model.predict`` (preprocessing included) in batches.

    One warm-up batch runs first and is not counted. Raises ValueError for no crops or ``batch_size < 1``.
    """
    if not crops or batch_size < 1:
        raise ValueError("ms_per_face needs at least one crop and batch_size >= 1")
    model.predict(crops[:batch_size])
    start = time.perf_counter()
    for i in range(0, len(crops), batch_size):
        model.predict(crops[i : i + batch_size])
    return (time.perf_counter() - start) * 1000.0 / len(crops)
