"""The shared ``python -m services.<name> [--check]`` entry point of every service."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from services.common import health, log, metrics, watchdog
from services.common.private_files import private_umask
from services.common.settings import CommonSettings
from services.common.settings_check import EX_CONFIG, SettingsError, load_settings

S = TypeVar("S", bound=CommonSettings)


def settings_or_exit(cls: type[S], name: str) -> S:
    """The service's settings, or one line on stderr and exit :data:`EX_CONFIG` (not restarted)."""
    try:
        return load_settings(cls)
    except SettingsError as exc:
        print(f"emostream {name}: invalid settings: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EX_CONFIG) from None


def service_main(
    name: str, settings: CommonSettings, run: Callable[[threading.Event], None], argv: list[str] | None = None
) -> int:
    """Parse ``--check``; otherwise set up logging, metrics and signals, then ``run(stop)``.

    SIGTERM and SIGINT set ``stop``; ``run`` finishes its current batch and returns.
    """
    parser = argparse.ArgumentParser(prog=f"emostream run {name}")
    parser.add_argument(
        "--check", action="store_true", help="exit 0 if this instance (this host's) is healthy, else 1"
    )
    args = parser.parse_args(argv)
    if args.check:
        return health.check(settings.redis_url, name, settings.instance_for_check())
    private_umask()
    log.setup(settings.log_level, name)
    metrics.serve(settings.metrics_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watchdog.start(settings.watchdog_s, stop, settings.parent_pid)
    run(stop)
    return 0
