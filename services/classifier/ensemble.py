"""Averaging several emotion models: the mean of their probabilities (each model's own preprocessing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from services.classifier.stage import EmotionModel


class EnsembleModel:
    """:class:`EmotionModel` whose probabilities are the weighted mean of ``members``' (same labels)."""

    def __init__(self, members: Sequence[EmotionModel], weights: Sequence[float] | None = None) -> None:
        """Raises ValueError for no members, members with different labels, or bad weights."""
        if not members:
            raise ValueError("an ensemble needs at least one model")
        labels = members[0].labels
        if any(m.labels != labels for m in members):
            raise ValueError("ensemble members must have the same labels in the same order")
        w = np.asarray(weights if weights is not None else [1.0] * len(members), dtype=np.float64)
        if w.shape != (len(members),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {len(members)} non-negative numbers with a positive sum")
        self.members = list(members)
        self.weights = w / w.sum()
        self.labels = labels

    def predict(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, len(labels))`` float32 rows summing to 1; raises as the members do for bad crops."""
        total = np.zeros((len(crops_bgr), len(self.labels)), dtype=np.float64)
        for weight, member in zip(self.weights, self.members, strict=True):
            total += weight * member.predict(crops_bgr)
        return total.astype(np.float32)
