"""The detector stage over Redis: frame references in, faces (boxes, landmarks, crops) out."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import redis

from services.common.connect import mget
from services.common.image import decode_jpeg
from services.common.schema import Frame, Message
from services.common.streams import Batch, Entry
from services.common.worker import map_stage, skip_of
from services.detector.settings import DetectorSettings
from services.detector.stage import FaceDetector, faces_of_frame

log = logging.getLogger(__name__)


class DetectorHandler:
    def __init__(self, client: redis.Redis, detector: FaceDetector, settings: DetectorSettings) -> None:
        self.redis = client
        self.detector = detector
        self.settings = settings
        self.stats: Counter[str] = Counter()

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        batch = map_stage(
            entries,
            now_ms,
            service="detector",
            output_kind="faces",
            max_age_ms=self.settings.live_max_age_ms,
            accept=Frame,
            process=self.detect,
            stats=self.stats,
            latest_live_only=True,
        )
        # A file job's frame is needed by nobody after detection: free it in the same MULTI as the ack.
        batch.delete_keys.extend(
            e.message.frame_key
            for e in batch.acks + [d for d, _ in batch.dead]
            if isinstance(e.message, Frame) and e.message.mode == "file"
        )
        return batch

    def tick(self, now_ms: int) -> Batch:
        return Batch()

    def detect(self, messages: Sequence[Message]) -> list[Message | Exception]:
        """One batched MTCNN pass; a Skip where the frame expired, an error where it is corrupt."""
        frames = [m for m in messages if isinstance(m, Frame)]
        out: list[Message | Exception] = [ValueError("not a frame")] * len(frames)
        pending: list[tuple[int, Frame, np.ndarray]] = []
        for i, (msg, blob) in enumerate(
            zip(frames, mget(self.redis, [m.frame_key for m in frames]), strict=True)
        ):
            if blob is None:
                out[i] = skip_of(msg, "detector", "frame expired before detection")
                continue
            try:
                pending.append((i, msg, decode_jpeg(blob)))
            except ValueError as exc:
                out[i] = exc
        if pending:
            found = self.detector.detect([image for _, _, image in pending])
            for (i, msg, image), dets in zip(pending, found, strict=True):
                out[i] = faces_of_frame(
                    msg,
                    image,
                    dets,
                    min_score=self.settings.min_score,
                    min_size_px=self.settings.min_size_px,
                    crop_margin=self.settings.crop_margin,
                    align_faces=self.settings.align_faces,
                    appearance=self.settings.appearance,
                )
        return out
