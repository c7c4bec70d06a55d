r"""The stream worker: the :mod:`~services.common.lifecycle` hooks of every stream-consuming service.

:class:`Worker` discovers cameras, ``XREADGROUP``\s their input streams, hands decoded entries to a
:class:`Handler`, commits outputs and acks in one MULTI, reclaims entries of dead replicas and dead-letters
malformed ones. The loop around it (health beat, stats line, Redis backoff, SIGTERM) is
:func:`~services.common.lifecycle.run_service`'s. A service with more to do per camera (the tracker's
leases and checkpoints) subclasses it through three public hooks: :meth:`Worker.assign`,
:meth:`Worker.commit_shard` and :attr:`Worker.periodic_claim`, plus ``teardown``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import msgspec
import redis

from services.common import keys, metrics
from services.common.connect import connect
from services.common.lifecycle import Service, run_service
from services.common.schema import End, Header, Message, Skip
from services.common.settings import CommonSettings
from services.common.streams import Batch, Entry, StreamClient

log = logging.getLogger(__name__)


def redis_client(settings: CommonSettings) -> redis.Redis:
    return connect(settings)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Handler(Protocol):
    """The pure part of a stage: entries in, a :class:`Batch` (outputs, acks, writes) out; no Redis."""

    stats: Counter[str]

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        """Process decoded entries; everything returned in ``acks`` is acked with the outputs."""
        ...

    def tick(self, now_ms: int) -> Batch:
        """Called once per loop even when nothing was read (timeouts, buffered work)."""
        ...


class Worker(Service):
    """A stream-consuming service's hooks (see the module docstring).

    A worker restarted under the same ``settings.instance`` first reads its own pending entries (the
    consumer's PEL, from ``0``) of every stream, then new ones (``>``): what it had read but not committed
    when it died is processed again at once, not after ``claim_idle_ms``. Entries of a consumer that never
    comes back are taken over with XAUTOCLAIM after ``claim_idle_ms``.
    """

    #: read the own PEL before new entries (the tracker takes its pending entries over per camera instead)
    recover_own_pending = True
    #: XAUTOCLAIM entries idle for ``claim_idle_ms`` every ``claim_idle_ms / 2`` (the tracker does not:
    #: while it holds a camera's lease, every pending entry of that camera is its own)
    periodic_claim = True

    def __init__(
        self,
        service: str,
        settings: CommonSettings,
        handler: Handler,
        input_kind: str,
        group: str,
        client: redis.Redis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.handler = handler
        self.input_kind = input_kind
        self.redis = client or redis_client(settings)
        self.streams = StreamClient(
            self.redis, group, settings.instance, settings.stream_maxlen, self.recover_own_pending
        )
        self.stop = stop or threading.Event()
        self.counts: Counter[str] = Counter()
        self.cameras: list[str] = []  # every registered camera
        self.assigned: list[str] = []  # the cameras this replica reads (:meth:`assign`)
        self._next_refresh = self._next_claim = 0.0

    def run(self, burst: bool = False) -> None:
        """Loop until :attr:`stop` is set (or, with ``burst``, until a read returns nothing)."""
        run_service(self.service, self, self.settings, self.redis, self.stop, burst)

    # -- hooks a subclass may override ---------------------------------------------------------------------
    def assign(self, cameras: list[str]) -> list[str]:
        """The cameras this replica reads, of the registered ``cameras`` (called every second): all."""
        return cameras

    def commit(self, batch: Batch) -> None:
        """Write ``batch`` (outputs, writes, dead letters, acks) in one MULTI per shard
        (:meth:`commit_shard`; one MULTI on a single Redis)."""
        for part in batch.by_shard():
            if part:
                self.commit_shard(part)

    def commit_shard(self, batch: Batch) -> None:
        """Write one shard's part of a batch in one MULTI, then count it, fenced: what answers an entry
        this replica no longer holds (another one claimed it while this one was cut off) is dropped
        (:meth:`fence`)."""
        batch = self.fence(batch)
        self.streams.commit(batch)
        self.account(batch)

    def fence(self, batch: Batch) -> Batch:
        """``batch`` less the acks, dead letters and outputs of entries that are no longer this consumer's
        pending entries: their new owner answers them, so these late results would be duplicates.
        Counted in ``fenced``. Outputs are matched to their input by camera and seq (one output per input,
        as :func:`map_stage` makes them). Between this check and the MULTI an entry can still be claimed
        (it would have to have been idle ``claim_idle_ms`` by then); the tracker drops such a repeat seq.

        An entry read less than ``claim_idle_ms / 2`` ago is not checked (a round trip saved per batch):
        other replicas take entries over only with XAUTOCLAIM at ``claim_idle_ms`` of idle time, which
        it cannot have yet. Leased workers (``periodic_claim`` off) check every entry: a new owner of
        the camera takes its pending entries at once."""
        now = time.monotonic()
        young_s = self.settings.claim_idle_ms / 2000 if self.periodic_claim else 0.0
        entries = [e for e in (*batch.acks, *(e for e, _ in batch.dead)) if now - e.read_at >= young_s]
        if not entries:
            return batch
        held = self.streams.held(entries)
        lost = [e for e in entries if (e.stream, e.entry_id) not in held]
        if not lost:
            return batch
        gone = {(e.message.camera_id, e.message.seq) for e in lost if e.message is not None}
        ids = {(e.stream, e.entry_id) for e in lost}
        log.warning("fenced late results entries=%d (claimed by another replica)", len(lost))
        self.counts["fenced"] += len(lost)
        metrics.MESSAGES.labels(self.service, "fenced").inc(len(lost))
        return dataclasses.replace(
            batch,
            outputs=[(s, m) for s, m in batch.outputs if (m.camera_id, m.seq) not in gone],
            acks=[e for e in batch.acks if (e.stream, e.entry_id) not in ids],
            dead=[(e, r) for e, r in batch.dead if (e.stream, e.entry_id) not in ids],
        )

    # -- the lifecycle hooks ---------------------------------------------------------------------------------
    def step(self) -> bool:
        t = time.monotonic()
        if t >= self._next_refresh or self.streams.groups_lost:
            self.streams.groups_lost = False
            self._refresh_cameras()
            self._next_refresh = t + 1.0
        if self.periodic_claim and t >= self._next_claim:
            self._claim()
            self._next_claim = t + self.settings.claim_idle_ms / 2000
        streams = self.input_streams()
        entries = self.streams.read(streams, self.settings.read_count, self.settings.max_wait_ms)
        if not streams:
            self.stop.wait(0.2)
        self.process(entries)
        self.commit(self.handler.tick(now_ms()))
        return bool(entries)

    def on_redis_lost(self) -> None:
        self.streams.forget_all()

    def stats(self) -> dict[str, int | float | str]:
        return {"cameras": len(self.assigned), **self.counts, **self.handler.stats}

    # -- the loop's parts ------------------------------------------------------------------------------------
    def input_streams(self) -> list[str]:
        return [keys.stream(self.input_kind, c) for c in self.assigned]

    def process(self, entries: list[Entry]) -> None:
        """Dead-letter the malformed entries, hand the rest to the handler, commit what it returns."""
        if not entries:
            return
        bad = [(e, e.error) for e in entries if e.message is None]
        good = [e for e in entries if e.message is not None]
        if bad:
            for entry, reason in bad:
                log.warning("malformed entry stream=%s id=%s reason=%r", entry.stream, entry.entry_id, reason)
            self.commit(Batch(dead=bad))
        if good:
            started = time.perf_counter()
            batch = self.handler.handle(good, now_ms())
            # time in the stage's own work (models included), not in Redis round trips: `emostream bench`
            # reads it from the health key to say where the time goes
            self.counts["busy_ms"] += round((time.perf_counter() - started) * 1000)
            self.commit(batch)

    def account(self, batch: Batch) -> None:
        """Counters and latency metrics of a committed batch."""
        self.counts["acked"] += len(batch.acks)
        self.counts["dead"] += len(batch.dead)
        self.counts["out"] += len(batch.outputs)
        if batch.dead:
            metrics.MESSAGES.labels(self.service, "dead").inc(len(batch.dead))
        t = now_ms()
        for _, message in batch.outputs:
            metrics.LATENCY_S.labels(self.service).observe(max(0, t - message.captured_ms) / 1000)

    def _refresh_cameras(self) -> None:
        members = sorted(m.decode() if isinstance(m, bytes) else m for m in self.redis.smembers(keys.CAMERAS))
        if members != self.cameras:
            log.info("cameras changed cameras=%s", ",".join(members))
            self.cameras = members
            metrics.CAMERAS.labels(self.service).set(len(members))
        self.assigned = self.assign(members)

    def _claim(self) -> None:
        again, dead = self.streams.claim(
            self.input_streams(), self.settings.claim_idle_ms, self.settings.max_deliveries
        )
        if again or dead:
            log.info("reclaimed entries=%d dead=%d", len(again), len(dead))
            self.counts["reclaimed"] += len(again)
            metrics.MESSAGES.labels(self.service, "reclaimed").inc(len(again))
            self.commit(Batch(dead=dead))
            self.process(again)


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
    service: str,
    output_kind: str,
    max_age_ms: int,
    accept: type,
    process: Callable[[list[Message]], list[Message | Exception]],
    stats: Counter[str],
    latest_live_only: bool = False,
) -> Batch:
    """The shape of a stateless service (detector, classifier): one output per input, in one batch.

    Skip and End markers pass through unchanged; a live message past its deadline becomes a Skip; with
    ``latest_live_only`` so does every live message that a newer one of the same camera supersedes in
    this read (the newest frame is the one worth the model's time); an input ``process`` fails on goes
    to the dead letters and a Skip takes its place downstream, so nothing waits for it. ``process`` gets
    the accepted messages and returns one result per message. Outputs keep the input order.

    Long because: the handler it returns closes over the batch, the model call and the dead-letter rules;
    split, they would pass the same six names around.
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
        out = keys.stream(output_kind, msg.camera_id)
        reason = ""
        if isinstance(msg, Skip | End):
            slots.append((out, msg))
            batch.acks.append(entry)
            continue
        if not isinstance(msg, accept):
            batch.dead.append((entry, f"{service} cannot process a {type(msg).__name__} message"))
            continue
        if msg.mode == "live" and now - msg.captured_ms > max_age_ms:
            reason = f"older than {max_age_ms} ms"
        elif msg.mode == "live" and msg.seq < newest.get(msg.camera_id, msg.seq):
            reason = "superseded by a newer live frame"
        if reason:
            stats["dropped"] += 1
            metrics.MESSAGES.labels(service, "dropped").inc()
            slots.append((out, skip_of(msg, service, reason)))
            batch.acks.append(entry)
        else:
            todo.append((len(slots), entry, msg))
            slots.append(None)
    if todo:
        messages = [msg for _, _, msg in todo]
        metrics.BATCH_SIZE.labels(service).observe(len(messages))
        stats["passes"] += 1
        try:
            results = process(messages)
        except Exception as exc:  # noqa: BLE001 -- one bad batch must not kill the worker
            log.exception("batch failed stage=%s size=%d", service, len(messages))
            results = [exc] * len(messages)
        done = now_ms()
        for (slot, entry, msg), result in zip(todo, results, strict=True):
            if isinstance(result, Header):  # when this stage read it and answered it: the latency breakdown
                result = msgspec.structs.replace(
                    result, hops={**msg.hops, f"{service}_in": now, f"{service}_out": done}
                )
            if isinstance(result, Exception):
                batch.dead.append((entry, f"{service} failed: {result}"))
                result = skip_of(msg, service, str(result))
            else:
                batch.acks.append(entry)
                stats["processed"] += 1
                metrics.MESSAGES.labels(service, "ok").inc()
            slots[slot] = (keys.stream(output_kind, msg.camera_id), result)
    batch.outputs.extend(s for s in slots if s is not None)
    return batch
