"""The one timeline format: per track, the segments of its shown label, and the builder of both timelines.

A segment is a run of frames in which a track's shown label stays the same; it ends where the label
changes (frames where the track is not seen do not split it). The same structs carry

- the live timeline of a camera, which the tracker writes to ``keys.timeline(camera_id)``
  (:class:`Timeline`: ``{"camera_id", "version": 1, "tracks": [TrackSegments]}``; kept and bounded by
  ``services.tracker.timeline.CameraTimeline``), and
- a file job's ``timeline.json``: a JSON list of :class:`TrackSegments` (:func:`video_timeline`), whose
  segments also carry the video's time (``start_s``, ``end_s``).

Each field has one spelling: a frame is its ``seq`` (for a video file that is its frame index, from 0),
so ``start_seq``/``end_seq`` serve both. Files written before that also carried ``start_frame`` and
``end_frame`` (the same numbers); :func:`read_tracks` still reads them and ignores the copies.

Both are built by :class:`TimelineBuilder` from the published tracks, frame by frame, and read back with
:func:`read_tracks` (any of the two documents' ``tracks``) or :func:`read_timeline`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from services.common.job_journal import JobResult
from services.common.schema import Tracks

VERSION = 1


class Segment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One run of a track's shown label. Frame ranges are inclusive; probabilities rounded to 4 decimals.

    ``start_s``, ``end_s`` are set for a video file only (the time in the video of the frames
    ``start_seq`` and ``end_seq``, which are their frame indexes: ``seq / fps``); a live camera has no
    video time and its segments leave them out.
    """

    label: str  # the shown (hysteresis) label
    start_seq: int  # seq of the first and last frame of the run
    end_seq: int
    start_ms: int  # captured_ms (epoch ms) of those frames
    end_ms: int
    frames: int  # frames of the run in which the track was seen
    mean_probs: dict[str, float]  # mean smoothed probabilities over those frames
    start_s: float | None = None
    end_s: float | None = None


class TrackSegments(msgspec.Struct, frozen=True, kw_only=True):
    """One track's timeline: its segments, oldest first, and when and how it was last seen."""

    track_id: int
    last_seq: int
    last_ms: int  # captured_ms of the last frame the track was seen in
    probs: dict[str, float]  # its latest smoothed probabilities
    segments: tuple[Segment, ...]


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """The live timeline document of one camera (``keys.timeline``); tracks sorted by id."""

    camera_id: str
    version: int = VERSION
    tracks: tuple[TrackSegments, ...]


class Labelled(Protocol):
    """What a timeline needs of a published track (``schema.Track`` and ``tracker.stage.TrackView``)."""

    @property
    def track_id(self) -> int: ...

    @property
    def label(self) -> str: ...

    @property
    def probs(self) -> Mapping[str, float]: ...


@dataclass
class _Run:
    """A segment being built: sums of the probabilities, not yet their means."""

    label: str
    start_seq: int
    start_ms: int
    end_seq: int = 0
    end_ms: int = 0
    frames: int = 0
    probs_sum: dict[str, float] = field(default_factory=dict)

    def add(self, seq: int, captured_ms: int, probs: Mapping[str, float]) -> None:
        self.end_seq, self.end_ms = seq, captured_ms
        self.frames += 1
        for k, p in probs.items():
            self.probs_sum[k] = self.probs_sum.get(k, 0.0) + p

    def segment(self, fps: float | None) -> Segment:
        """The finished segment; with the video's frame index and time when ``fps`` (a file) is given."""
        n = max(self.frames, 1)
        return Segment(
            label=self.label,
            start_seq=self.start_seq,
            end_seq=self.end_seq,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            frames=self.frames,
            mean_probs={k: round(v / n, 4) for k, v in self.probs_sum.items()},
            start_s=round(self.start_seq / fps, 3) if fps else None,
            end_s=round(self.end_seq / fps, 3) if fps else None,
        )

    @classmethod
    def of(cls, s: Segment) -> _Run:
        return cls(
            s.label,
            s.start_seq,
            s.start_ms,
            s.end_seq,
            s.end_ms,
            s.frames,
            {k: v * s.frames for k, v in s.mean_probs.items()},
        )


