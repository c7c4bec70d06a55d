"""The tracker stage over Redis: per camera, emotions in ``seq`` order -> tracks.

:class:`TrackerHandler` is the Redis-free part: per camera a :class:`SeqReorderer` (entries are acked when
released, so a crash loses nothing), a :class:`CameraTracker` and a :class:`CameraTimeline`. Skip markers
and reorder timeouts are gaps; an End marker finishes a file job's camera.

:class:`TrackerWorker` adds ownership and checkpoints. Design:

- All replicas share one consumer group, but a replica reads (and reclaims from) only the streams of the
  cameras whose lease ``keys.tracker_lease(cam)`` it holds (``SET NX PX``, renewed every second by its
  owner, released on a clean stop). Entries of other cameras are never delivered to it, so it cannot
  ack or apply them: they wait for their owner. One owner per camera at a time.
- Each commit writes the tracks, the acks of the applied entries and the camera's checkpoint
  ``keys.tracker_state(cam)`` (tracker state + next seq) in one MULTI, under WATCH of the lease, so a
  replica that lost its lease cannot overwrite its successor's state. Entries still in the reorder buffer
  are pending, not acked.
- A replica that acquires a camera loads the checkpoint (and the live timeline), then claims every
  pending entry of the camera's stream at once (the previous owner is gone: its lease lapsed or was
  released), so the same track ids continue; entries already applied are acked as late duplicates.
  There is no periodic reclaim: while a replica holds the lease, every pending entry is its own.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

from services.common import keys
from services.common.schema import Emotions, End, Mode, Skip, Track, Tracks, carried
from services.common.streams import Batch, Entry
from services.common.worker import Worker
from services.tracker import checkpoint
from services.tracker.settings import TrackerSettings
from services.tracker.stage import CameraTracker, Observation, SeqReorderer, TrackerConfig
from services.tracker.timeline import CameraTimeline

log = logging.getLogger(__name__)

_OWNED = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RENEW = _OWNED + "redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _OWNED + "redis.call('del', KEYS[1]) end return 0"


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
                    )
                    self._timeline(camera_id).record(seq, msg.captured_ms, views)
                    batch.outputs.append(
                        (
                            out,
                            Tracks(**carried(msg), tracks=tuple(track_of(v) for v in views)),
                        )
                    )
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


def _camera_of(stream: str) -> str:
    return stream.split(":", 2)[2]


class TrackerWorker(Worker):
    """The stream worker with per-camera leases (see the module docstring), through the worker's hooks:
    :meth:`assign` renews and takes leases, :meth:`commit` writes under WATCH of them, ``teardown``
    releases them. Checkpoints come from the handler, in each batch's ``writes``."""

    handler: TrackerHandler
    recover_own_pending = False  # _take_over claims a camera's pending entries when it acquires the lease
    # No periodic XAUTOCLAIM: a camera's pending entries are either this replica's own (waiting in its
    # reorder buffer, possibly longer than ``claim_idle_ms`` for a file job's missing seq: reclaiming them
    # would count deliveries up to the dead letters) or a previous owner's, which _take_over claims all at
    # once when the lease changes hands.
    periodic_claim = False

    def __init__(
        self,
        settings: TrackerSettings,
        handler: TrackerHandler | None = None,
        client: redis.Redis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        kind, group = keys.GROUPS["tracker"]
        super().__init__(
            "tracker", settings, handler or TrackerHandler(settings), kind, group, client=client, stop=stop
        )
        self.tracker_settings = settings
        self.owned: list[str] = []
        self._renew = self.redis.register_script(_RENEW)
        self._release_lease = self.redis.register_script(_RELEASE)

    def teardown(self) -> None:
        for camera_id in self.owned:
            try:
                self._release_lease(keys=[keys.tracker_lease(camera_id)], args=[self.settings.instance])
            except redis.RedisError:
                break
        self.owned = []

    def assign(self, cameras: list[str]) -> list[str]:
        """Renew the leases held, drop the cameras whose lease was lost, take free leases (up to
        ``max_cameras``); the cameras owned now."""
        me, ttl = self.settings.instance, self.tracker_settings.lease_ms
        kept: list[str] = []
        for camera_id in self.owned:
            if camera_id in cameras and self._renew(keys=[keys.tracker_lease(camera_id)], args=[me, ttl]):
                kept.append(camera_id)
                continue
            if camera_id not in cameras:
                self._release_lease(keys=[keys.tracker_lease(camera_id)], args=[me])
            else:
                log.warning("lease lost camera=%s", camera_id)
            self.handler.drop(camera_id)
        self.owned = kept
        limit = self.tracker_settings.max_cameras or len(cameras)
        for camera_id in cameras:
            if len(self.owned) >= limit:
                break
            if camera_id in self.owned:
                continue
            # a lease already in this instance's name was held before a restart: take it back at once
            if self.redis.set(keys.tracker_lease(camera_id), me, nx=True, px=ttl) or self._renew(
                keys=[keys.tracker_lease(camera_id)], args=[me, ttl]
            ):
                self._take_over(camera_id)
        return list(self.owned)

    def _take_over(self, camera_id: str) -> None:
        """Load the camera's checkpoint and timeline, then claim every entry its last owner left pending."""
        raw_state, raw_timeline = self.redis.mget([keys.tracker_state(camera_id), keys.timeline(camera_id)])
        self.handler.adopt(camera_id, raw_state, raw_timeline)
        self.owned.append(camera_id)
        resumed = self.handler.trackers.get(camera_id)
        log.info(
            "camera acquired camera=%s resumed=%s next_id=%s",
            camera_id,
            resumed is not None,
            resumed.next_id if resumed else None,
        )
        stream = keys.stream(self.input_kind, camera_id)
        self.streams.ensure_group(stream)
        cursor = "0-0"
        while True:
            reply = self.redis.xautoclaim(
                stream, self.streams.group, self.streams.consumer, 0, cursor, count=256
            )
            cursor = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
            entries = [self.streams.to_entry(stream, eid, f) for eid, f in reply[1] if f is not None]
            gone = [eid for eid, f in reply[1] if f is None]
            if gone:
                self.redis.xack(stream, self.streams.group, *gone)
            if entries:
                self.counts["taken_over"] += len(entries)
                self.process(entries)
            if cursor == "0-0":
                break

    def commit(self, batch: Batch) -> None:
        """The batch in one MULTI under WATCH of the leases of its cameras: a camera whose lease is no
        longer this replica's is dropped from it (its entries stay pending for the new owner)."""
        cameras = (
            {m.camera_id for _, m in batch.outputs}
            | {e.message.camera_id for e in batch.acks if e.message is not None}
            | {c for c in self.owned if _state_keys(c) & (batch.writes.keys() | set(batch.delete_keys))}
        )
        if not batch:
            return
        lease_keys = [keys.tracker_lease(c) for c in sorted(cameras)]
        with self.redis.pipeline(transaction=True) as pipe:
            if lease_keys:
                pipe.watch(*lease_keys)  # type: ignore[no-untyped-call]
                owners = pipe.mget(lease_keys)
                me = self.settings.instance.encode()
                lost = {c for c, o in zip(sorted(cameras), owners, strict=True) if o != me}
                if lost:
                    log.warning("lease lost before commit cameras=%s", ",".join(sorted(lost)))
                    for camera_id in lost:
                        self.handler.drop(camera_id)
                    self.owned = [c for c in self.owned if c not in lost]
                    batch = _without(batch, lost)
            pipe.multi()
            self.streams.queue(pipe, batch)
            try:
                pipe.execute()
            except redis.WatchError:
                # a lease changed hands between the check and EXEC: the entries stay pending for the owner
                log.warning("lease changed during commit; dropping cameras=%s", ",".join(sorted(cameras)))
                for camera_id in cameras:
                    self.handler.drop(camera_id)
                return
        self.account(batch)


def _state_keys(camera_id: str) -> set[str]:
    """The keys of a camera's state that a tracker batch writes."""
    return {keys.tracker_state(camera_id), keys.timeline(camera_id)}


def _without(batch: Batch, cameras: set[str]) -> Batch:
    gone = set().union(*(_state_keys(c) for c in cameras))
    return Batch(
        outputs=[(s, m) for s, m in batch.outputs if m.camera_id not in cameras],
        acks=[e for e in batch.acks if _camera_of(e.stream) not in cameras],
        dead=batch.dead,
        delete_keys=[k for k in batch.delete_keys if k not in gone],
        writes={k: v for k, v in batch.writes.items() if k not in gone},
    )
