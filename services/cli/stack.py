"""Bring up the services (and an embedded Redis when none is configured) for ``up`` and ``analyze``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from services.cli.embedded_redis import EmbeddedRedis
from services.cli.supervisor import Supervisor
from services.common import health

log = logging.getLogger(__name__)

PIPELINE = ("ingest", "detector", "classifier", "tracker")


@dataclass
class Stack:
    redis_url: str
    supervisor: Supervisor
    started: tuple[str, ...]

    def wait_healthy(self, timeout_s: float = 120.0) -> None:
        """Block until every started service has a health key; raises TimeoutError naming the missing ones."""
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout_s
        missing = list(self.started)
        while missing:
            live = {name.split(":", 1)[0] for name in health.instances(client)}
            missing = [s for s in self.started if s not in live]
            if not missing:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"services not healthy after {timeout_s:.0f} s: {', '.join(missing)}")
            self.supervisor.poll()
            time.sleep(0.3)
        client.close()


def model_env(model: str | None) -> dict[str, str]:
    """The environment that makes the classifier service load ``model`` (nothing: its default)."""
    return {"EMOSTREAM_MODEL": model} if model else {}


def running_services(redis_url: str) -> set[str]:
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
        return {name.split(":", 1)[0] for name in health.instances(client)}
    except redis.RedisError:
        return set()


@contextmanager
def stack(
    services: tuple[str, ...], env: dict[str, str] | None = None, only_missing: bool = False
) -> Iterator[Stack]:
    """Run ``services`` against ``EMOSTREAM_REDIS_URL`` or an embedded Redis; stop all on exit.

    With ``only_missing``, services that already have a live instance on that Redis are not started.
    """
    url = os.environ.get("EMOSTREAM_REDIS_URL", "")
    embedded = None if url else EmbeddedRedis()
    url = url or (embedded.url if embedded else "")
    wanted = services
    if only_missing and embedded is None:
        present = running_services(url)
        wanted = tuple(s for s in services if s not in present)
    supervisor = Supervisor({"EMOSTREAM_REDIS_URL": url, **(env or {})})
    for name in wanted:
        supervisor.add(name)
    try:
        supervisor.start()
        yield Stack(url, supervisor, wanted)
    finally:
        supervisor.stop()
        if embedded is not None:
            embedded.stop()
