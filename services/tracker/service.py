"""The tracker stage over Redis: per camera, emotions in ``seq`` order -> tracks.

:class:`TrackerHandler` is the Redis-free part: per camera a :class:`SeqReorderer` (entries are acked when
released, so a crash loses nothing), a :class:`CameraTracker` and a :class:`CameraTimeline`. Skip markers
and reorder timeouts are gaps; an End marker finishes a file job's camera.

:class:`TrackerWorker` adds ownership and checkpoints through :class:`~services.common.leased.LeasedWorker`
(one owner per camera by lease; tracks, acks and the camera's checkpoint ``keys.tracker_state(cam)``
(tracker state + next seq) and live timeline committed in one script that checks the lease; a replica
that acquires a camera loads them and claims every pending entry at once, so the same track ids continue).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import redis

from services.common import keys
from services.common.leased import LeasedWorker
from services.common.schema import Emotions, End, Mode, Skip, Track, Tracks, carried
from services.common.streams import Batch, Entry
from services.tracker import checkpoint
from services.tracker.settings import TrackerSettings
from services.tracker.stage import CameraTracker, Observation, SeqReorderer, TrackerConfig
from services.tracker.timeline import CameraTimeline
from services.tracker.tracks import TrackView

log = logging.getLogger(__name__)


def config_from(settings: TrackerSettings) -> TrackerConfig:
    """The tracking parameters of ``settings`` (the fields it inherits from :class:`TrackerConfig`)."""
    return TrackerConfig.model_validate(settings.model_dump(include=set(TrackerConfig.model_fields)))


def track_of(v: Any) -> Track:
    return Track(
        track_id=v.track_id,
        box_xyxy=v.box_xyxy,
        label=v.label,
        confidence=round(v.confidence, 5),
        raw_label=v.raw_label,
        probs={k: round(p, 5) for k, p in v.probs.items()},
    )


class TrackerHandler:
    """Per-camera reordering, tracking and timelines (no Redis)."""

    def __init__(
        self,
        settings: TrackerSettings,
        tracker_factory: Callable[[TrackerConfig], CameraTracker] | None = None,
    ) -> None:
        """``tracker_factory`` builds a camera's tracker (default :class:`CameraTracker`; benchmarks pass the
        original project's tracker to compare)."""
        self.settings = settings
        self.config = config_from(settings)
        self.tracker_factory = tracker_factory or CameraTracker
        self.trackers: dict[str, CameraTracker] = {}
        self.buffers: dict[str, SeqReorderer[Entry]] = {}
        self.timelines: dict[str, CameraTimeline] = {}
        self.modes: dict[str, Mode] = {}
        self.stats: Counter[str] = Counter()
        self._timeline_due: dict[str, int] = {}  # camera -> captured_ms before which its timeline waits

    def _timeline(self, camera_id: str) -> CameraTimeline:
        tl = self.timelines.get(camera_id)
        if tl is None:
            tl = self.timelines[camera_id] = CameraTimeline(
                camera_id, self.settings.timeline_max_segments, self.settings.timeline_keep_s * 1000
            )
        return tl

    def _buffer(self, camera_id: str, mode: Mode, next_seq: int | None) -> SeqReorderer[Entry]:
        file_mode = mode == "file"
        self.modes[camera_id] = mode
        buffer = SeqReorderer[Entry](
            window_ms=self.settings.file_reorder_ms if file_mode else self.settings.live_reorder_ms,
            max_items=100_000 if file_mode else 64,
            next_seq=next_seq if next_seq is not None else (0 if file_mode else None),
        )
        self.buffers[camera_id] = buffer
        return buffer

    def adopt(self, camera_id: str, state: bytes | str | None, timeline: bytes | str | None) -> None:
        """Continue a camera from its stored checkpoint (the JSON of :meth:`checkpoint`) and timeline.

        A malformed checkpoint or timeline is logged and the camera starts afresh.
        """
        self.drop(camera_id)
        if state is not None:
            try:
                saved = checkpoint.decode(state)
                self.trackers[camera_id] = CameraTracker.from_state(saved.tracker, self.config)
                self._buffer(camera_id, saved.mode, saved.next_seq)
            except ValueError as exc:
                log.warning("bad checkpoint camera=%s error=%r: starting afresh", camera_id, str(exc))
                self.drop(camera_id)
        if timeline is not None:
            try:
                self.timelines[camera_id] = CameraTimeline.decode(
                    timeline, self.settings.timeline_max_segments, self.settings.timeline_keep_s * 1000
                )
            except ValueError as exc:
                log.warning("bad timeline camera=%s error=%r: starting afresh", camera_id, str(exc))

    def resume(self, camera_id: str, stored: list[bytes | str | None]) -> None:
        """:meth:`adopt` from the values of ``[keys.tracker_state(cam), keys.timeline(cam)]``."""
        state, timeline = stored
        self.adopt(camera_id, state, timeline)

    def drop(self, camera_id: str) -> None:
        """Forget a camera (its lease was lost or released); unacked entries wait for the next owner."""
        self.trackers.pop(camera_id, None)
        self.buffers.pop(camera_id, None)
        self.timelines.pop(camera_id, None)
        self.modes.pop(camera_id, None)
        self._timeline_due.pop(camera_id, None)

    def checkpoint(self, camera_id: str) -> checkpoint.Checkpoint | None:
        """The camera's tracker and reorder position, or None when it has none."""
        tracker = self.trackers.get(camera_id)
        buffer = self.buffers.get(camera_id)
        if tracker is None or buffer is None:
            return None
        return checkpoint.Checkpoint(tracker.to_state(), buffer.next_seq, self.modes[camera_id])

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        batch = Batch()
        for entry in entries:
            msg = entry.message
            assert msg is not None
            if not isinstance(msg, Emotions | Skip | End):
                batch.dead.append((entry, f"tracker cannot process a {type(msg).__name__} message"))
                continue
            buffer = self.buffers.get(msg.camera_id)
            if buffer is None:  # not `or`: an empty reorderer is falsy
                buffer = self._buffer(msg.camera_id, msg.mode, None)
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
        """Apply what the reorder buffers release, then add the changed cameras' checkpoints and
        timelines to ``batch.writes`` (an ended file job's checkpoint to its deletes): state and acks
        are committed together."""
        changed: set[str] = set()
        ended: set[str] = set()
        for camera_id, buffer in list(self.buffers.items()):
            gaps = buffer.gaps
            ready = buffer.pop_ready(now_ms)
            if buffer.gaps > gaps:
                self.stats["gaps"] += buffer.gaps - gaps
                changed.add(camera_id)
            for seq, entry in ready:
                msg = entry.message
                tracker = self.trackers.get(camera_id)
                if tracker is None:
                    tracker = self.trackers[camera_id] = self.tracker_factory(self.config)
                out = keys.stream("tracks", camera_id)
                batch.acks.append(entry)
                changed.add(camera_id)
                if isinstance(msg, Emotions):
                    views = tracker.update(
                        seq,
                        [Observation(f.box_xyxy, f.probs, f.score, f.appearance) for f in msg.faces],
                        msg.captured_ms,
                        msg.size_wh,
                    )
                    batch.outputs.append((out, self._published(msg, views, now_ms)))
                    self.stats["frames"] += 1
                elif isinstance(msg, Skip):
                    tracker.skip(seq, msg.captured_ms)
                    batch.outputs.append((out, msg))
                    self.stats["gaps"] += 1
                elif isinstance(msg, End):
                    batch.outputs.append((out, msg))
                    del self.buffers[camera_id]
                    self.trackers.pop(camera_id, None)
                    ended.add(camera_id)
                    log.info("file job tracked camera=%s frames=%d", camera_id, msg.frames)
                    break
        t = max((m.captured_ms for _, m in batch.outputs), default=0)
        for camera_id in sorted(changed - ended):
            state = self.checkpoint(camera_id)
            if state is not None:
                batch.writes[keys.tracker_state(camera_id)] = (checkpoint.encode(state), None)
                self._write_timeline(batch, camera_id, t, force=False)
        for camera_id in sorted(ended):
            batch.delete_keys.append(keys.tracker_state(camera_id))
            self._write_timeline(batch, camera_id, t, force=True)
            self.timelines.pop(camera_id, None)
            self._timeline_due.pop(camera_id, None)

    def _published(self, msg: Emotions, views: list[TrackView], now_ms: int) -> Tracks:
        """What leaves the tracker for one frame: its tracks (and their timeline), or under the
        ``aggregate`` identity mode only the faces per shown label (no id, box or timeline). Its hops
        gain ``tracker_in`` (``now_ms``: when the frame was applied, after any wait in the reorder buffer)
        and ``tracker_out``."""
        boxes = tuple(f.box_xyxy for f in msg.faces)
        msg = msgspec.structs.replace(
            msg, hops={**msg.hops, "tracker_in": now_ms, "tracker_out": int(time.time() * 1000)}
        )
        if self.settings.identity == "aggregate":
            counts = dict(Counter(v.label for v in views))
            return Tracks(**carried(msg), tracks=(), face_boxes=boxes, counts=counts)
        self._timeline(msg.camera_id).record(msg.seq, msg.captured_ms, views)
        return Tracks(**carried(msg), tracks=tuple(track_of(v) for v in views), face_boxes=boxes)

    def _write_timeline(self, batch: Batch, camera_id: str, now_ms: int, force: bool) -> None:
        """The camera's timeline into ``batch.writes``, at most every ``timeline_interval_ms`` (of
        captured time) unless ``force``."""
        tl = self.timelines.get(camera_id)
        if tl is None or (not force and now_ms < self._timeline_due.get(camera_id, 0)):
            return
        self._timeline_due[camera_id] = now_ms + self.settings.timeline_interval_ms
        tl.prune(now_ms)
        keep_ms = self.settings.timeline_keep_s * 1000
        batch.writes[keys.timeline(camera_id)] = (tl.encode(), keep_ms)


class TrackerWorker(LeasedWorker):
    """The tracker over Redis: one owner per camera through ``keys.tracker_lease`` (see
    :mod:`services.common.leased`); a camera's state is its checkpoint and its live timeline."""

    handler: TrackerHandler

    def __init__(
        self,
        settings: TrackerSettings,
        handler: TrackerHandler | None = None,
        client: redis.Redis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        kind, group = keys.GROUPS["tracker"]
        super().__init__(
            "tracker",
            settings,
            handler or TrackerHandler(settings),
            kind,
            group,
            lease_key=keys.tracker_lease,
            state_keys=lambda c: [keys.tracker_state(c), keys.timeline(c)],
            lease_ms=settings.lease_ms,
            max_cameras=settings.max_cameras,
            client=client,
            stop=stop,
        )
        self.tracker_settings = settings
