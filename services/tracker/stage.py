"""The tracker's pure logic: per-camera tracking, box smoothing and label hysteresis.

Association: each track's box is predicted to the current frame by a constant-velocity Kalman filter
(``motion="kalman"``; ``"none"`` uses the last seen box), then tracks and detections are matched by an
optimal (Hungarian) assignment on IOU plus centre distance, recently seen tracks first (a matching
cascade), so a face hidden for a few frames while another passes in front keeps its id.
Boxes: EMA (the original project) or One Euro. Labels: probability EMA, then hysteresis.

No Redis, no environment, no I/O: ``CameraTracker.update`` takes one frame's classified faces and
returns what to publish; ``to_state``/``from_state`` give typed structs for checkpointing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.tracker.association import BoxXYXY, associate_gated
from services.tracker.checkpoint import TrackerState, TrackState
from services.tracker.motion import BoxKalman
from services.tracker.reorder import SeqReorderer
from services.tracker.smoothing import LabelHysteresis, OneEuroBox, argmax_label, ema_box, ema_probs

__all__ = ["CameraTracker", "Observation", "SeqReorderer", "TrackView", "TrackerConfig"]

_STATE_VERSION = 2
Motion = Literal["kalman", "none"]
BoxFilter = Literal["ema", "one_euro"]


class TrackerConfig(BaseModel):
    """Tracking parameters, declared once: :class:`~services.tracker.settings.TrackerSettings` reads
    them from the environment (``EMOSTREAM_<NAME>``) by inheriting this model. Frame counts are in
    frames of the camera's seq numbering.

    ``box_alpha``/``prob_alpha`` weight the new observation in the EMA (``alpha*new + (1-alpha)*old``).
    A track and a detection may match when their IOU is at least ``iou_threshold`` or their centres are
    at most ``max_centre_dist`` face heights apart; the cost is ``1 - IOU + centre_weight * distance``.
    ``box_filter`` picks the box smoother: ``"ema"`` (``box_alpha``) or ``"one_euro"`` (``euro_*``, see
    :class:`OneEuroBox`). See docs/tracking.md for the measured trade-offs.
    Raises ``ValueError`` (pydantic's ValidationError) on out-of-range values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    iou_threshold: float = Field(0.3, ge=0, le=1, description="a track and a face match at this IOU or more")
    max_centre_dist: float = Field(
        0.5, ge=0, description="...or when their centres are this many face heights apart or less"
    )
    centre_weight: float = Field(0.5, ge=0, description="cost = 1 - IOU + centre_weight * centre distance")
    motion: Motion = Field(
        "kalman", description="predict hidden faces with a constant-velocity Kalman filter, or not"
    )
    box_filter: BoxFilter = Field("one_euro", description="box smoother")
    box_alpha: float = Field(0.3, gt=0, le=1, description="EMA weight of the new box (box_filter=ema)")
    euro_min_cutoff: float = Field(0.02, gt=0, description="One Euro cutoff of a still box, cycles/frame")
    euro_beta: float = Field(0.03, ge=0, description="One Euro cutoff increase per pixel/frame of speed")
    euro_d_cutoff: float = Field(0.05, gt=0, description="One Euro cutoff of the speed, cycles/frame")
    prob_alpha: float = Field(0.1, gt=0, le=1, description="EMA weight of the new probabilities")
    confirm_frames: int = Field(5, ge=1, description="frames a new label must lead before it is shown")
    label_margin: float = Field(0.05, ge=0, description="lead over the shown label a new label needs")
    max_age_frames: int = Field(
        30, ge=0, description="frames a track survives unseen (predicted by its motion; was `MAX_AGE`)"
    )
    min_hits: int = Field(1, ge=1, description="hits before a tentative track is published")


@dataclass(frozen=True)
class Observation:
    """One detected and classified face in a frame: box in pixels, probabilities in 0..1 keyed by
    canonical label (the same keys every frame), detector score in 0..1."""

    box_xyxy: BoxXYXY
    probs: Mapping[str, float]
    score: float = 1.0


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


@dataclass
class _Track:
    track_id: int
    box_xyxy: BoxXYXY
    last_box_xyxy: BoxXYXY
    probs: dict[str, float]
    labels: LabelHysteresis
    first_seq: int
    last_seq: int
    kalman: BoxKalman
    euro: OneEuroBox
    hits: int = 1
    confirmed: bool = False
    raw_label: str = ""

    def predicted_box(self, seq: int, motion: Motion) -> BoxXYXY:
        if motion == "none":
            return self.last_box_xyxy
        return self.kalman.predicted(seq - self.last_seq).box()

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


class CameraTracker:
    """Tracks the faces of one camera across frames numbered by a strictly increasing ``seq``.

    A track unseen for more than ``max_age_frames`` frames (counted by seq, so gaps age it) is dropped.
    A tentative track (fewer than ``min_hits`` hits) is dropped as soon as an observed frame misses it;
    a skipped frame only ages it. Track ids start at 1 and are never reused.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:  # noqa: B008 - frozen, shared safely
        self.config = config
        self.next_id = 1
        self.last_seq: int | None = None
        self._tracks: list[_Track] = []

    def update(self, seq: int, observations: Sequence[Observation]) -> list[TrackView]:
        """Apply one frame (seq strictly increasing; gaps allowed) and return the confirmed tracks
        matched in this frame, sorted by track_id.

        Raises ``ValueError`` when ``seq`` does not increase or an observation's labels differ from
        its track's.
        """
        self._advance(seq)
        cfg = self.config
        matches = self._match(seq, [_as_box(o.box_xyxy) for o in observations])
        matched_t = {ti for ti, _ in matches}
        matched_o = {oi for _, oi in matches}
        unmatched_t = [i for i in range(len(self._tracks)) if i not in matched_t]
        unmatched_o = [i for i in range(len(observations)) if i not in matched_o]
        seen: list[_Track] = []
        for ti, oi in matches:
            track, obs = self._tracks[ti], observations[oi]
            box = _as_box(obs.box_xyxy)
            dt = seq - track.last_seq
            track.kalman = track.kalman.predicted(dt).corrected(box)
            if cfg.box_filter == "ema":
                track.box_xyxy = ema_box(track.box_xyxy, box, cfg.box_alpha)
            else:
                track.box_xyxy = track.euro.step(
                    box, dt, cfg.euro_min_cutoff, cfg.euro_beta, cfg.euro_d_cutoff
                )
            track.euro.box_xyxy = track.box_xyxy
            track.last_box_xyxy = box
            track.probs = ema_probs(track.probs, obs.probs, cfg.prob_alpha)
            track.labels.step(track.probs, cfg.confirm_frames, cfg.label_margin)
            track.raw_label = argmax_label(obs.probs)
            track.hits += 1
            track.last_seq = seq
            track.confirmed = track.confirmed or track.hits >= cfg.min_hits
            seen.append(track)
        missed_tentative = {i for i in unmatched_t if not self._tracks[i].confirmed}
        self._tracks = [t for i, t in enumerate(self._tracks) if i not in missed_tentative]
        self._prune(seq, missed_now=True)
        for oi in unmatched_o:
            seen.append(self._new_track(seq, observations[oi]))
        return [t.view(seq) for t in sorted(seen, key=lambda t: t.track_id) if t.confirmed]

    def _match(self, seq: int, boxes: list[BoxXYXY]) -> list[tuple[int, int]]:
        """Matching cascade: tracks seen most recently pick first among the detections still free, so
        a hidden track cannot take the detection of the face passing in front of it."""
        cfg = self.config
        levels: dict[int, list[int]] = {}
        for i, t in enumerate(self._tracks):
            levels.setdefault(seq - t.last_seq, []).append(i)
        free = list(range(len(boxes)))
        matches: list[tuple[int, int]] = []
        for level in sorted(levels):
            if not free:
                break
            members = levels[level]
            predicted = [self._tracks[i].predicted_box(seq, cfg.motion) for i in members]
            found, _, left = associate_gated(
                predicted,
                [boxes[d] for d in free],
                cfg.iou_threshold,
                cfg.max_centre_dist,
                cfg.centre_weight,
            )
            matches += [(members[t], free[d]) for t, d in found]
            free = [free[d] for d in left]
        return sorted(matches)

    def skip(self, seq: int) -> None:
        """A frame dropped upstream: ages the tracks like an empty frame, but tentative tracks survive.

        Raises ``ValueError`` when ``seq`` does not increase.
        """
        self._advance(seq)
        self._prune(seq, missed_now=True)

    def _advance(self, seq: int) -> None:
        if self.last_seq is not None and seq <= self.last_seq:
            raise ValueError(f"seq must increase: got {seq} after {self.last_seq}")
        self.last_seq = seq
        self._prune(seq, missed_now=False)

    def _prune(self, seq: int, *, missed_now: bool) -> None:
        """Drop tracks unseen for more than max_age_frames frames; ``missed_now`` counts frame ``seq`` too."""
        limit = self.config.max_age_frames + (0 if missed_now else 1)
        self._tracks = [t for t in self._tracks if seq - t.last_seq <= limit]

    def _new_track(self, seq: int, obs: Observation) -> _Track:
        box = _as_box(obs.box_xyxy)
        probs = {k: float(v) for k, v in obs.probs.items()}
        first = argmax_label(probs)
        track = _Track(
            track_id=self.next_id,
            box_xyxy=box,
            last_box_xyxy=box,
            probs=probs,
            labels=LabelHysteresis(shown=first),
            first_seq=seq,
            last_seq=seq,
            kalman=BoxKalman.start(box),
            euro=OneEuroBox(box),
            confirmed=self.config.min_hits <= 1,
            raw_label=first,
        )
        self.next_id += 1
        self._tracks.append(track)
        return track

    def to_state(self) -> TrackerState:
        """The tracker as a typed struct (``services.tracker.checkpoint``) for checkpoints."""
        return TrackerState(
            version=_STATE_VERSION,
            next_id=self.next_id,
            last_seq=self.last_seq,
            tracks=[_track_to_state(t) for t in self._tracks],
        )

    @classmethod
    def from_state(cls, state: TrackerState, config: TrackerConfig) -> CameraTracker:
        """Rebuild a tracker from :meth:`to_state` output.

        Version 1 checkpoints (before motion and One Euro) are accepted: their tracks start a new motion
        model at their last box. Raises ``ValueError`` on an unknown state version.
        """
        if state.version not in (1, _STATE_VERSION):
            raise ValueError(f"unsupported tracker state version {state.version!r}")
        tracker = cls(config)
        tracker.next_id = state.next_id
        tracker.last_seq = state.last_seq
        tracker._tracks = [_track_from_state(t) for t in state.tracks]
        return tracker


def _as_box(values: Sequence[float]) -> BoxXYXY:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def _track_to_state(t: _Track) -> TrackState:
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
    )


def _track_from_state(d: TrackState) -> _Track:
    return _Track(
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
    )
