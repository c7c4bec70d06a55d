"""Settings of the ui service (env prefix ``EMOSTREAM_``, e.g. ``EMOSTREAM_PORT``)."""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator

from services.common.settings import CommonSettings, default_samples_dir
from services.common.settings_check import usable_dir
from services.common.source_policy import SourcePolicy


class UISettings(CommonSettings):
    host: str = Field("127.0.0.1", description="dashboard address (0.0.0.0: every interface)")
    port: int = Field(7860, ge=1, le=65535, description="dashboard port")
    mjpeg_fps: float = Field(10, gt=0, le=60, description="MJPEG frames per second per viewer (at most)")
    poll_hz: float = Field(12, gt=0, le=60, description="how often the shared reader polls each camera")
    push_hz: float = Field(5, gt=0, le=30, description="how often the dashboard pushes bars to a browser")
    jpeg_quality: int = Field(80, ge=1, le=100, description="quality of the annotated JPEGs")
    pipeline_interval_s: float = Field(2, gt=0, description="seconds between pipeline health/lag reads")
    ui_user: str = Field("emostream", description="login name when EMOSTREAM_UI_PASSWORD is set")
    ui_password: str = Field("", description="set to require HTTP basic auth on everything but /healthz")
    api_token: str = Field("", description="REST clients may send 'Authorization: Bearer TOKEN' instead")
    source_allow: str = Field(
        "auto",
        description="camera source policy: 'auto', 'any', or rules like 'schemes=rtsp,http files=/srv"
        " hosts=10.0.0.0/8,cam.local' (docs/deploy.md)",
    )
    data_dir: Path | None = Field(
        None, description="uploads and job outputs live here (unset: a new private directory per run)"
    )
    max_upload_mb: float = Field(200, gt=0, description="a larger video upload is refused")
    max_running_jobs: int = Field(2, ge=1, description="video jobs processed at once; more wait")
    max_kept_jobs: int = Field(20, ge=1, description="finished jobs kept on disk; older ones are deleted")
    retention_hours: float = Field(
        0,
        ge=0,
        description="delete finished jobs, history, events and stream entries older than this (0: keep;"
        " docs/privacy.md)",
    )
    retention_check_s: float = Field(60, gt=0, description="how often the retention janitor sweeps")
    job_stall_timeout_s: float = Field(300, gt=0, description="a job without progress this long fails")
    webcam_idle_s: float = Field(15, gt=0, description="a webcam camera without frames this long is removed")
    webcam_frame_ttl_s: int = Field(20, ge=1, description="TTL of webcam frame JPEGs in Redis")
    webcam_jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of webcam frames")
    ui_allowed_origins: str = Field(
        "",
        description="other origins whose pages may change state, comma-separated (e.g. 'https://ops.example"
        ".org'); cross-site requests from any other get 403",
    )
    ui_max_cameras: int = Field(
        64, ge=0, description="cameras the dashboard and API register at most, webcams included (0: no limit)"
    )
    max_frame_px: int = Field(
        4096 * 2160, ge=1, description="a larger frame is refused (ui: from its header, before decoding)"
    )
    header_timeout_s: float = Field(10, gt=0, description="a request's headers must arrive within this")
    body_timeout_s: float = Field(
        30, gt=0, description="a request body may pause this long at most (and must average 4 KiB/s after it)"
    )
    max_connections: int = Field(1000, ge=0, description="connections and requests at once; more get 503")
    samples_dir: Path = Field(
        default_factory=default_samples_dir,
        description="the sample videos; camera files may come from here under the source rules",
    )

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path | None) -> Path | None:
        return usable_dir(value)

    def source_policy(self) -> SourcePolicy:
        """``EMOSTREAM_SOURCE_ALLOW`` for this bind; files default to the data and samples directories."""
        return SourcePolicy.parse(self.source_allow, self.host, [self.work_dir, self.samples_dir])

    @cached_property
    def work_dir(self) -> Path:
        """``data_dir``, or without one a new 0700 directory made on first use (``--check`` makes none)."""
        return self.data_dir if self.data_dir is not None else Path(tempfile.mkdtemp(prefix="emostream-ui-"))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def allowed_origins(self) -> list[str]:
        """``EMOSTREAM_UI_ALLOWED_ORIGINS`` as a list."""
        return [o.strip() for o in self.ui_allowed_origins.split(",") if o.strip()]
