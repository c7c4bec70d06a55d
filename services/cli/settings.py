"""Settings of the ``emostream`` command itself (``up``, ``analyze``): the only place the CLI reads the
environment. Every variable carries the ``EMOSTREAM_`` prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import Privacy, default_data_dir, default_samples_dir
from services.common.settings_check import log_level, usable_dir


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMOSTREAM_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "", description="use this Redis; empty: up and analyze start an embedded one (supervised, with AOF)"
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="up keeps the embedded Redis' append-only file in DATA_DIR/redis",
    )
    samples_dir: Path = Field(
        default_factory=default_samples_dir,
        description="where the sample videos are fetched to and read from",
    )
    privacy: Privacy = Field(
        "off", description="up and analyze: blur every face in what they show and write (docs/privacy.md)"
    )
    log_level: str = Field("WARNING", description="the emostream command's own log level (services: INFO)")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        return log_level(value)

    @field_validator("data_dir", "samples_dir")
    @classmethod
    def _dirs(cls, value: Path) -> Path:
        usable_dir(value)
        return value
