from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings


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
    file_high_water: int = Field(32, ge=1, description="a file job pauses while this many frames wait")
