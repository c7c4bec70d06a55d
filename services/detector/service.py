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
from services.detector.roi import RoiPlanner, cut_regions, from_regions
from services.detector.settings import DetectorSettings
from services.detector.stage import FaceDetections, FaceDetector, faces_of_frame, filter_faces

log = logging.getLogger(__name__)


class DetectorHandler:
    def __init__(self, client: redis.Redis, detector: FaceDetector, settings: DetectorSettings) -> None:
        self.redis = client
        self.detector = detector
        self.settings = settings
        self.stats: Counter[str] = Counter()
        self.planner = RoiPlanner(settings.live_full_every)

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
            for (i, msg, image), dets in zip(pending, self._search(pending), strict=True):
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

    def _search(self, pending: list[tuple[int, Frame, np.ndarray]]) -> list[FaceDetections]:
        """The kept faces of each frame, from one MTCNN call over the whole frames and the regions of the
        live frames the planner narrows (:mod:`services.detector.roi`)."""
        plans = [
            self.planner.regions(msg.camera_id, msg.captured_ms, _size_wh(image))
            if msg.mode == "live"
            else None
            for _, msg, image in pending
        ]
        images: list[np.ndarray] = []
        for (_, _, image), regions in zip(pending, plans, strict=True):
            images.extend([image] if regions is None else cut_regions(image, regions))
        found = iter(self.detector.detect(images))
        kept: list[FaceDetections] = []
        for (_, msg, image), regions in zip(pending, plans, strict=True):
            if regions is None:
                self.stats["frames_whole"] += 1
                dets = filter_faces(next(found), self.settings.min_score, self.settings.min_size_px)
            else:
                self.stats["frames_in_regions" if len(regions) else "frames_unsearched"] += 1
                dets = from_regions(
                    [next(found) for _ in regions],
                    regions,
                    _size_wh(image),
                    min_score=self.settings.min_score,
                    min_size_px=self.settings.min_size_px,
                )
            if msg.mode == "live":
                self.planner.update(msg.camera_id, msg.captured_ms, _size_wh(image), dets, regions)
            kept.append(dets)
        return kept


def _size_wh(image: np.ndarray) -> tuple[int, int]:
    return int(image.shape[1]), int(image.shape[0])
