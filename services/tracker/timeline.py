"""The live emotion timeline of one camera, in the one timeline format (``services.common.timeline``).

Bounded: each track keeps its last ``max_segments`` segments, and :meth:`CameraTimeline.prune` forgets
tracks not seen for ``keep_ms``. The tracker writes :meth:`CameraTimeline.encode` to
``keys.timeline(camera_id)`` and a replica that takes the camera over continues from it
(:meth:`CameraTimeline.decode`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from services.common.timeline import Timeline, TimelineBuilder, read_timeline
from services.tracker.stage import TrackView


class CameraTimeline:
    """The live timelines of one camera's tracks (see :meth:`to_json` for the shape)."""

    def __init__(self, camera_id: str, max_segments: int = 50, keep_ms: int = 300_000) -> None:
        if max_segments < 1 or keep_ms < 0:
            raise ValueError(f"need max_segments >= 1 and keep_ms >= 0, got {max_segments}, {keep_ms}")
        self.camera_id = camera_id
        self.max_segments = max_segments
        self.keep_ms = keep_ms
        self._builder = TimelineBuilder(max_segments)

    def record(self, seq: int, captured_ms: int, views: Iterable[TrackView]) -> None:
        """Add one frame's published tracks; a change of the shown label starts a new segment."""
        self._builder.record(seq, captured_ms, views)

    def prune(self, now_ms: int) -> None:
        """Forget tracks not seen in the last ``keep_ms`` (epoch ms)."""
        self._builder.forget_unseen_since(now_ms - self.keep_ms)

    def document(self) -> Timeline:
        """The timeline as the typed document :meth:`to_json` serialises."""
        return Timeline(camera_id=self.camera_id, tracks=self._builder.tracks())

    def to_json(self) -> dict[str, Any]:
        """The document the tracker writes to ``keys.timeline(camera_id)`` (and the UI serves), as JSON
        types: a :class:`services.common.timeline.Timeline`::

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
        seen in the last ``keep_ms`` are kept. Probabilities are rounded to 4 decimals. (A file job's
        ``timeline.json`` has the same tracks, whose segments add the video's frames and times.)
        """
        doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(self.document()))  # lists, not tuples
        return doc

    def encode(self) -> str:
        """The JSON text of :meth:`to_json`, encoded once, as the tracker stores it."""
        return msgspec.json.encode(self.document()).decode()

    @classmethod
    def from_json(cls, doc: dict[str, Any], max_segments: int = 50, keep_ms: int = 300_000) -> CameraTimeline:
        """Rebuild from :meth:`to_json` output (a restarted tracker continues the timelines).

        Raises ``ValueError`` (``msgspec.ValidationError``) on a malformed document.
        """
        return cls._resumed(msgspec.convert(doc, Timeline), max_segments, keep_ms)

    @classmethod
    def decode(cls, raw: bytes | str, max_segments: int = 50, keep_ms: int = 300_000) -> CameraTimeline:
        """Rebuild from the stored JSON (:meth:`encode`). Raises ``ValueError`` when it is malformed."""
        return cls._resumed(read_timeline(raw), max_segments, keep_ms)

    @classmethod
    def _resumed(cls, parsed: Timeline, max_segments: int, keep_ms: int) -> CameraTimeline:
        tl = cls(parsed.camera_id, max_segments, keep_ms)
        tl._builder.resume(parsed.tracks)
        return tl
