"""``emostream up``: the whole stack on this machine, sample cameras when no source is given."""

from __future__ import annotations

import logging
import signal
import threading

import redis

from services.cli.samples import DEMO_CAMERAS, ensure_samples
from services.cli.stack import PIPELINE, model_env, stack
from services.common import registry

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


def up(port: int, sources: dict[str, str], host: str = "127.0.0.1", model: str | None = None) -> int:
    if not sources:
        media = ensure_samples()
        sources = {name: str(media / file) for name, file in DEMO_CAMERAS.items()}
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    env = {"EMOSTREAM_PORT": str(port), "EMOSTREAM_HOST": host, **model_env(model)}
    with stack((*PIPELINE, "ui"), env=env) as running:
        client = redis.Redis.from_url(running.redis_url)
        for name, uri in sources.items():
            registry.add(client, name, uri, mode="live", loop=not uri.strip().isdigit() and "://" not in uri)
        print(
            f"emostream: redis at {running.redis_url}; dashboard on http://{host}:{port}/ ; Ctrl-C stops",
            flush=True,
        )
        while not stop.wait(0.5):
            running.supervisor.poll()
        print("emostream: stopping", flush=True)
    return 0
