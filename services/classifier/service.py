"""The classifier stage over Redis: face crops in, per-face emotion probabilities out.

Faces of every frame in a read (all cameras) go through one batched forward pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from services.classifier.model import EmotionModel
from services.common.image import decode_jpeg
from services.common.schema import Emotions, FaceEmotion, Faces, Message, carried
from services.common.streams import Batch, Entry
from services.common.worker import map_stage


class ClassifierHandler:
    def __init__(self, model: EmotionModel, model_name: str, max_age_ms: int) -> None:
        self.model = model
        self.model_name = model_name
        self.max_age_ms = max_age_ms
        self.stats: Counter[str] = Counter()

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        return map_stage(
            entries,
            now_ms,
            stage="classifier",
            out_stage="emotions",
            max_age_ms=self.max_age_ms,
            accept=Faces,
            process=self.classify,
            stats=self.stats,
        )

    def tick(self, now_ms: int) -> Batch:
        return Batch()

    def classify(self, messages: Sequence[Message]) -> list[Message | Exception]:
        out: list[Message | Exception] = []
        crops: list[np.ndarray] = []
        owners: list[int] = []  # index into out for each crop
        for i, msg in enumerate(messages):
            assert isinstance(msg, Faces)
            try:
                decoded = [decode_jpeg(face.crop_jpeg) for face in msg.faces]
            except ValueError as exc:
                out.append(exc)
                continue
            crops.extend(decoded)
            owners.extend([i] * len(decoded))
            out.append(msg)
        probs = self.model.predict(crops) if crops else np.zeros((0, len(self.model.labels)), np.float32)
        per_msg: dict[int, list[np.ndarray]] = {}
        for owner, row in zip(owners, probs, strict=True):
            per_msg.setdefault(owner, []).append(row)
        for i, result in enumerate(out):
            if not isinstance(result, Faces):
                continue
            rows = per_msg.get(i, [])
            out[i] = Emotions(
                **carried(result),
                model=self.model_name,
                faces=tuple(
                    FaceEmotion(
                        box_xyxy=face.box_xyxy,
                        score=face.score,
                        probs={
                            label: round(float(p), 5) for label, p in zip(self.model.labels, row, strict=True)
                        },
                    )
                    for face, row in zip(result.faces, rows, strict=True)
                ),
            )
        return out
