from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.settings import CommonSettings


class TrackerSettings(CommonSettings):
    """Tracker settings (environment ``EMOSTREAM_<NAME>``); docs/tracking.md explains the trade-offs."""

    iou_threshold: float = Field(0.3, ge=0, le=1, description="a track and a face match at this IOU or more")
    max_centre_dist: float = Field(
        0.5, ge=0, description="...or when their centres are this many face heights apart or less"
    )
    centre_weight: float = Field(0.5, ge=0, description="cost = 1 - IOU + centre_weight * centre distance")
    motion: Literal["kalman", "none"] = Field(
        "kalman", description="predict hidden faces with a constant-velocity Kalman filter, or not"
    )
    box_filter: Literal["ema", "one_euro"] = Field("one_euro", description="box smoother")
    box_alpha: float = Field(0.3, gt=0, le=1, description="EMA weight of the new box (box_filter=ema)")
    euro_min_cutoff: float = Field(0.02, gt=0, description="One Euro cutoff of a still box, cycles/frame")
    euro_beta: float = Field(0.03, ge=0, description="One Euro cutoff increase per pixel/frame of speed")
    euro_d_cutoff: float = Field(0.05, gt=0, description="One Euro cutoff of the speed, cycles/frame")
    prob_alpha: float = Field(0.1, gt=0, le=1, description="EMA weight of the new probabilities")
    confirm_frames: int = Field(5, ge=1, description="frames a new label must lead before it is shown")
    label_margin: float = Field(0.05, ge=0, description="lead over the shown label a new label needs")
    max_age: int = Field(30, ge=0, description="frames a track survives unseen (predicted by its motion)")
    min_hits: int = Field(1, ge=1, description="hits before a tentative track is published")
    live_reorder_ms: int = Field(500, ge=0, description="wait this long for a missing live seq")
    file_reorder_ms: int = Field(120_000, ge=0, description="wait this long for a missing file-job seq")
    lease_ms: int = Field(
        10_000, ge=500, description="camera lease TTL: a dead tracker's cameras move on after this"
    )
    max_cameras: int = Field(0, ge=0, description="cameras one replica owns at most (0: no limit)")
    timeline_max_segments: int = Field(50, ge=1, description="label segments kept per track in the timeline")
    timeline_keep_s: int = Field(300, ge=1, description="tracks unseen this long leave the timeline")
    timeline_interval_ms: int = Field(1000, ge=0, description="write a camera's timeline at most this often")
