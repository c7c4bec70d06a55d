from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class TrackerSettings(CommonSettings):
    iou_threshold: float = Field(0.4, ge=0, le=1)
    box_alpha: float = Field(0.3, gt=0, le=1, description="EMA weight of the new box")
    prob_alpha: float = Field(0.3, gt=0, le=1, description="EMA weight of the new probabilities")
    confirm_frames: int = Field(3, ge=1, description="frames a new label must lead before it is shown")
    label_margin: float = Field(0.0, ge=0, description="lead over the shown label a new label needs")
    max_age: int = Field(10, ge=0, description="frames a track survives unseen")
    min_hits: int = Field(1, ge=1)
    live_reorder_ms: int = Field(500, ge=0, description="wait this long for a missing live seq")
    file_reorder_ms: int = Field(120_000, ge=0, description="wait this long for a missing file-job seq")
