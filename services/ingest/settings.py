from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, field_validator

from services.common.settings import CommonSettings
from services.common.settings_check import usable_dir
from services.common.source_policy import SourcePolicy


class IngestSettings(CommonSettings):
    frame_ttl_s: int = Field(20, ge=1, description="TTL of live frame JPEGs")
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of stored frames")
    live_fps_cap: float = Field(10.0, ge=0, description="publish live sources at most this often (0: no cap)")
    max_frame_px: int = Field(4096 * 2160, ge=1, description="a larger frame is refused")
    data_dir: Path = Field(
        Path(tempfile.gettempdir()) / "emostream-ui",
        description="where the UI's job volume is mounted (job: sources resolve under its jobs/)",
    )
    sources: str = Field(
        "", description="cameras to register at start: 'name=uri,name2=uri2' (live; files loop)"
    )
    ingest_max_readers: int = Field(
        64,
        ge=0,
        description="camera reader threads at most; more cameras wait, with an error saying so (0: no limit)",
    )
    file_high_water: int = Field(32, ge=1, description="a file job pauses while this many frames wait")
    source_allow: str = Field(
        "auto",
        description="the camera source policy (as the ui's): ingest checks every URL it opens against it,"
        " redirects and playlists included (docs/deploy.md)",
    )
    host: str = Field(
        "0.0.0.0",
        description="the dashboard's address, which `up` passes on: unless it is loopback, 'auto' means"
        " the rules (not told, ingest assumes a dashboard that others reach)",
    )

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        usable_dir(value)
        return value

    @field_validator("source_allow")
    @classmethod
    def _policy_parses(cls, value: str) -> str:
        SourcePolicy.parse(value, "0.0.0.0", [])  # a bad rule stops ingest at start, named
        return value

    def source_policy(self) -> SourcePolicy:
        """``EMOSTREAM_SOURCE_ALLOW`` for the dashboard at ``host``. Ingest applies its URL rules (schemes,
        hosts, the addresses always refused); files were checked when the camera was registered."""
        return SourcePolicy.parse(self.source_allow, self.host, [self.data_dir])
