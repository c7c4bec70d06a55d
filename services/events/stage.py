"""The events service's pure logic: one camera's tracks, in seq order, in; typed events out.

- ``track_started``: a track id is published for the first time;
- ``label_changed``: its shown label changes (``previous``, ``dwell_s`` in it);
- ``label_held``: one of ``held_labels`` has been shown for ``held_s`` seconds without a change (once per
  run of that label);
- ``track_ended``: the track has not been seen for ``end_after_s`` seconds of capture time, or its file
  job ended; with its duration and the seconds per shown label.

Times are capture times (``captured_ms``), so a file job's events are the same at any speed. No Redis:
:meth:`CameraEvents.apply` takes one Tracks, Skip or End message; ``to_state``/``from_state`` checkpoint
it, and the message ``seq`` it has applied up to makes a redelivered message a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from services.common.schema import Box, End, Event, EventKind, Skip, Tracks

_STATE_VERSION = 1
BUCKET_MS = 10_000  # the History tab's resolution: shown-label counts per camera per 10 s
PAST_KEEP_MS = 120_000  # longer than the tracker's re-identification window (default 10 s) by far


class EventsConfig(BaseModel):
    """The event rules, declared once (:class:`~services.events.settings.EventsSettings` inherits them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    held_labels: tuple[str, ...] = Field(
        ("angry", "sad", "fear"), description="labels whose long runs are events (label_held)"
    )
    held_s: float = Field(5.0, gt=0, description="...after this many seconds shown without a change")
    end_after_s: float = Field(3.0, gt=0, description="a track unseen this long (capture time) has ended")


class TrackState(msgspec.Struct):
    track_id: int
    label: str
    confidence: float
    box_xyxy: Box
    first_ms: int
    last_ms: int
    label_since_ms: int
    held: bool = False  # label_held already sent for the current run of the label
    counts: dict[str, int] = msgspec.field(default_factory=dict)  # events sent per kind
    labels_ms: dict[str, int] = msgspec.field(default_factory=dict)  # time per shown label so far


class CameraState(msgspec.Struct):
    version: int
    camera_id: str
    applied_seq: int  # the highest message seq applied (-1: none)
    tracks: list[TrackState]
    mode: str = "live"
    past: dict[int, tuple[int, dict[str, int]]] = {}
    bucket_ms: int = -1
    bucket: dict[str, int] = {}


@dataclass
class CameraEvents:
    """The events of one camera (see the module docstring)."""

    camera_id: str
    config: EventsConfig
    applied_seq: int = -1
    tracks: dict[int, TrackState] = field(default_factory=dict)
    mode: str = "live"  # of the last message: only a live camera's tracks expire by the wall clock
    #: ended tracks' event counts (track id -> (ended at, counts)) for ``PAST_KEEP_MS``: the tracker may
    #: give a returning person their id back after the track ended here, and their events then go on
    #: counting, so no event id is ever used twice
    past: dict[int, tuple[int, dict[str, int]]] = field(default_factory=dict)
    #: the open 10 s bucket of a live camera (start, shown label -> faces seen in it), and the buckets
    #: closed since the last :meth:`take_closed`
    bucket_ms: int = -1
    bucket: dict[str, int] = field(default_factory=dict)
    closed: list[tuple[int, dict[str, int]]] = field(default_factory=list)

    def apply(self, msg: Tracks | Skip | End) -> list[Event]:
        """The events ``msg`` causes, in order; none for a message at or below the applied seq (a
        redelivery)."""
        if msg.seq <= self.applied_seq:
            return []
        self.applied_seq, self.mode = msg.seq, msg.mode
        out: list[Event] = []
        if isinstance(msg, End):
            return self._end(list(self.tracks.values()), msg.seq, msg.captured_ms, msg.mode)
        seen: set[int] = set()
        if isinstance(msg, Tracks):
            for t in msg.tracks:
                out += self._seen(t.track_id, t.label, t.confidence, t.box_xyxy, msg)
                seen.add(t.track_id)
            if msg.mode == "live":
                self._count(msg)
        gone = [
            s
            for s in self.tracks.values()
            if msg.captured_ms - s.last_ms > self.config.end_after_s * 1000 and s.track_id not in seen
        ]
        return out + self._end(gone, msg.seq, msg.captured_ms, msg.mode)

    def _count(self, msg: Tracks) -> None:
        start = msg.captured_ms // BUCKET_MS * BUCKET_MS
        if start != self.bucket_ms:
            self.flush(start)
            self.bucket_ms = start
        for label, n in msg.label_counts().items():  # the aggregate identity mode sends only these
            self.bucket[label] = self.bucket.get(label, 0) + n

    def flush(self, now_ms: int) -> None:
        """Close the open bucket when ``now_ms`` is past it (a new bucket began, or the camera went quiet)."""
        if self.bucket_ms >= 0 and now_ms >= self.bucket_ms + BUCKET_MS:
            if self.bucket:
                self.closed.append((self.bucket_ms, dict(sorted(self.bucket.items()))))
            self.bucket_ms, self.bucket = -1, {}

    def take_closed(self) -> list[tuple[int, dict[str, int]]]:
        """The buckets closed since the last call (to be written with this state)."""
        closed, self.closed = self.closed, []
        return closed

    def expire(self, now_ms: int) -> list[Event]:
        """End the tracks of a live camera that published nothing for ``end_after_s`` (wall clock, with
        a second's grace): a camera that stopped sends no message that would end them. A file job's
        times are its video's, not the clock's: its tracks end by its own frames and its End."""
        if self.mode != "live":
            return []
        gone = [s for s in self.tracks.values() if now_ms - s.last_ms > self.config.end_after_s * 1000 + 1000]
        return self._end(gone, self.applied_seq, now_ms, "live")

    def _seen(self, track_id: int, label: str, confidence: float, box: Box, msg: Tracks) -> list[Event]:
        t = msg.captured_ms
        s = self.tracks.get(track_id)
        if s is None:
            _, counts = self.past.pop(track_id, (0, {}))
            s = self.tracks[track_id] = TrackState(track_id, label, confidence, box, t, t, t, counts=counts)
            return [self._event(s, "track_started", msg.seq, t, msg.mode)]
        s.labels_ms[s.label] = s.labels_ms.get(s.label, 0) + (t - s.last_ms)
        s.last_ms, s.box_xyxy, s.confidence = t, box, confidence
        out: list[Event] = []
        if label != s.label:
            previous, dwell = s.label, (t - s.label_since_ms) / 1000
            s.label, s.label_since_ms, s.held = label, t, False
            out.append(
                self._event(s, "label_changed", msg.seq, t, msg.mode, previous=previous, dwell_s=dwell)
            )
        held_s = (t - s.label_since_ms) / 1000
        if not s.held and s.label in self.config.held_labels and held_s >= self.config.held_s:
            s.held = True
            out.append(self._event(s, "label_held", msg.seq, t, msg.mode, dwell_s=held_s))
        return out

    def _end(self, gone: Iterable[TrackState], seq: int, captured_ms: int, mode: str) -> list[Event]:
        out = []
        self.past = {k: v for k, v in self.past.items() if captured_ms - v[0] <= PAST_KEEP_MS}
        for s in sorted(gone, key=lambda g: g.track_id):
            del self.tracks[s.track_id]
            labels_s = {k: round(v / 1000, 3) for k, v in sorted(s.labels_ms.items())}
            top = max(labels_s, key=lambda k: labels_s[k]) if labels_s else s.label
            out.append(
                self._event(
                    s,
                    "track_ended",
                    seq,
                    captured_ms,
                    mode,
                    label=top,
                    duration_s=round((s.last_ms - s.first_ms) / 1000, 3),
                    labels_s=labels_s,
                )
            )
            self.past[s.track_id] = (captured_ms, s.counts)
        return out

    def _event(
        self,
        s: TrackState,
        kind: EventKind,
        seq: int,
        captured_ms: int,
        mode: str,
        *,
        label: str | None = None,
        previous: str = "",
        dwell_s: float = 0.0,
        duration_s: float = 0.0,
        labels_s: dict[str, float] | None = None,
    ) -> Event:
        n = s.counts[kind] = s.counts.get(kind, 0) + 1
        return Event(
            camera_id=self.camera_id,
            seq=seq,
            captured_ms=captured_ms,
            mode="file" if mode == "file" else "live",
            event_id=f"{self.camera_id}:{s.track_id}:{kind}:{n}",
            kind=kind,
            track_id=s.track_id,
            label=label if label is not None else s.label,
            confidence=round(s.confidence, 4),
            box_xyxy=s.box_xyxy,
            previous=previous,
            dwell_s=round(dwell_s, 3),
            duration_s=duration_s,
            labels_s=labels_s or {},
        )

    def to_json(self) -> bytes:
        tracks = list(self.tracks.values())
        state = CameraState(
            _STATE_VERSION,
            self.camera_id,
            self.applied_seq,
            tracks,
            self.mode,
            self.past,
            self.bucket_ms,
            self.bucket,
        )
        return msgspec.json.encode(state)

    @classmethod
    def from_json(cls, raw: bytes | str, config: EventsConfig) -> CameraEvents:
        """Raises ValueError for a document that is not a version-1 state."""
        state = msgspec.json.decode(raw, type=CameraState)
        if state.version != _STATE_VERSION:
            raise ValueError(f"unsupported events state version {state.version!r}")
        tracks = {t.track_id: t for t in state.tracks}
        cam = cls(state.camera_id, config, state.applied_seq, tracks, state.mode, state.past)
        cam.bucket_ms, cam.bucket = state.bucket_ms, dict(state.bucket)
        return cam
