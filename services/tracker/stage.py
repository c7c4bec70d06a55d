"""The tracker's pure logic: per-camera tracking, box smoothing and label hysteresis.

Association: each track's box is predicted to the current frame by a constant-velocity Kalman filter
(``motion="kalman"``; ``"none"`` uses the last seen box), then tracks and detections are matched by an
optimal (Hungarian) assignment on IOU plus centre distance, recently seen tracks first (a matching
cascade), so a face hidden for a few frames while another passes in front keeps its id.
Boxes: EMA (the original project) or One Euro. Labels: probability EMA, then hysteresis.

No Redis, no environment, no I/O: ``CameraTracker.update`` takes one frame's classified faces and
returns what to publish; ``to_state``/``from_state`` give typed structs for checkpointing. The rooms it
uses: :mod:`~services.tracker.config` (the settings), :mod:`~services.tracker.tracks` (one track, what is
published of it, its checkpoint form), :mod:`~services.tracker.association` (matching),
:mod:`~services.tracker.motion` and :mod:`~services.tracker.smoothing`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from services.common.appearance import Vector, similarity, unpack
from services.common.boxes import BoxXYXY, iou_matrix
from services.tracker.association import associate_gated, centre_distance_matrix
from services.tracker.checkpoint import TrackerState
from services.tracker.config import TrackerConfig
from services.tracker.motion import BoxKalman, xyxy_to_cxcywh
from services.tracker.reorder import SeqReorderer
from services.tracker.smoothing import LabelHysteresis, OneEuroBox, argmax_label, ema_box, ema_probs
from services.tracker.tracks import (
    Observation,
    Track,
    TrackView,
    as_box,
    blend,
    from_state,
    height,
    time_of,
    to_state,
)

__all__ = ["CameraTracker", "Observation", "SeqReorderer", "TrackView", "TrackerConfig"]

_STATE_VERSION = 3


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
        self._tracks: list[Track] = []
        self._lost: list[Track] = []
        self.frame_wh: tuple[int, int] | None = None  # the last frame's size, when the caller gave it

    def update(
        self,
        seq: int,
        observations: Sequence[Observation],
        t_ms: int | None = None,
        frame_wh: tuple[int, int] | None = None,
    ) -> list[TrackView]:
        """Apply one frame (seq strictly increasing; gaps allowed) captured at ``t_ms`` (epoch ms; None:
        ``seq`` at 25 fps) and return the confirmed tracks matched in this frame, sorted by track_id.
        With ``frame_wh`` (the frame's width and height), a missed track whose motion has carried it out
        of the frame is lost at once: it walked out, so it is found again by appearance only, not by
        motion, however soon a face comes in where it left.

        Raises ``ValueError`` when ``seq`` does not increase or an observation's labels differ from
        its track's, or its appearance is not a descriptor.
        """
        now = time_of(seq, t_ms)
        self.frame_wh = frame_wh or self.frame_wh
        self._advance(seq, now)
        cfg = self.config
        boxes = [as_box(o.box_xyxy) for o in observations]
        looks = [unpack(o.appearance) if o.appearance else None for o in observations]
        occluded = _occluded(boxes, cfg.occlusion_iou)
        cut = {i for i, b in enumerate(boxes) if frame_wh is not None and _at_edge(b, frame_wh)}
        # a partial face's pixels are partly another's: its descriptor is no evidence, for or against
        matches = self._match(seq, boxes, [None if i in occluded else v for i, v in enumerate(looks)])
        matched_o = {oi for _, oi in matches}
        pairs = [(self._tracks[ti], oi) for ti, oi in matches]
        unmatched_o = [i for i in range(len(observations)) if i not in matched_o]
        taken = {id(t) for t, _ in pairs}  # matched by motion already: not a candidate as well
        candidates = self._reid_candidates(seq, taken)
        # faces no track claimed, and those of held-back new tracks, may be lost people; a partial face's
        # pixels are partly another's, so occluded faces are not asked
        probes = [oi for oi in unmatched_o + [oi for t, oi in pairs if t.pending] if oi not in occluded]
        probes = [oi for oi in probes if looks[oi] is not None]
        scores = _similarities([t.appearance for t in candidates], [looks[oi] for oi in probes])
        revived = self._reidentify(seq, now, candidates, [(oi, boxes[oi]) for oi in probes], scores)
        merged = {id(t) for t, oi in pairs if t.pending and oi in revived}  # never shown: its id is unseen
        self._tracks = [t for t in self._tracks if id(t) not in merged]
        pairs = [(t, oi) for t, oi in pairs if id(t) not in merged] + [(t, oi) for oi, t in revived.items()]
        unmatched_o = [oi for oi in unmatched_o if oi not in revived]
        seen: list[Track] = []
        for track, oi in pairs:
            if track.lost:
                self._lost.remove(track)
                self._tracks.append(track)
            self._observe(track, seq, now, observations[oi], boxes[oi], looks[oi], oi in occluded, oi in cut)
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
        track: Track,
        seq: int,
        now: int,
        obs: Observation,
        box: BoxXYXY,
        look: Vector | None,
        occluded: bool,
        cut: bool = False,
    ) -> None:
        """Apply one matched observation. Motion: after a gap, the observation-centric re-update
        (:meth:`BoxKalman.reupdated`); a box whose height jumped against the prediction (a face half
        hidden or half out of the frame) counts with ten times the measurement noise, so it cannot bend
        the motion state. Appearance: only faces that overlap no other face (``occluded`` False) update
        the track's descriptor. A held-back face cut by the frame's edge (``cut``: walking in) does not
        count down its wait, up to three times ``reid_wait_frames``: half a face does not look like its
        owner yet, so it is asked again once it is in."""
        cfg = self.config
        dt = seq - track.last_seq
        lost, track.lost = track.lost, False
        if lost:  # back after an absence: its old motion says nothing about where it is now
            track.kalman = BoxKalman.start(box)
            track.euro = OneEuroBox(box)
            track.box_xyxy = box
        else:
            prior = track.kalman.predicted(dt)
            height_ratio = height(box) / height(prior.box())
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
            track.appearance = blend(track.appearance, look, cfg.appearance_alpha)
        track.hits += 1
        track.last_seq = seq
        track.last_ms = now
        needed = max(cfg.min_hits, cfg.reid_wait_frames) if track.pending else cfg.min_hits
        if track.pending and cut:
            needed = max(needed, 3 * cfg.reid_wait_frames)
        track.confirmed = track.confirmed or track.hits >= needed
        track.pending = track.pending and not track.confirmed
        if track.confirmed and track.track_id == 0:  # a held-back face turned out to be new: its id now
            track.track_id = self.next_id
            self.next_id += 1

    def _match(self, seq: int, boxes: list[BoxXYXY], looks: list[Vector | None]) -> list[tuple[int, int]]:
        """Two rounds: the tracks seen most recently pick first among the detections, so a hidden track
        cannot take the detection of the face passing in front of it; then every track hidden for longer
        is matched *jointly* to what is left (one optimal assignment over the group), so faces that
        vanished together behind an object are sorted out together, not one after another. The cost adds
        ``appearance_weight * (1 - similarity)``, which decides between two faces that motion cannot tell
        apart (a crossing), and ``direction_weight`` times the inconsistency of the way from the track's
        last box to the face with the track's velocity (:func:`_direction_costs`, OC-SORT's
        observation-centric momentum); the gate widens with the motion's uncertainty. A track missed for a
        frame or more also needs an appearance that does not contradict the face's (similarity at least
        ``motion_min_similarity``), so a stranger who appears where a hidden face was predicted does not
        take its id."""
        cfg = self.config
        gaps = {i: seq - t.last_seq for i, t in enumerate(self._tracks)}
        first = min(gaps.values(), default=0)
        rounds = [[i for i, g in gaps.items() if g == first], [i for i, g in gaps.items() if g > first]]
        free = list(range(len(boxes)))
        matches: list[tuple[int, int]] = []
        for members in rounds:
            if not free or not members:
                continue
            tracks = [self._tracks[i] for i in members]
            predicted = [t.predicted(seq, cfg) for t in tracks]
            sims = _similarities([t.appearance for t in tracks], [looks[d] for d in free])
            hidden = np.array([gaps[i] > 1 for i in members])[:, None]
            directions = _direction_costs(tracks, [gaps[i] for i in members], [boxes[d] for d in free])
            found, _, left = associate_gated(
                [box for box, _ in predicted],
                [boxes[d] for d in free],
                cfg.iou_threshold,
                [gate for _, gate in predicted],
                cfg.centre_weight,
                forbidden=(sims < cfg.motion_min_similarity) & hidden,
                extra_cost=cfg.appearance_weight * (1.0 - sims) + cfg.direction_weight * directions,
            )
            matches += [(members[t], free[d]) for t, d in found]
            free = [free[d] for d in left]
        return sorted(matches)

    def _reid_candidates(self, seq: int, taken: set[int] | None = None) -> list[Track]:
        """Tracks a new face may turn out to be: lost ones, and confirmed ones hidden for over a frame
        (but not those in ``taken``, ids of tracks matched in this frame)."""
        if self.config.reid_window_s <= 0:
            return []
        hidden = [t for t in self._tracks if seq - t.last_seq > 1 and t.confirmed]
        return [t for t in hidden + self._lost if t.appearance is not None and id(t) not in (taken or ())]

    def _reidentify(
        self,
        seq: int,
        now: int,
        candidates: list[Track],
        faces: list[tuple[int, BoxXYXY]],
        scores: npt.NDArray[np.float64],
    ) -> dict[int, Track]:
        """Give faces the id of a lost track, or of a track hidden for more than a frame, that they
        resemble: ``scores`` (candidates x faces) is the faces' appearance similarity to each candidate,
        decided for all of them at once (Hungarian on ``1 - score``). A pair needs a score of at least
        ``reid_min_similarity``, ahead of the next
        candidate (track or face) by ``reid_margin``, a size like the track's (half to twice) and a
        distance from where the track was last seen that a person can cover: ``reid_max_dist`` face
        heights per second since then (at least one second's worth), so after a few seconds a face may
        come back anywhere. Returns observation index -> track (a lost one still in ``_lost``)."""
        cfg = self.config
        if not candidates or not faces:
            return {}
        dist = centre_distance_matrix([t.last_box_xyxy for t in candidates], [box for _, box in faces])
        ratio = np.array([[height(b) / height(t.last_box_xyxy) for _, b in faces] for t in candidates])
        away_s = np.array([max(1.0, (now - t.last_ms) / 1000) for t in candidates])[:, None]
        allowed = (
            (scores >= cfg.reid_min_similarity)
            & (dist <= cfg.reid_max_dist * away_s)
            & (ratio >= 0.5)
            & (ratio <= 2)
        )
        if not allowed.any():
            return {}
        rows, cols = linear_sum_assignment(np.where(allowed, 1.0 - scores, 1e6))
        out: dict[int, Track] = {}
        for r, c in zip(rows, cols, strict=True):
            if not allowed[r, c]:
                continue
            others = np.concatenate([np.delete(scores[:, c], r), np.delete(scores[r, :], c)])
            if others.size and scores[r, c] - others.max() < cfg.reid_margin:
                continue  # two people look alike here: a new id is safer than a wrong merge
            out[faces[c][0]] = candidates[r]
        return out

    def skip(self, seq: int, t_ms: int | None = None) -> None:
        """A frame dropped upstream: ages the tracks like an empty frame, but tentative tracks survive.

        Raises ``ValueError`` when ``seq`` does not increase.
        """
        now = time_of(seq, t_ms)
        self._advance(seq, now)
        self._prune(seq, now, missed_now=True)

    def _advance(self, seq: int, now: int) -> None:
        if self.last_seq is not None and seq <= self.last_seq:
            raise ValueError(f"seq must increase: got {seq} after {self.last_seq}")
        self.last_seq = seq
        self._prune(seq, now, missed_now=False)

    def _prune(self, seq: int, now: int, *, missed_now: bool) -> None:
        """Tracks unseen for more than max_age_frames frames (``missed_now`` counts frame ``seq`` too), or
        missed with their predicted centre outside the frame (of the last size given), become lost
        (confirmed ones with an appearance, while re-identification is on); lost tracks older than
        ``reid_window_s`` are dropped."""
        limit = self.config.max_age_frames + (0 if missed_now else 1)
        keep_lost = self.config.reid_window_s > 0
        gone = {id(t) for t in self._tracks if seq - t.last_seq > limit}
        if self.frame_wh is not None:  # a track seen in the previous frame may still be matched in this one
            missed = 1 if missed_now else 2
            gone |= {id(t) for t in self._tracks if seq - t.last_seq >= missed and self._left(t, seq)}
        for t in self._tracks:
            if id(t) in gone and keep_lost and t.confirmed and t.appearance is not None:
                t.lost = True
                self._lost.append(t)
        self._tracks = [t for t in self._tracks if id(t) not in gone]
        window_ms = self.config.reid_window_s * 1000
        self._lost = [t for t in self._lost if now - t.last_ms <= window_ms]

    def _left(self, track: Track, seq: int) -> bool:
        """Whether ``track``'s predicted centre at ``seq`` lies outside the frame (``frame_wh``)."""
        assert self.frame_wh is not None
        cx, cy = xyxy_to_cxcywh(track.predicted(seq, self.config)[0])[:2]
        return not (0 <= cx <= self.frame_wh[0] and 0 <= cy <= self.frame_wh[1])

    def _new_track(self, seq: int, now: int, obs: Observation, look: Vector | None, hold: bool) -> Track:
        box = as_box(obs.box_xyxy)
        probs = {k: float(v) for k, v in obs.probs.items()}
        first = argmax_label(probs)
        held = hold and self.config.reid_wait_frames > 1
        track = Track(
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
            appearance=blend(None, look, 1.0) if look is not None else None,
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
            tracks=[to_state(t) for t in self._tracks],
            lost=[to_state(t) for t in self._lost],
            frame_wh=self.frame_wh,
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
        tracker._tracks = [from_state(t) for t in state.tracks]
        tracker._lost = [from_state(t, lost=True) for t in state.lost]
        tracker.frame_wh = state.frame_wh
        return tracker


def _similarities(tracks: Sequence[Vector | None], faces: Sequence[Vector | None]) -> npt.NDArray[np.float64]:
    """Cosine similarity of each track descriptor with each face's; 1.0 where either is missing (no
    evidence against the pair)."""
    out = np.ones((len(tracks), len(faces)), np.float64)
    for i, a in enumerate(tracks):
        for j, b in enumerate(faces):
            if a is not None and b is not None and a.shape == b.shape:
                out[i, j] = similarity(a, b)
    return out


def _at_edge(box: BoxXYXY, frame_wh: tuple[int, int], margin: float = 2.0) -> bool:
    """Whether ``box`` reaches within ``margin`` pixels of a ``frame_wh`` frame's border (or beyond)."""
    return (
        box[0] <= margin
        or box[1] <= margin
        or box[2] >= frame_wh[0] - margin
        or box[3] >= frame_wh[1] - margin
    )


def _direction_costs(
    tracks: Sequence[Track], gaps: Sequence[int], faces: Sequence[BoxXYXY]
) -> npt.NDArray[np.float64]:
    """For each track and face, how much the way from the track's last seen box to the face goes against
    the track's velocity: ``(1 - cos angle) / 2``, 0 along it, 1 straight back. 0 for a track whose
    velocity would move it less than a quarter of its face height over its gap (its direction is not
    known well enough to say)."""
    out = np.zeros((len(tracks), len(faces)), np.float64)
    if not faces:
        return out
    centres = np.array([xyxy_to_cxcywh(b)[:2] for b in faces])
    for i, (t, gap) in enumerate(zip(tracks, gaps, strict=True)):
        velocity = t.kalman.mean[4:6]
        speed = float(np.linalg.norm(velocity))
        if speed * gap < 0.25 * height(t.last_box_xyxy):
            continue
        way = centres - xyxy_to_cxcywh(t.last_box_xyxy)[:2]
        lengths = np.linalg.norm(way, axis=1)
        cos = np.where(lengths > 1e-6, way @ velocity / np.maximum(lengths, 1e-6) / speed, 1.0)
        out[i] = (1.0 - cos) / 2
    return out


def _occluded(boxes: list[BoxXYXY], threshold: float) -> set[int]:
    """Indices of boxes that overlap another box of the frame by at least ``threshold`` IOU (> 0)."""
    if len(boxes) < 2 or threshold <= 0:
        return set()
    ious = iou_matrix(boxes, boxes)
    np.fill_diagonal(ious, 0.0)
    return {int(i) for i in np.nonzero((ious >= threshold).any(axis=1))[0]}