@dataclass
class _Track:
    runs: deque[_Run]
    last_seq: int = 0
    last_ms: int = 0
    probs: dict[str, float] = field(default_factory=dict)


class TimelineBuilder:
    """Builds the tracks' timelines frame by frame; each track keeps its last ``max_segments`` segments
    (all of them when None)."""

    def __init__(self, max_segments: int | None = None) -> None:
        if max_segments is not None and max_segments < 1:
            raise ValueError(f"need max_segments >= 1, got {max_segments}")
        self.max_segments = max_segments
        self._tracks: dict[int, _Track] = {}

    def record(self, seq: int, captured_ms: int, tracks: Iterable[Labelled]) -> None:
        """Add one frame's published tracks; a change of the shown label starts a new segment."""
        for t in tracks:
            tl = self._tracks.get(t.track_id)
            if tl is None:
                tl = self._tracks[t.track_id] = _Track(deque(maxlen=self.max_segments))
            if not tl.runs or tl.runs[-1].label != t.label:
                tl.runs.append(_Run(t.label, seq, captured_ms))
            tl.runs[-1].add(seq, captured_ms, t.probs)
            tl.last_seq, tl.last_ms, tl.probs = seq, captured_ms, dict(t.probs)

    def forget_unseen_since(self, oldest_ms: int) -> None:
        """Forget the tracks last seen before ``oldest_ms`` (captured_ms)."""
        self._tracks = {k: t for k, t in self._tracks.items() if t.last_ms >= oldest_ms}

    def track_ids(self) -> list[int]:
        return sorted(self._tracks)

    def tracks(self, fps: float | None = None) -> tuple[TrackSegments, ...]:
        """Every track's timeline, sorted by id; ``fps``: the video's frame rate (a file), else None."""
        return tuple(
            TrackSegments(
                track_id=tid,
                last_seq=t.last_seq,
                last_ms=t.last_ms,
                probs={k: round(p, 4) for k, p in t.probs.items()},
                segments=tuple(r.segment(fps) for r in t.runs),
            )
            for tid, t in sorted(self._tracks.items())
        )

    def resume(self, tracks: Iterable[TrackSegments]) -> None:
        """Continue from :meth:`tracks` output (the means times the frames stand in for the sums)."""
        for t in tracks:
            self._tracks[t.track_id] = _Track(
                deque((_Run.of(s) for s in t.segments), maxlen=self.max_segments),
                t.last_seq,
                t.last_ms,
                dict(t.probs),
            )


def video_timeline(result: JobResult, fps: float) -> tuple[TrackSegments, ...]:
    """The timeline of a file job (``timeline.json``): every segment of every track, with video time."""
    builder = TimelineBuilder()
    for seq in sorted(result.frames):
        msg = result.frames[seq]
        if isinstance(msg, Tracks):
            builder.record(seq, msg.captured_ms, msg.tracks)
    return builder.tracks(fps)


def encode_tracks(tracks: Iterable[TrackSegments]) -> bytes:
    """``timeline.json``: the tracks as an indented JSON list."""
    return msgspec.json.format(msgspec.json.encode(list(tracks)), indent=1)


def read_tracks(data: bytes | str) -> list[TrackSegments]:
    """The tracks of ``timeline.json`` (or of any JSON list of :class:`TrackSegments`); an older file's
    ``start_frame``/``end_frame`` copies of ``start_seq``/``end_seq`` are ignored.

    Raises ``msgspec.ValidationError`` (a ValueError) or ``msgspec.DecodeError`` when malformed."""
    return msgspec.json.decode(data, type=list[TrackSegments])


def read_timeline(data: bytes | str) -> Timeline:
    """A live timeline document (``keys.timeline``); raises as :func:`read_tracks` does."""
    return msgspec.json.decode(data, type=Timeline)
