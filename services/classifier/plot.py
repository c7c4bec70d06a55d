"""The confusion matrix of an evaluation as a PNG, drawn with OpenCV (no plotting library needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from services.classifier.evaluate import EvalResult

CELL_PX = 72
MARGIN_PX = 110


def confusion_image(result: EvalResult, title: str = "") -> np.ndarray:
    """A BGR uint8 image of ``result.confusion``: rows true labels, columns predictions.

    Cells are shaded by the row-normalised share (recall on the diagonal) and show count and percent.
    """
    k = len(result.labels)
    confusion = np.asarray(result.confusion, dtype=np.float64)
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    w = MARGIN_PX + k * CELL_PX + 20
    top = 70
    img: np.ndarray = np.full((top + k * CELL_PX + 20, w, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (10, 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for i, label in enumerate(result.labels):
        cv2.putText(
            img, label, (8, top + i * CELL_PX + CELL_PX // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA
        )
        cv2.putText(
            img, label, (MARGIN_PX + i * CELL_PX + 4, top - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA
        )
        for j in range(k):
            x, y = MARGIN_PX + j * CELL_PX, top + i * CELL_PX
            level = int(255 - 215 * share[i, j])
            cv2.rectangle(img, (x, y), (x + CELL_PX - 1, y + CELL_PX - 1), (255, level, level), -1)
            ink = (255, 255, 255) if share[i, j] > 0.55 else (0, 0, 0)
            cv2.putText(img, f"{int(confusion[i, j])}", (x + 6, y + 28), font, 0.5, ink, 1, cv2.LINE_AA)
            cv2.putText(img, f"{100 * share[i, j]:.0f}%", (x + 6, y + 52), font, 0.45, ink, 1, cv2.LINE_AA)
    cv2.putText(img, "true \\ predicted", (8, top - 10), font, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    return img


def save_confusion_png(result: EvalResult, path: Path, title: str = "") -> None:
    """Write :func:`confusion_image` to ``path`` (parent folders created). Raises OSError when it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), confusion_image(result, title)):
        raise OSError(f"cannot write the confusion matrix PNG to {path}")
