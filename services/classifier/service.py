"""The classifier stage over Redis: face crops in, per-face emotion probabilities out.

Faces of every frame in a read (all cameras) are classified together, in forward passes of at most
``max_faces_per_pass`` crops (:mod:`services.classifier.stage`). No torch here: the model is passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.classifier import stage
from services.classifier.stage import MAX_FACES_PER_PASS, EmotionModel
from services.common.schema import Faces, Message
from services.common.streams import Batch, Entry
from services.common.worker import map_stage


class ClassifierHandler:
    def __init__(
        self,
        model: EmotionModel,
        model_name: str,
        max_age_ms: int,
        max_faces_per_pass: int = MAX_FACES_PER_PASS,
    ) -> None:
        if max_faces_per_pass < 1:
            raise ValueError(f"max_faces_per_pass must be >= 1, got {max_faces_per_pass}")
        self.model = model
        self.model_name = model_name
        self.max_age_ms = max_age_ms
        self.max_faces_per_pass = max_faces_per_pass
        self.stats: Counter[str] = Counter()

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        return map_stage(
            entries,
            now_ms,
            service="classifier",
            output_kind="emotions",
            max_age_ms=self.max_age_ms,
            accept=Faces,
            process=self.classify,
            stats=self.stats,
        )

    def tick(self, now_ms: int) -> Batch:
        return Batch()

    def classify(self, messages: Sequence[Message]) -> list[Message | Exception]:
        faces = [msg for msg in messages if isinstance(msg, Faces)]
        if len(faces) != len(messages):
            raise TypeError("the classifier accepts only Faces messages")
        self.stats["faces"] += sum(len(msg.faces) for msg in faces)
        return list(stage.classify(faces, self.model, self.model_name, self.max_faces_per_pass))
