from __future__ import annotations

from pydantic import Field

from services.common.settings import Backend, CommonSettings


class ClassifierSettings(CommonSettings):
    model: str = Field(
        "emo-vgg+mini-xception",
        description="'emo-vgg+mini-xception' (bundled ensemble), 'emo-vgg', 'mini-xception', "
        "'mini-xception-fer', checkpoint dir, hub id",
    )
    device: str = Field("", description="torch device; empty: cuda when available, else cpu")
    backend: Backend = Field(
        "auto",
        description="forward passes: 'torch' (fp32), 'torch-bf16' (autocast, CPU), 'openvino' (bf16 hint, "
        "CPU), 'auto' (openvino on CPU when installed, else torch)",
    )
    read_count: int = Field(16, ge=1, description="entries read per stream per XREADGROUP (COUNT)")
