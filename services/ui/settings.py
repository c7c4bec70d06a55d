"""Settings of the ui service (env prefix ``EMOSTREAM_``, e.g. ``EMOSTREAM_PORT``)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class UISettings(CommonSettings):
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    mjpeg_fps: float = Field(10, gt=0, le=60, description="MJPEG frames per second per viewer (at most)")
    poll_hz: float = Field(12, gt=0, le=60, description="how often the shared reader polls each camera")
    push_hz: float = Field(5, gt=0, le=30, description="how often the dashboard pushes bars to a browser")
    jpeg_quality: int = Field(80, ge=1, le=100, description="quality of the annotated JPEGs")
    health_interval_s: float = Field(5, gt=0, description="seconds between health key refreshes")
