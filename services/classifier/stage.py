"""The classifier stage's pure logic: the emotion-model seam, forward passes of bounded size, and the
``Emotions`` message of each ``Faces`` message.

No Redis, no environment, no torch: the model comes in through the :class:`EmotionModel` seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from services.common.image import decode_jpeg
from services.common.schema import Emotions, FaceEmotion, Faces, carried

#: Crops per forward pass: one read of the classifier can hold read_count entries of every camera, each
#: with several faces, so a pass is split into chunks of at most this many crops.
MAX_FACES_PER_PASS = 64


class EmotionModel(Protocol):
    """Anything that turns face crops into emotion probabilities."""

    labels: tuple[str, ...]

    def predict(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Return float32 probabilities, shape ``(n, len(labels))``, each row summing to 1.

        ``crops_bgr`` are uint8 face crops, ``(h, w, 3)`` BGR or ``(h, w)`` gray, any size.
        An empty sequence gives shape ``(0, len(labels))``.
        """
        ...


def predict_in_passes(
    model: EmotionModel, crops_bgr: Sequence[np.ndarray], max_per_pass: int = MAX_FACES_PER_PASS
) -> np.ndarray:
    """``model``'s probabilities ``(n, len(labels))`` for ``crops_bgr``, in order, from forward passes of
    at most ``max_per_pass`` crops each (no pass for no crops).

    Raises ValueError for ``max_per_pass < 1`` or when the model answers a pass with the wrong shape, and
    as ``model.predict`` does.
    """
    if max_per_pass < 1:
        raise ValueError(f"max_per_pass must be >= 1, got {max_per_pass}")
    width = len(model.labels)
    chunks = [np.zeros((0, width), np.float32)]
    for start in range(0, len(crops_bgr), max_per_pass):
        chunk = crops_bgr[start : start + max_per_pass]
        probs = np.asarray(model.predict(chunk), dtype=np.float32)
        if probs.shape != (len(chunk), width):
            raise ValueError(
                f"model answered {len(chunk)} crops with shape {probs.shape}, not {(len(chunk), width)}"
            )
        chunks.append(probs)
    return np.concatenate(chunks)


def emotions_of(msg: Faces, probs: np.ndarray, labels: Sequence[str], model_name: str) -> Emotions:
    """The Emotions message of ``msg``: its identity fields, and one FaceEmotion per face (box and score of
    the face, ``probs`` row rounded to 5 decimals per label) in the order of ``msg.faces``.

    Raises ValueError when ``probs`` is not ``(len(msg.faces), len(labels))``.
    """
    if np.shape(probs) != (len(msg.faces), len(labels)):
        raise ValueError(
            f"probabilities of shape {np.shape(probs)} for {len(msg.faces)} faces and {len(labels)} labels"
        )
    return Emotions(
        **carried(msg),
        model=model_name,
        faces=tuple(
            FaceEmotion(
                box_xyxy=face.box_xyxy,
                score=face.score,
                probs={label: round(float(p), 5) for label, p in zip(labels, row, strict=True)},
                appearance=face.appearance,
            )
            for face, row in zip(msg.faces, probs, strict=True)
        ),
    )


def classify(
    messages: Sequence[Faces],
    model: EmotionModel,
    model_name: str,
    max_per_pass: int = MAX_FACES_PER_PASS,
) -> list[Emotions | Exception]:
    """One result per message, in order: its Emotions, or the ValueError of a crop that does not decode.

    The crops of all messages go through :func:`predict_in_passes` together (at most ``max_per_pass`` per
    forward pass). Raises as :func:`predict_in_passes` does.
    """
    decoded: list[list[np.ndarray] | ValueError] = []
    for msg in messages:
        try:
            decoded.append([decode_jpeg(face.crop_jpeg) for face in msg.faces])
        except ValueError as exc:
            decoded.append(exc)
    crops = [crop for d in decoded if not isinstance(d, ValueError) for crop in d]
    probs = predict_in_passes(model, crops, max_per_pass)
    out: list[Emotions | Exception] = []
    start = 0
    for msg, d in zip(messages, decoded, strict=True):
        if isinstance(d, ValueError):
            out.append(d)
            continue
        out.append(emotions_of(msg, probs[start : start + len(d)], model.labels, model_name))
        start += len(d)
    return out
