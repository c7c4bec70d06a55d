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

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment

from services.common.appearance import Vector, similarity, unpack
from services.tracker.association import BoxXYXY, associate_gated, centre_distance_matrix, iou_matrix
from services.tracker.checkpoint import TrackerState, TrackState
from services.tracker.motion import BoxKalman
from services.tracker.reorder import SeqReorderer
from services.tracker.smoothing import LabelHysteresis, OneEuroBox, argmax_label, ema_box, ema_probs

__all__ = ["CameraTracker", "Observation", "SeqReorderer", "TrackView", "TrackerConfig"]

_STATE_VERSION = 3
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
    reid_window_s: float = Field(
        10.0, ge=0, description="a lost track is kept this long for re-identification by appearance (0: off)"
    )
    reid_min_similarity: float = Field(
        0.93, ge=0, le=1, description="appearance similarity a face needs to take a lost track's id"
    )
    motion_min_similarity: float = Field(
        0.7, ge=0, le=1, description="after a missed frame, a motion match also needs this similarity"
    )
    reid_margin: float = Field(
        0.03, ge=0, le=1, description="...and its lead over the next most similar lost track or face"
    )
    reid_wait_frames: int = Field(
        3, ge=1, description="a new face is held back this many frames while it may be a lost person"
    )
    reid_max_dist: float = Field(
        10.0, ge=0, description="motion gate of re-identification: face heights from the last seen box"
    )
    appearance_weight: float = Field(
        1.0, ge=0, description="cost of a match also adds weight * (1 - appearance similarity)"
    )
    appearance_alpha: float = Field(
        0.1, gt=0, le=1, description="EMA weight of a clean new appearance in a track's descriptor"
    )
    occlusion_iou: float = Field(
        0.1, ge=0, le=1, description="a face overlapping another face this much is occluded (doubtful)"
    )


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
class _Track:
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


