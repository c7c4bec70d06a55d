"""The classifier's CPU backends against fp32 PyTorch: agreement on FER2013 publictest, and speed.

Usage: python -m benchmarks.backends [--data DIR] [--models emo-vgg+mini-xception,swin-tiny-random]
                                     [--backends torch-bf16,openvino] [--threads 2] [--limit N] [--json]

For each model, every publictest image goes through fp32 PyTorch (the reference) and through each
backend, in batches of 32. Printed per backend: the largest probability difference from the reference
over all images and labels, the share of images whose probabilities all lie within 0.02 of it, the
share with the same argmax, and ms per face at batch 1 and 8 (each timed on the same 64 faces, after a
warm-up). ``swin-tiny-random`` is a full-size Swin-T (28 M parameters, random weights): the compute of
the original project's classifier (:func:`services.cli.bench.swin_tiny`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from services.classifier.evaluate import labelled_files, read_image
from services.classifier.loader import load_model
from services.classifier.stage import EmotionModel, predict_in_passes
from services.cli.bench import model_name
from services.common.labels import CANONICAL_LABELS

TOLERANCE = 0.02


def ms_per_face(model: EmotionModel, crops: list[np.ndarray], batch: int) -> float:
    model.predict(crops[:batch])
    t0 = time.perf_counter()
    for start in range(0, len(crops), batch):
        model.predict(crops[start : start + batch])
    return (time.perf_counter() - t0) / len(crops) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fer2013/publictest"))
    parser.add_argument("--models", default="emo-vgg+mini-xception,swin-tiny-random")
    parser.add_argument("--backends", default="torch-bf16,openvino")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (sorted by label)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    files = [p for paths in labelled_files(args.data, CANONICAL_LABELS).values() for p in paths]
    crops = [read_image(p) for p in files[: args.limit]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models.split(","):
            name = model_name(spec, Path(tmp))
            reference = predict_in_passes(load_model(name, "cpu", "torch"), crops, 32)
            timed = crops[:64]
            row: dict[str, object] = {
                "model": spec,
                "images": len(crops),
                "torch_ms": {
                    b: round(ms_per_face(load_model(name, "cpu", "torch"), timed, b), 2) for b in (1, 8)
                },
            }
            for backend in args.backends.split(","):
                model = load_model(name, "cpu", backend)
                probs = predict_in_passes(model, crops, 32)
                diff = np.abs(probs - reference).max(axis=1)
                row[backend] = {
                    "max_diff": round(float(diff.max()), 4),
                    "within_tolerance": round(float((diff <= TOLERANCE).mean()), 4),
                    "same_argmax": round(float((probs.argmax(1) == reference.argmax(1)).mean()), 4),
                    "ms": {b: round(ms_per_face(model, timed, b), 2) for b in (1, 8)},
                }
            rows.append(row)
            if not args.json:
                print(
                    f"{spec}: {len(crops)} images, {args.threads} threads; "
                    f"fp32 torch ms/face {row['torch_ms']}"
                )
                for backend in args.backends.split(","):
                    r = row[backend]
                    assert isinstance(r, dict)
                    print(
                        f"  {backend:<11} max |dp| {r['max_diff']:.4f}  within {TOLERANCE}: "
                        f"{r['within_tolerance']:.2%}  same argmax: {r['same_argmax']:.2%}  ms/face {r['ms']}"
                    )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
