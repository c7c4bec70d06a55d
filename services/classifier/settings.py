from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class ClassifierSettings(CommonSettings):
    model: str = Field(
        "emo-vgg+mini-xception",
        description="'emo-vgg+mini-xception' (bundled ensemble), 'emo-vgg', 'mini-xception', "
        "'mini-xception-fer', checkpoint dir, hub id",
    )
    device: str = Field("", description="torch device; empty: cuda when available, else cpu")
    read_count: int = Field(16, ge=1, description="entries read per stream per XREADGROUP (COUNT)")
