"""Typed, versioned messages that travel between the stages.

Every message is a frozen :class:`msgspec.Struct` in map form, so unknown fields are ignored when
decoding (old readers accept newer writers) and a missing required field is a schema error.
Adding a field *with a default* keeps the version; any other change bumps it (see ``VERSIONS``).

Every message carries the identity triple ``camera_id``, ``seq`` (monotonic per camera) and
``captured_ms`` (epoch milliseconds at capture), unchanged through all stages, plus ``mode``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import msgspec

Mode = Literal["live", "file"]
Box = tuple[float, float, float, float]
Point = tuple[float, float]


class Header(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    seq: int
    captured_ms: int
    mode: Mode = "live"
    # epoch ms at each hop the frame has passed, for the latency breakdown (``emostream bench``):
    # ``ingest`` (published), ``detector_in``/``_out``, ``classifier_in``/``_out``, ``tracker_in``/``_out``;
    # an optional field (older messages have none), copied forward by every stage (:func:`carried`)
    hops: dict[str, int] = {}


class Frame(Header, frozen=True, kw_only=True):
    """A reference to one frame: the JPEG itself lives once at ``frame_key``."""

    frame_key: str
    size_wh: tuple[int, int]


class Face(msgspec.Struct, frozen=True, kw_only=True):
    box_xyxy: Box  # input-frame pixels
    score: float  # detector confidence, 0..1
    landmarks_xy: tuple[Point, ...] = ()  # left eye, right eye, nose, mouth left, mouth right
    crop_jpeg: bytes = b""  # the face with margin, so the classifier never reads whole frames
    appearance: bytes = b""  # float16 descriptor for re-identification (services.common.appearance)


class Faces(Header, frozen=True, kw_only=True):
    frame_key: str
    size_wh: tuple[int, int]
    faces: tuple[Face, ...]


class FaceEmotion(msgspec.Struct, frozen=True, kw_only=True):
    box_xyxy: Box
    score: float
    probs: dict[str, float]  # canonical label -> probability, sums to 1
    appearance: bytes = b""  # the detector's descriptor, carried for the tracker


class Emotions(Header, frozen=True, kw_only=True):
    frame_key: str
    size_wh: tuple[int, int]
    faces: tuple[FaceEmotion, ...]
    model: str = ""


class Track(msgspec.Struct, frozen=True, kw_only=True):
    track_id: int
    box_xyxy: Box  # smoothed
    label: str  # shown label (after hysteresis)
    confidence: float  # smoothed probability of the shown label
    raw_label: str  # this frame's argmax
    probs: dict[str, float]  # smoothed


class Tracks(Header, frozen=True, kw_only=True):
    frame_key: str
    size_wh: tuple[int, int]
    tracks: tuple[Track, ...]
    # every face the detector found in this frame, shown as a track or not (one held back for
    # re-identification is not): what EMOSTREAM_PRIVACY=blur blurs (services.common.privacy)
    face_boxes: tuple[Box, ...] = ()
    # EMOSTREAM_IDENTITY=aggregate: faces per shown label in this frame, and ``tracks`` empty (no
    # per-person id, box or label leaves the tracker)
    counts: dict[str, int] = msgspec.field(default_factory=dict)

    def label_counts(self) -> dict[str, int]:
        """Faces per shown label in this frame, from ``counts`` or (identity mode ``tracks``) the tracks."""
        return dict(self.counts) if self.counts else dict(Counter(t.label for t in self.tracks))


class Skip(Header, frozen=True, kw_only=True):
    """A frame a stage dropped (too old, or unprocessable): downstream treats it as a gap."""

    stage: str
    reason: str


class End(Header, frozen=True, kw_only=True):
    """The last message of a file job: ``seq`` equals the number of frames published before it."""

    frames: int
    error: str = ""  # set when the source failed part-way


EventKind = Literal["track_started", "label_changed", "label_held", "track_ended"]


class Event(Header, frozen=True, kw_only=True):
    """One event of a track (the events service): ``seq``/``captured_ms`` are the frame it happened in.

    ``event_id`` is ``{camera_id}:{track_id}:{kind}:{n}`` (the n-th event of that kind of that track, from
    1): the same event always has the same id, so a receiver that sees an id twice has seen one event.
    ``label`` and ``confidence`` are the shown label now (``track_ended``: its most shown label);
    ``previous`` is the label before (``label_changed``); ``dwell_s`` the seconds spent in ``previous``
    (``label_changed``) or held so far (``label_held``); ``duration_s`` and ``labels_s`` (seconds per shown
    label) summarise an ended track.
    """

    event_id: str
    kind: EventKind
    track_id: int
    label: str
    confidence: float
    box_xyxy: Box = (0.0, 0.0, 0.0, 0.0)
    previous: str = ""
    dwell_s: float = 0.0
    duration_s: float = 0.0
    labels_s: dict[str, float] = msgspec.field(default_factory=dict)


Message = Frame | Faces | Emotions | Tracks | Skip | End | Event


def carried(msg: Frame | Faces | Emotions) -> dict[str, Any]:
    """The fields a stage copies unchanged from its input message into its output message."""
    return {
        "camera_id": msg.camera_id,
        "seq": msg.seq,
        "captured_ms": msg.captured_ms,
        "mode": msg.mode,
        "frame_key": msg.frame_key,
        "size_wh": msg.size_wh,
        "hops": msg.hops,
    }


#: wire name -> (type, current version)
TYPES: dict[str, tuple[type[msgspec.Struct], int]] = {
    "frame": (Frame, 1),
    "faces": (Faces, 1),
    "emotions": (Emotions, 1),
    "tracks": (Tracks, 1),
    "skip": (Skip, 1),
    "end": (End, 1),
    "event": (Event, 1),
}
WIRE_NAMES: dict[type[msgspec.Struct], str] = {cls: name for name, (cls, _) in TYPES.items()}
