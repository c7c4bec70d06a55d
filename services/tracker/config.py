"""The tracker's settings (``TrackerConfig``): association, motion, smoothing, hysteresis, lifecycle and
re-identification. ``services.tracker.settings`` reads them from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
        60, ge=0, description="frames a track survives unseen (predicted by its motion; was `MAX_AGE`)"
    )
    min_hits: int = Field(1, ge=1, description="hits before a tentative track is published")
    reid_window_s: float = Field(
        12.0, ge=0, description="a lost track is kept this long for re-identification by appearance (0: off)"
    )
    reid_min_similarity: float = Field(
        0.94, ge=0, le=1, description="appearance similarity a face needs to take a lost track's id"
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
        10.0,
        ge=0,
        description="motion gate of re-identification: face heights from the last seen box, per second"
        " away (at least one second's worth)",
    )
    appearance_weight: float = Field(
        1.0, ge=0, description="cost of a match also adds weight * (1 - appearance similarity)"
    )
    direction_weight: float = Field(
        1.0,
        ge=0,
        description="cost of a match also adds weight * (1 - cos) / 2 of the angle between a track's"
        " velocity and its way to the face (a hidden face comes out the way it was going)",
    )
    appearance_alpha: float = Field(
        0.1, gt=0, le=1, description="EMA weight of a clean new appearance in a track's descriptor"
    )
    occlusion_iou: float = Field(
        0.1, ge=0, le=1, description="a face overlapping another face this much is occluded (doubtful)"
    )
