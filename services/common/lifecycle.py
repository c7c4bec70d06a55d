"""The one service lifecycle: a loop written once, with hooks each service fills in (arq's worker model).

Every service (ingest, detector, classifier, tracker, and the ui's health beat) runs
:func:`run_service` with a :class:`Service` subclass that overrides the hooks it needs (``step`` at least):

``setup()``
    Once, before the first step. Redis may still be away: it is retried with the loop's backoff.
``step() -> bool``
    One pass of the service's own work (read, process, commit). True when it did something; a
    ``burst`` run ends after the first idle step. Redis errors raised here are the loop's business.
``on_redis_lost()``
    Redis went away mid-step: forget what belongs to the old connection (consumer groups seen, ...).
``stats() -> dict``
    Counters for the health key and the stats log line.
``teardown()``
    Once, after the last step, even after an exception: release leases, stop threads.

What the loop adds, the same for every service: the watchdog is petted each pass (a loop that stops
advancing makes the process exit, see :mod:`services.common.watchdog`), the health key is refreshed every
``health_ttl_s / 3`` and cleared at the end, a ``stats`` line is logged every ``stats_interval_s``, and
a Redis outage is waited out with one :class:`Backoff` (0.5 s doubling to 5 s). ``stop`` is the event
that SIGTERM and SIGINT set (:func:`services.common.entrypoint.service_main`): the current step finishes, then
``teardown`` runs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis

from services.common import health, watchdog
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

#: what counts as "Redis is away" everywhere: wait and retry, never crash (see :func:`redis_away`)
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def redis_away(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis is away for now: no connection, a timeout, or a master that refuses
    writes because fewer replicas than its ``min-replicas-to-write`` are in reach (``NOREPLICAS``; what
    was not written is written again once they are back, so nothing is acknowledged that a failover
    could lose)."""
    return isinstance(exc, REDIS_DOWN) or (isinstance(exc, redis.ResponseError) and "NOREPLICAS" in str(exc))


class Backoff:
    """A doubling retry delay: ``first_s``, twice that, ... at most ``cap_s``; :meth:`reset` on success."""

    def __init__(self, first_s: float = 0.5, cap_s: float = 5.0) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._next_s = first_s

    def next_s(self) -> float:
        """The delay to wait now; the one after it doubles."""
        delay = self._next_s
        self._next_s = min(delay * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.first_s


class Service:
    """No-op defaults for the hooks: a service overrides what it needs (``step`` at least)."""

    def setup(self) -> None:
        """Once, before the first step."""

    def step(self) -> bool:
        raise NotImplementedError

    def on_redis_lost(self) -> None:
        """Redis went away during a step."""

    def stats(self) -> dict[str, int | float | str]:
        return {}

    def teardown(self) -> None:
        """Once, after the last step."""


def stats_line(stats: dict[str, int | float | str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(stats.items()))


def run_service(
    name: str,
    hooks: Service,
    settings: CommonSettings,
    client: redis.Redis,
    stop: threading.Event,
    burst: bool = False,
) -> None:
    """Run ``hooks`` until ``stop`` is set (or, with ``burst``, until a step finds nothing to do)."""
    log.info("%s starting instance=%s", name, settings.instance)
    backoff = Backoff()
    next_beat = 0.0
    next_stats = time.monotonic() + settings.stats_interval_s
    ready = False
    try:
        while not stop.is_set():
            watchdog.pet()
            try:
                if not ready:
                    hooks.setup()
                    ready = True
                t = time.monotonic()
                if t >= next_beat:  # first beat before the first step: healthy as soon as it is set up
                    health.beat(client, name, settings.instance, settings.health_ttl_s, hooks.stats())
                    next_beat = t + max(1.0, settings.health_ttl_s / 3)
                did = hooks.step()
                backoff.reset()
                if burst and not did:
                    break
            except redis.RedisError as exc:
                if not redis_away(exc):
                    raise
                delay = backoff.next_s()
                log.warning("redis unavailable error=%r retry_in_s=%.1f", str(exc), delay)
                hooks.on_redis_lost()
                stop.wait(delay)
            if settings.stats_interval_s and time.monotonic() >= next_stats:
                log.info("stats %s", stats_line(hooks.stats()))
                next_stats = time.monotonic() + settings.stats_interval_s
    finally:
        try:
            hooks.teardown()
        finally:
            with contextlib.suppress(redis.RedisError):
                health.clear(client, name, settings.instance)
            log.info("%s stopped stats=%s", name, hooks.stats())
