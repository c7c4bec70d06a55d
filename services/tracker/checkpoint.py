"""The tracker's checkpoint, typed: what ``emo:tracker:state:{cam}`` holds (JSON, msgspec-validated).

The JSON is the same as the plain dicts it replaces (version 3; version 2 without ``appearance``,
``last_ms`` and ``lost``; version 1 also without ``kalman`` and ``euro``), so older checkpoints still load.
:func:`decode` refuses a malformed document with ``ValueError`` (msgspec's ValidationError), and the
tracker then starts that camera afresh.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Box = tuple[float, float, float, float]


class KalmanState(msgspec.Struct, frozen=True):
    mean: list[float]
    cov: list[list[float]]


class EuroState(msgspec.Struct, frozen=True):
    box_xyxy: Box
    speed: list[float]


class TrackState(msgspec.Struct, frozen=True):
    track_id: int
    box_xyxy: Box
    last_box_xyxy: Box
    probs: dict[str, float]
    shown: str
    candidate: str | None
    streak: int
    first_seq: int
    last_seq: int
    hits: int
    confirmed: bool
    raw_label: str
    kalman: KalmanState | None = None  # absent in version 1
    euro: EuroState | None = None  # absent in version 1
    appearance: list[float] | None = None  # absent before version 3
    last_ms: int | None = None  # absent before version 3


class TrackerState(msgspec.Struct, frozen=True):
    """One camera's :class:`~services.tracker.stage.CameraTracker`."""

    version: int
    next_id: int
    last_seq: int | None
    tracks: list[TrackState]
    lost: list[TrackState] = []  # kept for re-identification (version 3)
    frame_wh: tuple[int, int] | None = None  # the camera's last frame size (absent before issue 27)


class Checkpoint(msgspec.Struct, frozen=True):
    """A camera's tracker, where its reorder buffer stands, and whether it is a file job."""

    tracker: TrackerState
    next_seq: int | None
    mode: Literal["live", "file"]


def encode(checkpoint: Checkpoint) -> str:
    return msgspec.json.encode(checkpoint).decode()


def decode(raw: bytes | str) -> Checkpoint:
    """Raises ValueError on a document that is not a checkpoint."""
    return msgspec.json.decode(raw, type=Checkpoint)
