"""``emostream up``: the whole stack on this machine, sample cameras when no source is given."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

import redis

from services.cli.samples import DEMO_CAMERAS, ensure_samples
from services.cli.settings import CliSettings
from services.cli.stack import PIPELINE, Interrupted, interruptible, model_env, stack
from services.common import codec, keys, registry
from services.common.connect import connect
from services.common.private_files import private_dir
from services.common.schema import Tracks
from services.common.settings import Privacy
from services.common.settings_check import load_settings
from services.common.source_policy import is_loopback_bind
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


def new_login(host: str) -> str:
    """A password generated for a dashboard that others reach (bound beyond loopback) and that has none
    (``EMOSTREAM_UI_PASSWORD``); '' otherwise. Such a dashboard also gets EMOSTREAM_SOURCE_ALLOW's rules."""
    if is_loopback_bind(host) or os.environ.get("EMOSTREAM_UI_PASSWORD"):
        return ""
    return secrets.token_urlsafe(12)


def first_annotated(client: redis.Redis, cameras: list[str]) -> str | None:
    """The first of ``cameras`` whose tracks stream holds a frame with a face, or None."""
    for camera_id in cameras:
        for _, fields in client.xrevrange(keys.stream("tracks", camera_id), count=20) or []:
            msg = codec.decode(fields or {})
            if isinstance(msg, Tracks) and msg.tracks:
                return camera_id
    return None


def report_first_frame(
    client: redis.Redis, cameras: list[str], started: float, timeout_s: float = 600
) -> None:
    """Print how long it took from the command to the first annotated frame (a face with its label)."""
    while time.monotonic() - started < timeout_s:
        try:
            camera_id = first_annotated(client, cameras)
        except (redis.RedisError, codec.SchemaError):
            camera_id = None
        if camera_id is not None:
            took = time.monotonic() - started
            print(f"emostream: first annotated frame after {took:.1f} s (camera {camera_id})", flush=True)
            return
        time.sleep(0.5)


def up(
    port: int,
    sources: dict[str, str],
    host: str = "127.0.0.1",
    model: str | None = None,
    replicas: dict[str, int] | None = None,
    privacy: Privacy | None = None,
) -> int:
    """Run the stack until SIGINT or SIGTERM (also during start-up); every child is stopped on the way out.
    ``privacy`` (None: ``EMOSTREAM_PRIVACY``) is handed to the ui, which draws what viewers see.

    The embedded Redis keeps its data in ``EMOSTREAM_DATA_DIR/redis``: cameras added at run time and
    unfinished video jobs come back with the next ``up``.
    """
    started = time.monotonic()
    settings = load_settings(CliSettings)
    # the ui keeps uploads and job outputs, and ingest finds them (job: sources), in up's private data dir
    env = {
        "EMOSTREAM_PORT": str(port),
        "EMOSTREAM_HOST": host,
        "EMOSTREAM_DATA_DIR": str(private_dir(settings.data_dir)),
        "EMOSTREAM_PRIVACY": privacy or settings.privacy,
        **model_env(model),
    }
    login = new_login(host)
    if login:
        env["EMOSTREAM_UI_PASSWORD"] = login
    try:
        with interruptible():
            if not sources:
                media = ensure_samples()
                sources = {name: str(media / file) for name, file in DEMO_CAMERAS.items()}
            with stack(
                (*PIPELINE, "events", "ui"), env=env, data_dir=settings.data_dir / "redis", replicas=replicas
            ) as running:
                client = connect(url=running.redis_url)
                for name, uri in sources.items():
                    registry.add(
                        client, name, uri, mode="live", loop=source_loops(uri), sealer=running.sealer
                    )
                where = "embedded redis" if running.embedded else f"redis at {running.redis_url}"
                print(f"emostream: {where}; dashboard on http://{host}:{port}/ ; Ctrl-C stops", flush=True)
                if login:
                    print(
                        f"emostream: the dashboard listens beyond loopback: log in as "
                        f"{os.environ.get('EMOSTREAM_UI_USER', 'emostream')} / {login} "
                        "(set EMOSTREAM_UI_PASSWORD to choose it)",
                        flush=True,
                    )
                threading.Thread(
                    target=report_first_frame, args=(client, list(sources), started), daemon=True
                ).start()
                running.stop.wait()
    except Interrupted:
        print("emostream: stopping", flush=True)
        return 0
    print(f"emostream up: stopped: {running.failed} exited because of its settings (see above)", flush=True)
    return 2
