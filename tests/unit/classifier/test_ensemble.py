"""EnsembleModel: the weighted mean of its members' probabilities, with clear errors for bad members."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from services.classifier.ensemble import EnsembleModel
from services.common.labels import CANONICAL_LABELS


class Constant:
    """A fake EmotionModel answering the same probabilities for every crop."""

    def __init__(self, probs: list[float], labels: tuple[str, ...] = CANONICAL_LABELS) -> None:
        self.probs = np.asarray(probs, dtype=np.float32)
        self.labels = labels

    def predict(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return np.tile(self.probs, (len(crops_bgr), 1))


def test_mean_of_members() -> None:
    a = Constant([1, 0, 0, 0, 0, 0, 0])
    b = Constant([0, 0, 0, 1, 0, 0, 0])
    crops = [np.zeros((48, 48), np.uint8)] * 3
    out = EnsembleModel([a, b]).predict(crops)
    assert out.shape == (3, 7) and np.allclose(out.sum(1), 1)
    assert np.allclose(out[0], [0.5, 0, 0, 0.5, 0, 0, 0])
    weighted = EnsembleModel([a, b], weights=[3, 1]).predict(crops)
    assert np.allclose(weighted[0], [0.75, 0, 0, 0.25, 0, 0, 0])
    assert EnsembleModel([a]).predict([]).shape == (0, 7)


@pytest.mark.parametrize(
    ("members", "weights", "message"),
    [
        ([], None, "at least one"),
        ([Constant([1] + [0] * 6), Constant([1, 0], labels=("a", "b"))], None, "same labels"),
        ([Constant([1] + [0] * 6)], [-1.0], "non-negative"),
        ([Constant([1] + [0] * 6)], [1.0, 2.0], "1 non-negative"),
    ],
)
def test_bad_ensembles_are_refused(
    members: list[Constant], weights: list[float] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EnsembleModel(members, weights)
