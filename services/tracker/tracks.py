"""One track of one camera: its state (:class:`Track`), what is published of it (:class:`TrackView`),
what comes in (:class:`Observation`), and its checkpoint form (:func:`to_state`, :func:`from_state`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.common.appearance import Vector
from services.common.boxes import BoxXYXY
from services.tracker.checkpoint import TrackState
from services.tracker.config import TrackerConfig
from services.tracker.motion import BoxKalman
from services.tracker.smoothing import LabelHysteresis, OneEuroBox


@dataclass(frozen=True)
class Observation:
    """One detected and classified face in a frame: box in pixels, probabilities in 0..1 keyed by
    canonical label (the same keys every frame), detector score in 0..1, and the detector's appearance
    descriptor (``services.common.appearance``; empty when there is none)."""

    box_xyxy: BoxXYXY
    probs: Mapping[str, float]
    score: float = 1.0
    appearance: bytes = b""


@dataclass(frozen=True)
class TrackView:
    """What is published for one visible track in one frame.

    ``box_xyxy`` and ``probs`` are smoothed; ``label`` is the shown (hysteresis) label and
    ``confidence`` its smoothed probability; ``raw_label`` is this frame's argmax of the raw
    probabilities; ``hits`` counts matched frames; ``age_frames`` is ``seq - first_seq`` (0 when new).
    """

    track_id: int
    box_xyxy: BoxXYXY
    label: str
    confidence: float
    raw_label: str
    probs: dict[str, float]
    hits: int
    age_frames: int


@dataclass(eq=False)  # compared by identity
class Track:
    """One face's track: its smoothed box and probabilities, label hysteresis, motion and appearance."""

    track_id: int
    box_xyxy: BoxXYXY
    last_box_xyxy: BoxXYXY
    probs: dict[str, float]
    labels: LabelHysteresis
    first_seq: int
    last_seq: int
    kalman: BoxKalman  # the state at the last observation (``last_seq``); predictions are made from it
    euro: OneEuroBox
    hits: int = 1
    confirmed: bool = False
    raw_label: str = ""
    appearance: Vector | None = None  # EMA of clean descriptors, L2-normalised
    last_ms: int = 0  # captured time of the last observation
    lost: bool = False  # unseen for more than max_age_frames, kept for re-identification
    pending: bool = False  # new while others were lost: held back until it is known not to be one of them

    def predicted(self, seq: int, config: TrackerConfig) -> tuple[BoxXYXY, float]:
        """Where the face should be at ``seq`` (its last box with ``motion="none"``), and how far (face
        heights) a face may be from there and still match: ``max_centre_dist``, or three standard
        deviations of the predicted centre when the motion is that uncertain (a young track whose speed
        is unknown, or a long gap). One Kalman prediction for both."""
        if config.motion == "none":
            return self.last_box_xyxy, config.max_centre_dist
        pred = self.kalman.predicted(seq - self.last_seq)
        std = float(np.sqrt(pred.cov[0, 0] + pred.cov[1, 1]))
        return pred.box(), max(config.max_centre_dist, 3.0 * std / max(float(pred.mean[3]), 1.0))

    def view(self, seq: int) -> TrackView:
        shown = self.labels.shown
        return TrackView(
            track_id=self.track_id,
            box_xyxy=self.box_xyxy,
            label=shown,
            confidence=self.probs[shown],
            raw_label=self.raw_label,
            probs=dict(self.probs),
            hits=self.hits,
            age_frames=seq - self.first_seq,
        )


def time_of(seq: int, t_ms: int | None) -> int:
    """Capture time in ms: ``t_ms``, or without one ``seq`` at 25 fps."""
    return t_ms if t_ms is not None else seq * 40


def height(box: BoxXYXY) -> float:
    """A box's height in pixels, at least 1."""
    return max(box[3] - box[1], 1.0)


def blend(old: Vector | None, new: Vector, alpha: float) -> Vector:
    """EMA of appearance descriptors (``new`` alone when ``old`` is missing or another shape), L2-normed."""
    v = new if old is None or old.shape != new.shape else (1 - alpha) * old + alpha * new
    n = float(np.linalg.norm(v))
    return (v / n if n > 0 else v).astype(np.float32)


def as_box(values: Sequence[float]) -> BoxXYXY:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def to_state(t: Track) -> TrackState:
    return TrackState(
        track_id=t.track_id,
        box_xyxy=t.box_xyxy,
        last_box_xyxy=t.last_box_xyxy,
        probs=dict(t.probs),
        shown=t.labels.shown,
        candidate=t.labels.candidate,
        streak=t.labels.streak,
        first_seq=t.first_seq,
        last_seq=t.last_seq,
        hits=t.hits,
        confirmed=t.confirmed,
        raw_label=t.raw_label,
        kalman=t.kalman.to_state(),
        euro=t.euro.to_state(),
        appearance=[round(float(v), 5) for v in t.appearance] if t.appearance is not None else None,
        last_ms=t.last_ms,
    )


def from_state(d: TrackState, lost: bool = False) -> Track:
    return Track(
        track_id=d.track_id,
        box_xyxy=d.box_xyxy,
        last_box_xyxy=d.last_box_xyxy,
        probs=dict(d.probs),
        labels=LabelHysteresis(shown=d.shown, candidate=d.candidate, streak=d.streak),
        first_seq=d.first_seq,
        last_seq=d.last_seq,
        hits=d.hits,
        confirmed=d.confirmed,
        raw_label=d.raw_label,
        kalman=BoxKalman.from_state(d.kalman) if d.kalman else BoxKalman.start(d.last_box_xyxy),
        euro=OneEuroBox.from_state(d.euro) if d.euro else OneEuroBox(d.box_xyxy),
        appearance=np.asarray(d.appearance, np.float32) if d.appearance else None,
        last_ms=time_of(d.last_seq, d.last_ms),
        lost=lost,
    )
