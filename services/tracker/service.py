"""The tracker stage over Redis: per camera, emotions in ``seq`` order -> tracks.

Each camera has a :class:`SeqReorderer` (entries are acked when released, so a crash loses nothing)
and a :class:`CameraTracker`. Skip markers are gaps; an End marker finishes a file job's camera.
"""

from __future__ import annotations

import logging
from collections import Counter

from services.common import keys
from services.common.schema import Emotions, End, Skip, Track, Tracks
from services.common.streams import Batch, Entry
from services.tracker.settings import TrackerSettings
from services.tracker.stage import CameraTracker, Observation, SeqReorderer, TrackerConfig

log = logging.getLogger(__name__)


def config_from(settings: TrackerSettings) -> TrackerConfig:
    return TrackerConfig(
        iou_threshold=settings.iou_threshold,
        box_alpha=settings.box_alpha,
        prob_alpha=settings.prob_alpha,
        confirm_frames=settings.confirm_frames,
        margin=settings.label_margin,
        max_age=settings.max_age,
        min_hits=settings.min_hits,
    )


class TrackerHandler:
    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        self.config = config_from(settings)
        self.trackers: dict[str, CameraTracker] = {}
        self.buffers: dict[str, SeqReorderer[Entry]] = {}
        self.stats: Counter[str] = Counter()

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        batch = Batch()
        for entry in entries:
            msg = entry.message
            assert msg is not None
            if not isinstance(msg, Emotions | Skip | End):
                batch.dead.append((entry, f"tracker cannot process a {type(msg).__name__} message"))
                continue
            buffer = self.buffers.get(msg.camera_id)
            if buffer is None:
                file_mode = msg.mode == "file"
                buffer = SeqReorderer[Entry](
                    window_ms=self.settings.file_reorder_ms if file_mode else self.settings.live_reorder_ms,
                    max_items=100_000 if file_mode else 64,
                    next_seq=0 if file_mode else None,
                )
                self.buffers[msg.camera_id] = buffer
            late = buffer.late
            buffer.push(msg.seq, entry, now_ms)
            if buffer.late > late:  # already applied (a redelivery) or too late to apply in order
                self.stats["late"] += 1
                batch.acks.append(entry)
        self._release(batch, now_ms)
        return batch

    def tick(self, now_ms: int) -> Batch:
        batch = Batch()
        self._release(batch, now_ms)
        return batch

    def _release(self, batch: Batch, now_ms: int) -> None:
        for camera_id, buffer in list(self.buffers.items()):
            for seq, entry in buffer.pop_ready(now_ms):
                msg = entry.message
                tracker = self.trackers.setdefault(camera_id, CameraTracker(self.config))
                out = keys.stream("tracks", camera_id)
                batch.acks.append(entry)
                if isinstance(msg, Emotions):
                    views = tracker.update(
                        seq, [Observation(f.box_xyxy, f.probs, f.score) for f in msg.faces]
                    )
                    tracks = tuple(
                        Track(
                            track_id=v.track_id,
                            box_xyxy=v.box_xyxy,
                            label=v.label,
                            confidence=round(v.confidence, 5),
                            raw_label=v.raw_label,
                            probs={k: round(p, 5) for k, p in v.probs.items()},
                        )
                        for v in views
                    )
                    batch.outputs.append(
                        (
                            out,
                            Tracks(
                                camera_id=camera_id,
                                seq=seq,
                                captured_ms=msg.captured_ms,
                                mode=msg.mode,
                                frame_key=msg.frame_key,
                                size_wh=msg.size_wh,
                                tracks=tracks,
                            ),
                        )
                    )
                    self.stats["frames"] += 1
                elif isinstance(msg, Skip):
                    tracker.skip(seq)
                    batch.outputs.append((out, msg))
                    self.stats["gaps"] += 1
                elif isinstance(msg, End):
                    batch.outputs.append((out, msg))
                    del self.buffers[camera_id]
                    self.trackers.pop(camera_id, None)
                    log.info("file job tracked camera=%s frames=%d", camera_id, msg.frames)
                    break
