"""``emostream up``: the whole stack on this machine, sample cameras when no source is given."""

from __future__ import annotations

import logging
import threading

import redis

from services.cli.samples import DEMO_CAMERAS, ensure_samples
from services.cli.settings import CliSettings
from services.cli.stack import PIPELINE, Interrupted, interruptible, model_env, stack
from services.common import registry
from services.common.sources import source_loops

log = logging.getLogger(__name__)


def parse_sources(items: list[str]) -> dict[str, str]:
    """``["cam1=rtsp://...", "lobby=0"]`` -> ``{"cam1": "rtsp://...", "lobby": "0"}``; raises ValueError."""
    sources: dict[str, str] = {}
    for item in items:
        name, sep, uri = item.partition("=")
        if not sep or not name.strip() or not uri.strip():
            raise ValueError(f"--source must be NAME=URI, got {item!r}")
        registry.validate_name(name.strip())
        sources[name.strip()] = uri.strip()
    return sources


def up(
    port: int,
    sources: dict[str, str],
    host: str = "127.0.0.1",
    model: str | None = None,
    replicas: dict[str, int] | None = None,
) -> int:
    """Run the stack until SIGINT or SIGTERM (also during start-up); every child is stopped on the way out.

    The embedded Redis keeps its data in ``EMOSTREAM_DATA_DIR/redis``: cameras added at run time and
    unfinished video jobs come back with the next ``up``.
    """
    settings = CliSettings()
    env = {"EMOSTREAM_PORT": str(port), "EMOSTREAM_HOST": host, **model_env(model)}
    try:
        with interruptible():
            if not sources:
                media = ensure_samples()
                sources = {name: str(media / file) for name, file in DEMO_CAMERAS.items()}
            with stack(
                (*PIPELINE, "events", "ui"), env=env, data_dir=settings.data_dir / "redis", replicas=replicas
            ) as running:
                client = redis.Redis.from_url(running.redis_url)
                for name, uri in sources.items():
                    registry.add(client, name, uri, mode="live", loop=source_loops(uri))
                where = "embedded redis" if running.embedded else f"redis at {running.redis_url}"
                print(f"emostream: {where}; dashboard on http://{host}:{port}/ ; Ctrl-C stops", flush=True)
                threading.Event().wait()
    except Interrupted:
        print("emostream: stopping", flush=True)
    return 0
