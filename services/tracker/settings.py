from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.settings import CommonSettings
from services.tracker.config import TrackerConfig


class TrackerSettings(CommonSettings, TrackerConfig):
    """Tracker settings (environment ``EMOSTREAM_<NAME>``): the tracking parameters of
    :class:`TrackerConfig` (declared there, once) plus the service's own; docs/tracking.md explains the
    trade-offs."""

    # the settings' config, not TrackerConfig's (pydantic would merge the later base's over it)
    model_config = CommonSettings.model_config

    live_reorder_ms: int = Field(500, ge=0, description="wait this long for a missing live seq")
    file_reorder_ms: int = Field(120_000, ge=0, description="wait this long for a missing file-job seq")
    lease_ms: int = Field(
        10_000, ge=500, description="camera lease TTL: a dead tracker's cameras move on after this"
    )
    max_cameras: int = Field(0, ge=0, description="cameras one replica owns at most (0: no limit)")
    timeline_max_segments: int = Field(50, ge=1, description="label segments kept per track in the timeline")
    timeline_keep_s: int = Field(300, ge=1, description="tracks unseen this long leave the timeline")
    timeline_interval_ms: int = Field(1000, ge=0, description="write a camera's timeline at most this often")
    identity: Literal["tracks", "aggregate"] = Field(
        "tracks",
        description="aggregate: no per-track id, box or timeline leaves the tracker, only faces per label"
        " per frame (docs/privacy.md)",
    )