class CameraTracker:
    """Tracks the faces of one camera across frames numbered by a strictly increasing ``seq``.

    A track unseen for more than ``max_age_frames`` frames (counted by seq, so gaps age it) becomes
    *lost*: it is no longer predicted or matched by motion, but for ``reid_window_s`` seconds (of captured
    time) a new face whose appearance matches it (:meth:`_reidentify`) takes its id back, and its label
    state and timeline continue. While such candidates exist, a new face is held back (*pending*, not
    published) for ``reid_wait_frames`` frames: if it turns out to be a lost person (its first, partial
    view at the frame edge may not have looked like them yet), it takes their id without ever having
    shown its own (a held-back face gets its id when it is first shown). A tentative track (fewer than
    ``min_hits`` hits) is dropped as soon as an observed frame misses it; a skipped frame only ages it.
    Track ids start at 1 and are never reused.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:  # noqa: B008 - frozen, shared safely
        self.config = config
        self.next_id = 1
        self.last_seq: int | None = None
        self._tracks: list[_Track] = []
        self._lost: list[_Track] = []

    def update(
        self, seq: int, observations: Sequence[Observation], t_ms: int | None = None
    ) -> list[TrackView]:
        """Apply one frame (seq strictly increasing; gaps allowed) captured at ``t_ms`` (epoch ms; None:
        ``seq`` at 25 fps) and return the confirmed tracks matched in this frame, sorted by track_id.

        Raises ``ValueError`` when ``seq`` does not increase or an observation's labels differ from
        its track's, or its appearance is not a descriptor.
        """
        now = _time_of(seq, t_ms)
        self._advance(seq, now)
        cfg = self.config
        boxes = [_as_box(o.box_xyxy) for o in observations]
        looks = [unpack(o.appearance) if o.appearance else None for o in observations]
        occluded = _occluded(boxes, cfg.occlusion_iou)
        # a partial face's pixels are partly another's: its descriptor is no evidence, for or against
        matches = self._match(seq, boxes, [None if i in occluded else v for i, v in enumerate(looks)])
        matched_o = {oi for _, oi in matches}
        pairs = [(self._tracks[ti], oi) for ti, oi in matches]
        unmatched_o = [i for i in range(len(observations)) if i not in matched_o]
        pending = [(t, oi) for t, oi in pairs if t.pending]
        # faces no track claimed, and those of held-back new tracks, may be lost people; a partial face's
        # pixels are not its own, so occluded faces are not asked
        probe = [oi for oi in unmatched_o + [oi for _, oi in pending] if oi not in occluded]
        taken = {id(t) for t, _ in pairs}  # matched by motion already: not a candidate as well
        revived = self._reidentify(seq, [(oi, boxes[oi], looks[oi]) for oi in probe], taken)
        merged = {id(t) for t, oi in pending if oi in revived}  # never shown, so its id is never seen
        self._tracks = [t for t in self._tracks if id(t) not in merged]
        pairs = [(t, oi) for t, oi in pairs if id(t) not in merged] + [(t, oi) for oi, t in revived.items()]
        unmatched_o = [oi for oi in unmatched_o if oi not in revived]
        seen: list[_Track] = []
        for track, oi in pairs:
            if track.lost:
                self._lost.remove(track)
                self._tracks.append(track)
            self._observe(track, seq, now, observations[oi], boxes[oi], looks[oi], oi in occluded)
            seen.append(track)
        seen_ids = {id(t) for t in seen}
        self._tracks = [t for t in self._tracks if t.confirmed or id(t) in seen_ids]  # missed tentative
        self._prune(seq, now, missed_now=True)
        hold = bool(self._reid_candidates(seq))
        for oi in unmatched_o:
            look = looks[oi] if oi not in occluded else None
            seen.append(self._new_track(seq, now, observations[oi], look, hold and looks[oi] is not None))
        return [t.view(seq) for t in sorted(seen, key=lambda t: t.track_id) if t.confirmed]

    def _observe(
        self,
        track: _Track,
        seq: int,
        now: int,
        obs: Observation,
        box: BoxXYXY,
        look: Vector | None,
        occluded: bool,
    ) -> None:
        """Apply one matched observation. Motion: after a gap, the observation-centric re-update
        (:meth:`BoxKalman.reupdated`); a box whose height jumped against the prediction (a face half
        hidden or half out of the frame) counts with ten times the measurement noise, so it cannot bend
        the motion state. Appearance: only faces that overlap no other face (``occluded`` False) update
        the track's descriptor."""
        cfg = self.config
        dt = seq - track.last_seq
        lost, track.lost = track.lost, False
        if lost:  # back after an absence: its old motion says nothing about where it is now
            track.kalman = BoxKalman.start(box)
            track.euro = OneEuroBox(box)
            track.box_xyxy = box
        else:
            prior = track.kalman.predicted(dt)
            height_ratio = _height(box) / _height(prior.box())
            noise = 1.0 if 0.75 <= height_ratio <= 1.33 else 10.0  # a doubtful box moves the state less
            if dt > 1 and cfg.motion == "kalman":
                track.kalman = track.kalman.reupdated(dt, box, noise)
            else:
                track.kalman = prior.corrected(box, noise)
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
        if look is not None and not occluded:
            track.appearance = _blend(track.appearance, look, cfg.appearance_alpha)
        track.hits += 1
        track.last_seq = seq
        track.last_ms = now
        needed = max(cfg.min_hits, cfg.reid_wait_frames) if track.pending else cfg.min_hits
        track.confirmed = track.confirmed or track.hits >= needed
        track.pending = track.pending and not track.confirmed
        if track.confirmed and track.track_id == 0:  # a held-back face turned out to be new: its id now
            track.track_id = self.next_id
            self.next_id += 1

    def _match(self, seq: int, boxes: list[BoxXYXY], looks: list[Vector | None]) -> list[tuple[int, int]]:
        """Matching cascade: tracks seen most recently pick first among the detections still free, so
        a hidden track cannot take the detection of the face passing in front of it. The cost adds
        ``appearance_weight * (1 - similarity)``, which decides between two faces that motion cannot
        tell apart (a crossing), and the gate widens with the motion's uncertainty. A track missed for
        a frame or more also needs an appearance that does not contradict the face's (similarity at least
        ``motion_min_similarity``), so a stranger who appears where a hidden face was predicted does not
        take its id."""
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
            predicted = [self._tracks[i].predicted(seq, cfg) for i in members]
            sims = _similarities([self._tracks[i].appearance for i in members], [looks[d] for d in free])
            found, _, left = associate_gated(
                [box for box, _ in predicted],
                [boxes[d] for d in free],
                cfg.iou_threshold,
                [gate for _, gate in predicted],
                cfg.centre_weight,
                forbidden=sims < cfg.motion_min_similarity if level > 1 else None,
                extra_cost=cfg.appearance_weight * (1.0 - sims),
            )
            matches += [(members[t], free[d]) for t, d in found]
            free = [free[d] for d in left]
        return sorted(matches)

    def _reid_candidates(self, seq: int, taken: set[int] | None = None) -> list[_Track]:
        """Tracks a new face may turn out to be: lost ones, and confirmed ones hidden for over a frame
        (but not those in ``taken``, ids of tracks matched in this frame)."""
        if self.config.reid_window_s <= 0:
            return []
        hidden = [t for t in self._tracks if seq - t.last_seq > 1 and t.confirmed]
        return [t for t in hidden + self._lost if t.appearance is not None and id(t) not in (taken or ())]

    def _reidentify(
        self, seq: int, faces: list[tuple[int, BoxXYXY, Vector | None]], taken: set[int]
    ) -> dict[int, _Track]:
        """Give faces that no track matched by motion the id of a lost track, or of a track hidden for
        more than a frame, that they resemble: similarity at least ``reid_min_similarity``, ahead of the
        next candidate (track or face) by ``reid_margin``, the box within ``reid_max_dist`` face heights
        of the track's last one and of a similar size (half to twice). Optimal (Hungarian) assignment on
        ``1 - similarity``. Returns observation index -> track (a lost one still in ``_lost``)."""
        cfg = self.config
        candidates = self._reid_candidates(seq, taken)
        faces = [f for f in faces if f[2] is not None]
        if not candidates or not faces:
            return {}
        sims = _similarities([t.appearance for t in candidates], [look for _, _, look in faces])
        dist = centre_distance_matrix([t.last_box_xyxy for t in candidates], [box for _, box, _ in faces])
        ratio = np.array([[_height(b) / _height(t.last_box_xyxy) for _, b, _ in faces] for t in candidates])
        allowed = (
            (sims >= cfg.reid_min_similarity) & (dist <= cfg.reid_max_dist) & (ratio >= 0.5) & (ratio <= 2)
        )
        if not allowed.any():
            return {}
        rows, cols = linear_sum_assignment(np.where(allowed, 1.0 - sims, 1e6))
        out: dict[int, _Track] = {}
        for r, c in zip(rows, cols, strict=True):
            if not allowed[r, c]:
                continue
            others = np.concatenate([np.delete(sims[:, c], r), np.delete(sims[r, :], c)])
            if others.size and sims[r, c] - others.max() < cfg.reid_margin:
                continue  # two people look alike here: a new id is safer than a wrong merge
            out[faces[c][0]] = candidates[r]
        return out

    def skip(self, seq: int, t_ms: int | None = None) -> None:
        """A frame dropped upstream: ages the tracks like an empty frame, but tentative tracks survive.

        Raises ``ValueError`` when ``seq`` does not increase.
        """
        now = _time_of(seq, t_ms)
        self._advance(seq, now)
        self._prune(seq, now, missed_now=True)

    def _advance(self, seq: int, now: int) -> None:
        if self.last_seq is not None and seq <= self.last_seq:
            raise ValueError(f"seq must increase: got {seq} after {self.last_seq}")
        self.last_seq = seq
        self._prune(seq, now, missed_now=False)

    def _prune(self, seq: int, now: int, *, missed_now: bool) -> None:
        """Tracks unseen for more than max_age_frames frames (``missed_now`` counts frame ``seq`` too)
        become lost (confirmed ones with an appearance, while re-identification is on); lost tracks older
        than ``reid_window_s`` are dropped."""
        limit = self.config.max_age_frames + (0 if missed_now else 1)
        keep_lost = self.config.reid_window_s > 0
        for t in self._tracks:
            if seq - t.last_seq > limit and keep_lost and t.confirmed and t.appearance is not None:
                t.lost = True
                self._lost.append(t)
        self._tracks = [t for t in self._tracks if seq - t.last_seq <= limit]
        window_ms = self.config.reid_window_s * 1000
        self._lost = [t for t in self._lost if now - t.last_ms <= window_ms]

    def _new_track(self, seq: int, now: int, obs: Observation, look: Vector | None, hold: bool) -> _Track:
        box = _as_box(obs.box_xyxy)
        probs = {k: float(v) for k, v in obs.probs.items()}
        first = argmax_label(probs)
        held = hold and self.config.reid_wait_frames > 1
        track = _Track(
            track_id=0 if held else self.next_id,  # a held-back face gets an id only if it is shown
            box_xyxy=box,
            last_box_xyxy=box,
            probs=probs,
            labels=LabelHysteresis(shown=first),
            first_seq=seq,
            last_seq=seq,
            kalman=BoxKalman.start(box),
            euro=OneEuroBox(box),
            confirmed=self.config.min_hits <= 1 and not held,
            raw_label=first,
            appearance=_blend(None, look, 1.0) if look is not None else None,
            last_ms=now,
            pending=held,
        )
        self.next_id += 0 if held else 1
        self._tracks.append(track)
        return track

    def to_state(self) -> TrackerState:
        """The tracker as a typed struct (``services.tracker.checkpoint``) for checkpoints."""
        return TrackerState(
            version=_STATE_VERSION,
            next_id=self.next_id,
            last_seq=self.last_seq,
            tracks=[_track_to_state(t) for t in self._tracks],
            lost=[_track_to_state(t) for t in self._lost],
        )

    @classmethod
    def from_state(cls, state: TrackerState, config: TrackerConfig) -> CameraTracker:
        """Rebuild a tracker from :meth:`to_state` output.

        Version 1 checkpoints (before motion and One Euro) are accepted: their tracks start a new motion
        model at their last box; version 2 ones (before appearance) have no lost tracks and no
        descriptors yet. Raises ``ValueError`` on an unknown state version.
        """
        if state.version not in (1, 2, _STATE_VERSION):
            raise ValueError(f"unsupported tracker state version {state.version!r}")
        tracker = cls(config)
        tracker.next_id = state.next_id
        tracker.last_seq = state.last_seq
        tracker._tracks = [_track_from_state(t) for t in state.tracks]
        tracker._lost = [_track_from_state(t, lost=True) for t in state.lost]
        return tracker


