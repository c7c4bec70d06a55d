"""Evaluate the emotion classifier on a labelled image folder: accuracy, recall, confusion, ms per face."""

from __future__ import annotations

import argparse
from pathlib import Path

#: Batch sizes timed for ms per face.
TIMED_BATCHES = (1, 32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with one subfolder of images per label"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="'mini-xception', a checkpoint directory or hub id (default: EMOSTREAM_MODEL)",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate a stratified subset of N images")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON holding the results")
    parser.add_argument("--plot", type=Path, default=None, help="save the confusion matrix as this PNG")
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda when available, else cpu)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--backend",
        default=None,
        help="torch, torch-bf16, openvino or auto (default: EMOSTREAM_BACKEND, else auto)",
    )
    parser.add_argument(
        "--no-temperature",
        action="store_true",
        help="ignore the checkpoint's fitted temperature (to see calibration before it)",
    )
    parser.add_argument(
        "--timing-faces", type=int, default=128, help="faces timed per batch size (default 128)"
    )


def run(args: argparse.Namespace) -> int:
    """Long because: it is the command's script, top to bottom: load, measure, time, print or write JSON and
    the plot.
    """
    import json
    import sys

    import torch

    from services.classifier.evaluate import evaluate, labelled_files, ms_per_face, read_image
    from services.classifier.loader import load_model
    from services.classifier.plot import save_confusion_png
    from services.classifier.settings import ClassifierSettings
    from services.common.labels import CANONICAL_LABELS

    if args.limit is not None and args.limit < 1:
        print("emostream eval classifier: --limit must be >= 1", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = ClassifierSettings()
    name = args.model or settings.model
    try:
        labelled_files(args.data, CANONICAL_LABELS)  # a bad folder fails before the model loads
        model = load_model(name, device=args.device, backend=args.backend or settings.backend)
        if args.no_temperature and hasattr(model, "temperature"):
            model.temperature = 1.0
        result = evaluate(model, args.data, limit=args.limit)
    except (OSError, ValueError) as exc:
        print(f"emostream eval classifier: {exc}", file=sys.stderr)
        return 2
    files = [p for paths in labelled_files(args.data, model.labels).values() for p in paths]
    crops = [read_image(p) for p in files[: max(args.timing_faces, max(TIMED_BATCHES))]]
    timing = {f"batch_{b}": round(ms_per_face(model, crops, b), 3) for b in TIMED_BATCHES}

    print(f"model {name}  data {args.data}  n {result.n}")
    print(f"accuracy {result.accuracy:.4f}  ECE {result.ece:.4f}")
    print("per-class recall: " + "  ".join(f"{k} {v:.3f}" for k, v in result.per_class_recall.items()))
    width = max(len(label) for label in result.labels) + 1
    print("confusion (rows: true, columns: predicted)")
    print(" " * width + "".join(f"{label[:7]:>8}" for label in result.labels))
    for label, row in zip(result.labels, result.confusion, strict=True):
        print(f"{label:<{width}}" + "".join(f"{v:>8}" for v in row))
    print(
        "ms per face: "
        + "  ".join(f"{k} {v:.2f}" for k, v in timing.items())
        + f" (torch threads {torch.get_num_threads()})"
    )
    if args.plot is not None:
        save_confusion_png(
            result, args.plot, title=f"{Path(name).name}: accuracy {result.accuracy:.4f} (n={result.n})"
        )
        print(f"confusion matrix saved to {args.plot}")
    if args.json:
        print(
            json.dumps(
                {
                    "model": name,
                    "data": str(args.data),
                    "n": result.n,
                    "accuracy": round(result.accuracy, 6),
                    "ece": round(result.ece, 6),
                    "per_class_recall": {k: round(v, 6) for k, v in result.per_class_recall.items()},
                    "labels": list(result.labels),
                    "confusion": result.confusion,
                    "ms_per_face": timing,
                }
            )
        )
    return 0
