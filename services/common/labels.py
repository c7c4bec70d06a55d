"""The canonical emotion labels and the mapping of every model's names onto them."""

from __future__ import annotations

#: Canonical order used in every message and output. ``contempt`` only appears where a model has it.
CANONICAL_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
OPTIONAL_LABELS: tuple[str, ...] = ("contempt",)

_SYNONYMS = {
    "angry": "angry",
    "anger": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "happy_face": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "suprise": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
    "none": "neutral",
    "contempt": "contempt",
}


class UnknownLabelError(ValueError):
    """A model or dataset label that cannot be mapped onto the canonical set."""


def canonical_label(name: str) -> str:
    """Map a label such as ``"Anger"`` or ``"sadness"`` to its canonical name.

    Raises :class:`UnknownLabelError` when the name has no canonical counterpart.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return _SYNONYMS[key]
    except KeyError:
        known = ", ".join(CANONICAL_LABELS + OPTIONAL_LABELS)
        raise UnknownLabelError(
            f"label {name!r} cannot be mapped onto the canonical labels ({known})"
        ) from None
