"""Random 48x48 grey images in labelled folders, laid out like ../shared/data/fer2013/<split>/<label>/
(this module holds no tests)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np


def image_folder(
    root: Path, names: Iterable[str], per_label: int = 3, seed: int = 0, suffix: str = ".jpg"
) -> Path:
    """``root/<name>/<i><suffix>`` for each name: ``per_label`` random images each, the same for a seed."""
    rng = np.random.default_rng(seed)
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(per_label):
            cv2.imwrite(str(root / name / f"{i}{suffix}"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return root
