"""Per-track emotion timelines of one camera: segments of the shown label with their mean probabilities.

Bounded: each track keeps its last ``max_segments`` segments, and :meth:`CameraTimeline.prune` forgets
tracks not seen for ``keep_ms``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.tracker.stage import TrackView


@dataclass
class Segment:
    label: str
    start_seq: int
    end_seq: int
    start_ms: int
    end_ms: int
    frames: int = 0
    probs_sum: dict[str, float] = field(default_factory=dict)

    def add(self, seq: int, captured_ms: int, probs: dict[str, float]) -> None:
        self.end_seq, self.end_ms = seq, captured_ms
        self.frames += 1
        for k, p in probs.items():
            self.probs_sum[k] = self.probs_sum.get(k, 0.0) + p

    def to_json(self) -> dict[str, Any]:
        n = max(self.frames, 1)
        return {
            "label": self.label,
            "start_seq": self.start_seq,
            "end_seq": self.end_seq,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "frames": self.frames,
            "mean_probs": {k: round(v / n, 4) for k, v in self.probs_sum.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Segment:
        frames = int(d["frames"])
        return cls(
            label=str(d["label"]),
            start_seq=int(d["start_seq"]),
            end_seq=int(d["end_seq"]),
            start_ms=int(d["start_ms"]),
            end_ms=int(d["end_ms"]),
            frames=frames,
            probs_sum={str(k): float(v) * frames for k, v in d["mean_probs"].items()},
        )


@dataclass
class TrackTimeline:
    segments: deque[Segment]
    last_seq: int = 0
    last_ms: int = 0
    probs: dict[str, float] = field(default_factory=dict)


class CameraTimeline:
    """The live timelines of one camera's tracks (see :meth:`to_json` for the shape)."""

    def __init__(self, camera_id: str, max_segments: int = 50, keep_ms: int = 300_000) -> None:
        if max_segments < 1 or keep_ms < 0:
            raise ValueError(f"need max_segments >= 1 and keep_ms >= 0, got {max_segments}, {keep_ms}")
        self.camera_id = camera_id
        self.max_segments = max_segments
        self.keep_ms = keep_ms
        self.tracks: dict[int, TrackTimeline] = {}

    def record(self, seq: int, captured_ms: int, views: Iterable[TrackView]) -> None:
        """Add one frame's published tracks; a change of the shown label starts a new segment."""
        for v in views:
            tl = self.tracks.get(v.track_id)
            if tl is None:
                tl = self.tracks[v.track_id] = TrackTimeline(deque(maxlen=self.max_segments))
            if not tl.segments or tl.segments[-1].label != v.label:
                tl.segments.append(Segment(v.label, seq, seq, captured_ms, captured_ms))
            tl.segments[-1].add(seq, captured_ms, v.probs)
            tl.last_seq, tl.last_ms, tl.probs = seq, captured_ms, dict(v.probs)

    def prune(self, now_ms: int) -> None:
        """Forget tracks not seen in the last ``keep_ms`` (epoch ms)."""
        self.tracks = {k: t for k, t in self.tracks.items() if now_ms - t.last_ms <= self.keep_ms}

    def to_json(self) -> dict[str, Any]:
        """The document the tracker writes to ``keys.timeline(camera_id)`` (and the UI serves)::

            {"camera_id": str, "version": 1,
             "tracks": [{"track_id": int,
                         "last_seq": int, "last_ms": int,          # when the track was last seen
                         "probs": {label: float},                  # its latest smoothed probabilities
                         "segments": [{"label": str,               # the shown label
                                       "start_seq": int, "end_seq": int,   # frames, inclusive
                                       "start_ms": int, "end_ms": int,     # captured_ms, epoch ms
                                       "frames": int,              # frames the track was seen in it
                                       "mean_probs": {label: float}}]}]}   # mean smoothed probabilities

        Tracks are sorted by id, segments oldest first; only the last ``max_segments`` segments of tracks
        seen in the last ``keep_ms`` are kept. Probabilities are rounded to 4 decimals.
        """
        return {
            "camera_id": self.camera_id,
            "version": 1,
            "tracks": [
                {
                    "track_id": tid,
                    "last_seq": t.last_seq,
                    "last_ms": t.last_ms,
                    "probs": {k: round(p, 4) for k, p in t.probs.items()},
                    "segments": [s.to_json() for s in t.segments],
                }
                for tid, t in sorted(self.tracks.items())
            ],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], max_segments: int = 50, keep_ms: int = 300_000) -> CameraTimeline:
        """Rebuild from :meth:`to_json` output (a restarted tracker continues the timelines).

        Raises ``KeyError``/``ValueError`` on a malformed document.
        """
        tl = cls(str(doc["camera_id"]), max_segments, keep_ms)
        for t in doc["tracks"]:
            tl.tracks[int(t["track_id"])] = TrackTimeline(
                deque((Segment.from_json(s) for s in t["segments"]), maxlen=max_segments),
                last_seq=int(t["last_seq"]),
                last_ms=int(t["last_ms"]),
                probs={str(k): float(v) for k, v in t["probs"].items()},
            )
        return tl
