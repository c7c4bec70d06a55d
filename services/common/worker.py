"""The worker loop every stream-consuming service runs.

One :class:`Worker` owns the lifecycle: discover cameras, ``XREADGROUP`` over all their input streams,
hand decoded entries to a :class:`Handler`, commit outputs and acks in one MULTI, reclaim entries of dead
replicas, dead-letter malformed ones, beat its health key, and survive Redis restarts. SIGTERM finishes
the current batch, acks it and returns.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import redis

from services.common import health, keys, metrics, watchdog
from services.common.schema import End, Message, Skip
from services.common.settings import CommonSettings
from services.common.streams import Batch, Entry, StreamClient

log = logging.getLogger(__name__)


def redis_client(settings: CommonSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_timeout=10, health_check_interval=10)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Handler(Protocol):
    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        """Process decoded entries; everything returned in ``acks`` is acked with the outputs."""
        ...

    def tick(self, now_ms: int) -> Batch:
        """Called once per loop even when nothing was read (timeouts, buffered work)."""
        ...


class Worker:
    """The lifecycle of a stream-consuming service (see the module docstring).

    A worker restarted under the same ``settings.instance`` first reads its own pending entries (the
    consumer's PEL, from ``0``) of every stream, then new ones (``>``): what it had read but not committed
    when it died is processed again at once, not after ``claim_idle_ms``. Entries of a consumer that never
    comes back are taken over with XAUTOCLAIM after ``claim_idle_ms``.
    """

    #: read the own PEL before new entries (the tracker takes its pending entries over per camera instead)
    recover_own_pending = True

    def __init__(
        self,
        service: str,
        settings: CommonSettings,
        handler: Handler,
        input_stage: str,
        group: str,
        client: redis.Redis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.handler = handler
        self.input_stage = input_stage
        self.redis = client or redis_client(settings)
        self.streams = StreamClient(
            self.redis, group, settings.instance, settings.stream_maxlen, self.recover_own_pending
        )
        self.stop = stop or threading.Event()
        self.stats: Counter[str] = Counter()
        self.cameras: list[str] = []

    def run(self, burst: bool = False) -> None:
        """Loop until :attr:`stop` is set (or, with ``burst``, until a read returns nothing)."""
        log.info("worker starting group=%s instance=%s", self.streams.group, self.settings.instance)
        next_refresh = next_claim = next_beat = 0.0
        backoff = 0.5
        try:
            while not self.stop.is_set():
                watchdog.pet()
                try:
                    t = time.monotonic()
                    if t >= next_refresh:
                        self._refresh_cameras()
                        next_refresh = t + 1.0
                    if t >= next_claim:
                        self._claim()
                        next_claim = t + self.settings.claim_idle_ms / 2000
                    if t >= next_beat:
                        self._beat()
                        next_beat = t + max(1.0, self.settings.health_ttl_s / 3)
                    entries = self.streams.read(
                        self._stream_names(), self.settings.max_batch, self.settings.max_wait_ms
                    )
                    if not self._stream_names():
                        self.stop.wait(0.2)
                    self._process(entries)
                    self._commit(self.handler.tick(now_ms()))
                    backoff = 0.5
                    if burst and not entries:
                        break
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    log.warning("redis unavailable error=%r retry_in_s=%.1f", str(exc), backoff)
                    self.streams.forget_all()
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            with contextlib.suppress(redis.RedisError):
                health.clear(self.redis, self.service, self.settings.instance)
            log.info("worker stopped stats=%s", dict(self.stats))

    def _stream_names(self) -> list[str]:
        return [keys.stream(self.input_stage, c) for c in self.cameras]

    def _refresh_cameras(self) -> None:
        members = sorted(m.decode() if isinstance(m, bytes) else m for m in self.redis.smembers(keys.CAMERAS))
        if members != self.cameras:
            log.info("cameras changed cameras=%s", ",".join(members))
            self.cameras = members
            metrics.CAMERAS.labels(self.service).set(len(members))

    def _claim(self) -> None:
        again, dead = self.streams.claim(
            self._stream_names(), self.settings.claim_idle_ms, self.settings.max_deliveries
        )
        if again or dead:
            log.info("reclaimed entries=%d dead=%d", len(again), len(dead))
            self.stats["reclaimed"] += len(again)
            metrics.MESSAGES.labels(self.service, "reclaimed").inc(len(again))
            self._commit(Batch(dead=dead))
            self._process(again)

    def _process(self, entries: list[Entry]) -> None:
        if not entries:
            return
        bad = [(e, e.error) for e in entries if e.message is None]
        good = [e for e in entries if e.message is not None]
        if bad:
            for entry, reason in bad:
                log.warning("malformed entry stream=%s id=%s reason=%r", entry.stream, entry.entry_id, reason)
            self._commit(Batch(dead=bad))
        if good:
            self._commit(self.handler.handle(good, now_ms()))

    def _commit(self, batch: Batch) -> None:
        if not batch:
            return
        self.streams.commit(batch)
        self._account(batch)

    def _account(self, batch: Batch) -> None:
        """Counters and latency metrics of a committed batch."""
        self.stats["acked"] += len(batch.acks)
        self.stats["dead"] += len(batch.dead)
        self.stats["out"] += len(batch.outputs)
        if batch.dead:
            metrics.MESSAGES.labels(self.service, "dead").inc(len(batch.dead))
        t = now_ms()
        for _, message in batch.outputs:
            metrics.LATENCY_S.labels(self.service).observe(max(0, t - message.captured_ms) / 1000)

    def _beat(self) -> None:
        health.beat(
            self.redis,
            self.service,
            self.settings.instance,
            self.settings.health_ttl_s,
            {"cameras": len(self.cameras), **self.stats, **getattr(self.handler, "stats", {})},
        )


def skip_of(msg: Message, stage: str, reason: str) -> Skip:
    """The marker that takes a message's place downstream when ``stage`` does not process it."""
    return Skip(
        camera_id=msg.camera_id,
        seq=msg.seq,
        captured_ms=msg.captured_ms,
        mode=msg.mode,
        stage=stage,
        reason=reason,
    )


def map_stage(
    entries: list[Entry],
    now: int,
    *,
    stage: str,
    out_stage: str,
    max_age_ms: int,
    accept: type,
    process: Callable[[list[Message]], list[Message | Exception]],
    stats: Counter[str],
    latest_live_only: bool = False,
) -> Batch:
    """The shape of a stateless stage (detector, classifier): one output per input, in one batch.

    Skip and End markers pass through unchanged; a live message past its deadline becomes a Skip; with
    ``latest_live_only`` so does every live message that a newer one of the same camera supersedes in
    this read (the newest frame is the one worth the model's time); an input ``process`` fails on goes
    to the dead letters and a Skip takes its place downstream, so nothing waits for it. ``process`` gets
    the accepted messages and returns one result per message. Outputs keep the input order.
    """
    batch = Batch()
    newest: dict[str, int] = {}
    if latest_live_only:
        for entry in entries:
            if (
                entry.message is not None
                and entry.message.mode == "live"
                and isinstance(entry.message, accept)
            ):
                cam = entry.message.camera_id
                newest[cam] = max(newest.get(cam, entry.message.seq), entry.message.seq)
    todo: list[tuple[int, Entry, Message]] = []
    # one output slot per input, filled in place, so an End never overtakes the frames before it
    slots: list[tuple[str, Message] | None] = []
    for entry in entries:
        msg = entry.message
        assert msg is not None
        out = keys.stream(out_stage, msg.camera_id)
        reason = ""
        if isinstance(msg, Skip | End):
            slots.append((out, msg))
            batch.acks.append(entry)
            continue
        if not isinstance(msg, accept):
            batch.dead.append((entry, f"{stage} cannot process a {type(msg).__name__} message"))
            continue
        if msg.mode == "live" and now - msg.captured_ms > max_age_ms:
            reason = f"older than {max_age_ms} ms"
        elif msg.mode == "live" and msg.seq < newest.get(msg.camera_id, msg.seq):
            reason = "superseded by a newer live frame"
        if reason:
            stats["dropped"] += 1
            metrics.MESSAGES.labels(stage, "dropped").inc()
            slots.append((out, skip_of(msg, stage, reason)))
            batch.acks.append(entry)
        else:
            todo.append((len(slots), entry, msg))
            slots.append(None)
    if todo:
        messages = [msg for _, _, msg in todo]
        metrics.BATCH_SIZE.labels(stage).observe(len(messages))
        try:
            results = process(messages)
        except Exception as exc:  # noqa: BLE001 -- one bad batch must not kill the worker
            log.exception("batch failed stage=%s size=%d", stage, len(messages))
            results = [exc] * len(messages)
        for (slot, entry, msg), result in zip(todo, results, strict=True):
            if isinstance(result, Exception):
                batch.dead.append((entry, f"{stage} failed: {result}"))
                result = skip_of(msg, stage, str(result))
            else:
                batch.acks.append(entry)
                stats["processed"] += 1
                metrics.MESSAGES.labels(stage, "ok").inc()
            slots[slot] = (keys.stream(out_stage, msg.camera_id), result)
    batch.outputs.extend(s for s in slots if s is not None)
    return batch
