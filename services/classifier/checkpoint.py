"""The native checkpoint format: a directory holding ``emostream.json`` (architecture, labels, flip TTA,
temperature) and ``model.safetensors`` (the torch state dict).

Torch only (no training code): :func:`services.classifier.loader.load_model` loads bundled and trained
checkpoints through :func:`load_native`; :mod:`services.classifier.train` writes them with
:func:`save_native`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from services.classifier.model import INPUT_SIZE, EmoVGG, MiniXception, TorchEmotionModel
from services.classifier.native import NATIVE_CONFIG, NATIVE_WEIGHTS
from services.classifier.recipe import ARCHITECTURES
from services.common.labels import CANONICAL_LABELS

__all__ = ["NATIVE_CONFIG", "NATIVE_WEIGHTS", "load_native", "save_native"]


def save_native(
    net: nn.Module, out_dir: Path, flip_tta: bool, meta: dict[str, object], arch: str = "mini-xception"
) -> None:
    """Write ``emostream.json`` and ``model.safetensors`` into ``out_dir`` (created when missing).

    ``meta`` goes into ``emostream.json``; ``widths`` (EmoVGG), ``input_size`` (efficientnet-lite0) and
    ``temperature`` are read back by :func:`load_native`."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out_dir / NATIVE_WEIGHTS))
    config = {"architecture": arch, "labels": list(CANONICAL_LABELS), "flip_tta": flip_tta} | meta
    (out_dir / NATIVE_CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def load_native(path: Path, device: str | None = None, backend: str = "torch") -> TorchEmotionModel:
    """Load a native checkpoint directory written by :func:`save_native`, to run on ``backend``.

    Raises FileNotFoundError when a file is missing, ValueError for an unknown architecture or labels.
    """
    from safetensors.torch import load_file

    config_path, weights_path = path / NATIVE_CONFIG, path / NATIVE_WEIGHTS
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"native checkpoint {path}: {p.name} is missing")
    config = json.loads(config_path.read_text())
    arch = config.get("architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"native checkpoint {path}: unknown architecture {arch!r}")
    if tuple(config.get("labels", ())) != CANONICAL_LABELS:
        raise ValueError(
            f"native checkpoint {path}: labels {config.get('labels')} are not {CANONICAL_LABELS}"
        )
    net: nn.Module
    if arch == "efficientnet-lite0":
        from services.classifier.effnet import DEFAULT_SIZE, EffNetLite0

        input_size = int(config.get("input_size", DEFAULT_SIZE))
        net = EffNetLite0(input_size, pretrained=False)
    elif arch == "emo-vgg":
        net, input_size = EmoVGG(config.get("widths", (32, 64, 128, 256))), EmoVGG.input_size
    else:
        net, input_size = MiniXception(), INPUT_SIZE
    net.load_state_dict(load_file(str(weights_path)))
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return TorchEmotionModel(
        net,
        target,
        flip_tta=bool(config.get("flip_tta", False)),
        input_size=input_size,
        temperature=float(config.get("temperature", 1.0)),
        backend=backend,
    )