def _time_of(seq: int, t_ms: int | None) -> int:
    return t_ms if t_ms is not None else seq * 40


def _height(box: BoxXYXY) -> float:
    return max(box[3] - box[1], 1.0)


def _blend(old: Vector | None, new: Vector, alpha: float) -> Vector:
    v = new if old is None or old.shape != new.shape else (1 - alpha) * old + alpha * new
    n = float(np.linalg.norm(v))
    return (v / n if n > 0 else v).astype(np.float32)


def _similarities(tracks: Sequence[Vector | None], faces: Sequence[Vector | None]) -> npt.NDArray[np.float64]:
    """Cosine similarity of each track descriptor with each face's; 1.0 where either is missing (no
    evidence against the pair)."""
    out = np.ones((len(tracks), len(faces)), np.float64)
    for i, a in enumerate(tracks):
        for j, b in enumerate(faces):
            if a is not None and b is not None and a.shape == b.shape:
                out[i, j] = similarity(a, b)
    return out


def _occluded(boxes: list[BoxXYXY], threshold: float) -> set[int]:
    """Indices of boxes that overlap another box of the frame by at least ``threshold`` IOU (> 0)."""
    if len(boxes) < 2 or threshold <= 0:
        return set()
    ious = iou_matrix(boxes, boxes)
    np.fill_diagonal(ious, 0.0)
    return {int(i) for i in np.nonzero((ious >= threshold).any(axis=1))[0]}


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
        appearance=[round(float(v), 5) for v in t.appearance] if t.appearance is not None else None,
        last_ms=t.last_ms,
    )


def _track_from_state(d: TrackState, lost: bool = False) -> _Track:
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
        appearance=np.asarray(d.appearance, np.float32) if d.appearance else None,
        last_ms=_time_of(d.last_seq, d.last_ms),
        lost=lost,
    )
