from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class ClassifierSettings(CommonSettings):
    model: str = Field(
        "mini-xception",
        description="'mini-xception' (bundled), 'mini-xception-fer' (no flip TTA), checkpoint dir, hub id",
    )
    device: str = Field("", description="torch device; empty: cuda when available, else cpu")
    max_batch: int = Field(16, ge=1)
