"""``emostream bench``: the single loop the pipeline replaces against the pipeline, same frames, same model.

- ``--mode file``: the videos (default: the four sample videos; ``--mosaic``: one 1280x720 2x2 mosaic of
  them) through the monolith loop, one video after another, then through the pipeline as concurrent
  lossless jobs (as ``emostream analyze`` runs them). Printed: fps over all frames and its ratio to the
  monolith's, per-stage milliseconds, batch sizes and the CPU cores used.
- ``--mode live``: N looping sample videos as live cameras at F fps for S seconds (after a warm-up),
  through the monolith (always the newest frame of each camera in turn) and through the running stack.
  Printed per camera: annotated fps, latency p50/p99 (capture to result), drop rate.

The monolith is the original project's loop: facenet-pytorch MTCNN with its defaults on the full frame,
then one classifier call per face, fp32 eager PyTorch, all threads; it draws each face's box and label
and writes every frame to an MP4. ``--model swin-tiny-random`` is a full-size Swin-T (28 M parameters,
random weights, seed 0): the compute of the original's classifier, which cannot be downloaded here.
``--json`` prints the same as one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from services.cli.bench.inputs import BENCH_VIDEOS, SWIN_TINY, model_name, mosaic
from services.cli.bench.monolith import monolith_files, monolith_live
from services.cli.bench.pipeline import pipeline_files, pipeline_live, stage_figures
from services.cli.bench.results import FileRun, LiveRun, camera_live, file_lines, live_lines

__all__ = ["add_arguments", "camera_live", "model_name", "run", "stage_figures"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("file", "live"), default="file")
    parser.add_argument(
        "--model", default=None, help=f"emotion model (default: EMOSTREAM_MODEL), or {SWIN_TINY}"
    )
    parser.add_argument(
        "--monolith-model", default=None, help=f"the monolith's model (default: --model), e.g. {SWIN_TINY}"
    )
    parser.add_argument("--backend", default=None, help="the pipeline classifier's backend (default: auto)")
    parser.add_argument("--videos", type=Path, nargs="*", default=None, help="file mode: these videos")
    parser.add_argument("--mosaic", action="store_true", help="file mode: one 2x2 mosaic of the videos")
    parser.add_argument("--frames", type=int, default=120, help="file mode, --mosaic: its length in frames")
    parser.add_argument("--cameras", type=int, default=4, help="live mode: how many cameras")
    parser.add_argument("--fps", type=float, default=10.0, help="live mode: frames per second per camera")
    parser.add_argument("--seconds", type=float, default=60.0, help="live mode: how long to measure")
    parser.add_argument("--warmup", type=float, default=15.0, help="live mode: seconds before measuring")
    parser.add_argument("--device", default="cpu", help="torch device of both (default cpu; e.g. cuda)")
    parser.add_argument("--threads", type=int, default=0, help="monolith torch threads (default: all cores)")
    parser.add_argument("--skip-monolith", action="store_true", help="run the pipeline only")
    parser.add_argument(
        "--replicas",
        default=None,
        metavar="SERVICE=N,...",
        help="pipeline replicas, as in up (default: file mode as analyze runs it, live mode one each)",
    )
    parser.add_argument("--json", action="store_true", help="print one line of JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import torch

    from services.classifier.settings import ClassifierSettings
    from services.cli.samples import ensure_samples
    from services.cli.stack import parse_replicas

    try:
        replicas = parse_replicas(args.replicas or "")
    except ValueError as exc:
        print(f"emostream bench: {exc}")
        return 2
    spec = args.model or ClassifierSettings().model
    media = ensure_samples() if args.videos is None or args.mode == "live" else None
    videos = list(args.videos) if args.videos else [cast(Path, media) / v for v in BENCH_VIDEOS]
    missing = [v for v in videos if not v.is_file()]
    if missing:
        print(f"emostream bench: no such video: {missing[0]}")
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "mode": args.mode,
        "model": spec,
        "monolith_model": args.monolith_model or spec,
        "backend": args.backend or "auto",
        "device": args.device,
    }
    with tempfile.TemporaryDirectory(prefix="emostream-bench-") as tmp:
        mode = file_mode if args.mode == "file" else live_mode
        try:
            head, lines = mode(args, videos, replicas, report, Path(tmp))
        except RuntimeError as exc:  # a job failed: its reason, not a traceback
            print(f"emostream bench: {exc}")
            return 1
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"emostream bench --mode {args.mode}: {head}; pipeline model {spec} "
            f"(backend {report['backend']}), monolith model {report['monolith_model']} (torch fp32)"
        )
        print("\n".join(lines))
        if "ratio" in report:
            print(f"pipeline / monolith: {report['ratio']:.2f}x")
    return 0


def file_mode(
    args: argparse.Namespace, videos: list[Path], replicas: dict[str, int], report: dict[str, Any], work: Path
) -> tuple[str, list[str]]:
    """The monolith, then the pipeline, over every frame of ``videos``; fills ``report``. Returns the
    heading and the table. Raises RuntimeError when a pipeline job fails."""
    from services.classifier.loader import load_model
    from services.cli.stack import file_job_replicas

    name = model_name(report["model"], work)
    if args.mosaic:
        videos = [mosaic(videos, work / "mosaic.mp4", args.frames)]
    report["videos"] = [v.name for v in videos]
    if args.replicas is None:
        replicas = file_job_replicas(name, gpu=args.device != "cpu")
    report["replicas"] = replicas
    runs: list[FileRun] = []
    if not args.skip_monolith:
        (work / "monolith").mkdir()
        model = load_model(model_name(report["monolith_model"], work), device=args.device, backend="torch")
        runs.append(monolith_files(videos, model, work / "monolith", args.device))
        del model
    runs.append(pipeline_files(videos, name, args.backend, work / "pipeline", replicas, args.device))
    report["runs"] = [asdict(r) | {"fps": round(r.fps, 2)} for r in runs]
    if runs[0].name == "monolith":
        report["ratio"] = round(runs[-1].fps / runs[0].fps, 2)
    return f"{len(videos)} video(s), {runs[-1].frames} frames", file_lines(runs)


def live_mode(
    args: argparse.Namespace, videos: list[Path], replicas: dict[str, int], report: dict[str, Any], work: Path
) -> tuple[str, list[str]]:
    """``args.cameras`` looping cameras through the monolith, then the pipeline; fills ``report``."""
    from services.classifier.loader import load_model

    name = model_name(report["model"], work)
    uris = [videos[i % len(videos)] for i in range(args.cameras)]
    runs: list[LiveRun] = []
    if not args.skip_monolith:
        model = load_model(model_name(report["monolith_model"], work), device=args.device, backend="torch")
        runs.append(monolith_live(uris, args.fps, args.warmup, args.seconds, model, args.device))
        del model
    runs.append(
        pipeline_live(uris, args.fps, args.warmup, args.seconds, name, args.backend, replicas, args.device)
    )
    report["runs"] = [asdict(r) | {"annotated_fps": round(r.annotated_fps, 2)} for r in runs]
    head = f"{args.cameras} cameras at {args.fps:g} fps, {args.seconds:g} s after {args.warmup:g} s"
    return head, live_lines(runs)
