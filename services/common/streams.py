"""The stream client: consumer groups over many camera streams, output + ack in one MULTI."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from redis.commands import CoreCommands

from services.common import codec, keys
from services.common.schema import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One entry read from a stream. ``message`` is None when it could not be decoded (``error`` says why).

    ``read_at``: this process's ``time.monotonic()`` just before the request that delivered it (0 when
    unknown). Redis counts an entry's idle time from its delivery, so ``time.monotonic() - read_at``
    bounds it from above (see :meth:`services.common.worker.Worker.fence`)."""

    stream: str
    entry_id: str
    message: Message | None
    error: str = ""
    fields: dict[bytes, bytes] = field(default_factory=dict, repr=False)
    read_at: float = 0.0


@dataclass
class Batch:
    """What one MULTI writes: outputs, keys to set and to delete, dead letters, and the entries to ack.

    ``writes`` maps a key to ``(value, ttl_ms)`` (``ttl_ms`` None: no TTL): state that must change with the
    acks, such as the tracker's checkpoints. ``series`` appends ``(key, time_ms, member, keep_ms)`` to a
    time-indexed sorted set (score: the time) that keeps ``keep_ms`` of history: members older than
    ``time_ms - keep_ms`` go in the same MULTI, and the key expires ``keep_ms`` after its last write."""

    outputs: list[tuple[str, Message]] = field(default_factory=list)
    acks: list[Entry] = field(default_factory=list)
    dead: list[tuple[Entry, str]] = field(default_factory=list)
    delete_keys: list[str] = field(default_factory=list)
    writes: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    series: list[tuple[str, int, str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.outputs or self.acks or self.dead or self.delete_keys or self.writes or self.series)

    def by_shard(self) -> list[Batch]:
        """The batch split into one per shard (``keys.tag_of``), each for one MULTI in one cluster slot;
        on a single Redis (no tags) the batch itself. An untagged key gets a batch of its own."""
        if not keys.sharded():
            return [self]
        parts: dict[str, Batch] = {}

        def part(key: str) -> Batch:
            return parts.setdefault(keys.tag_of(key) or key, Batch())

        for stream, message in self.outputs:
            part(stream).outputs.append((stream, message))
        for entry in self.acks:
            part(entry.stream).acks.append(entry)
        for entry, reason in self.dead:
            part(entry.stream).dead.append((entry, reason))
        for key in self.delete_keys:
            part(key).delete_keys.append(key)
        for key, value in self.writes.items():
            part(key).writes[key] = value
        for item in self.series:
            part(item[0]).series.append(item)
        return list(parts.values())


def by_shard(names: Sequence[str]) -> list[list[str]]:
    """``names`` grouped by the shard hash tag they carry, in first-seen order (one group when untagged)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(keys.tag_of(name), []).append(name)
    return list(groups.values())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StreamClient:
    """Reads a consumer group over many streams and writes results atomically with their acks."""

    def __init__(
        self, client: redis.Redis, group: str, consumer: str, maxlen: int, recover_own_pending: bool = True
    ) -> None:
        """``recover_own_pending``: :meth:`read` returns this consumer's pending entries of a stream (read
        before a crash, never acked) before any new entry of it."""
        self.redis = client
        self.group = group
        self.consumer = consumer
        self.maxlen = maxlen
        self.recover_own_pending = recover_own_pending
        self._grouped: set[str] = set()
        self._recovered: set[str] = set()  # streams whose own pending entries were all read again
        self._trimmed: set[str] = set()  # streams whose last read met pending entries trimmed away
        self._turn = 0  # the shard whose read blocks next when no shard had anything
        #: a read met a deleted stream: refresh the cameras before the next read, or MKSTREAM would bring
        #: a removed camera's stream back, empty, for good
        self.groups_lost = False

    def ensure_group(self, stream: str) -> None:
        """Create the group at the start of the stream (MKSTREAM) unless it exists.

        Starting at ``0`` (not ``$``) means a file job loses no frame published before a worker saw the
        camera; live frames that are too old by then are dropped by their deadline instead.
        """
        if stream in self._grouped:
            return
        try:
            self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._grouped.add(stream)

    def forget_all(self) -> None:
        """After a reconnect the server may be new: recreate groups lazily, look for own pending again."""
        self._grouped.clear()
        self._recovered.clear()

    def read(self, streams: Sequence[str], count: int, block_ms: int) -> list[Entry]:
        """XREADGROUP over all ``streams`` (up to ``count`` per stream): this consumer's own pending
        entries of a stream first (from ``0``, see ``recover_own_pending``), then new ones (``>``).

        One XREADGROUP per shard (``keys.tag_of``; one in all on a single Redis): a multi-stream read
        must stay in one cluster slot. With several shards each is read without blocking, and only when
        none had anything does one of them (in turn) block for ``block_ms``."""
        if not streams:
            return []
        for name in streams:
            self.ensure_group(name)
        groups = by_shard(streams)
        if len(groups) == 1:
            return self._read(streams, count, block_ms)
        entries = [e for group in groups for e in self._read(group, count, None)]
        if entries:
            return entries
        self._turn = (self._turn + 1) % len(groups)
        return self._read(groups[self._turn], count, block_ms)

    def _read(self, streams: Sequence[str], count: int, block_ms: int | None) -> list[Entry]:
        recovering = [s for s in streams if self.recover_own_pending and s not in self._recovered]
        if recovering:
            entries = self._xreadgroup({s: "0" if s in recovering else ">" for s in streams}, count, None)
            found = {e.stream for e in entries} | self._trimmed
            for name in recovering:
                if name in found:
                    log.info("recovering own pending entries stream=%s", name)
                else:
                    self._recovered.add(name)
            if entries or self._trimmed:
                return entries
        return self._xreadgroup({s: ">" for s in streams}, count, block_ms)

    def _xreadgroup(self, ids: dict[str, str], count: int, block_ms: int | None) -> list[Entry]:
        self._trimmed = set()
        sent = time.monotonic()
        try:
            reply = self.redis.xreadgroup(
                self.group,
                self.consumer,
                ids,  # type: ignore[arg-type]  # redis-py wants Mapping[KeyT, StreamIdT]; a dict[str, str] is that, but Mapping's key is invariant
                count=count,
                block=block_ms,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                raise
            self._grouped.clear()  # a stream was deleted (camera removed, job cleaned): recreate lazily
            self.groups_lost = True  # ...once the caller has looked at the cameras again (see Worker.step)
            return []
        replies = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]], reply or [])
        for stream, items in replies:
            gone = [eid for eid, f in items if f is None]
            if gone:  # trimmed away while pending: nothing left to process
                self._trimmed.add(_text(stream))
                self.redis.xack(_text(stream), self.group, *gone)
        return [
            self.to_entry(_text(s), eid, f, sent) for s, items in replies for eid, f in items if f is not None
        ]

    def claim(
        self, streams: Iterable[str], min_idle_ms: int, max_deliveries: int, count: int = 32
    ) -> tuple[list[Entry], list[tuple[Entry, str]]]:
        """XAUTOCLAIM entries idle for ``min_idle_ms`` from dead or stuck consumers.

        Returns (entries to process again, entries delivered too often, with the reason).
        """
        again: list[Entry] = []
        dead: list[tuple[Entry, str]] = []
        for stream in streams:
            if stream not in self._grouped:
                continue
            sent = time.monotonic()
            try:
                reply = self.redis.xautoclaim(
                    stream, self.group, self.consumer, min_idle_ms, "0-0", count=count
                )
            except redis.ResponseError:
                continue
            for eid, fields in reply[1]:
                if fields is None:  # trimmed away while pending: nothing left to process
                    self.redis.xack(stream, self.group, eid)
                    continue
                entry = self.to_entry(stream, eid, fields, sent)
                info = self.redis.xpending_range(stream, self.group, min=eid, max=eid, count=1)
                deliveries = int(info[0]["times_delivered"]) if info else 1
                if deliveries > max_deliveries:
                    dead.append((entry, f"delivered {deliveries} times (max {max_deliveries})"))
                else:
                    again.append(entry)
        return again, dead

    def held(self, entries: Sequence[Entry]) -> set[tuple[str, str]]:
        """The ``(stream, entry_id)`` of ``entries`` still pending for this consumer, in one round trip.

        An entry this consumer read is no longer its own once another replica claimed it (this one was
        cut off from Redis, or stalled, past ``claim_idle_ms``) or acked it."""
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            pipe.xpending_range(
                entry.stream,
                self.group,
                min=entry.entry_id,
                max=entry.entry_id,
                count=1,
                consumername=self.consumer,
            )
        return {
            (entry.stream, entry.entry_id)
            for entry, pending in zip(entries, pipe.execute(), strict=True)
            if pending
        }

    def to_entry(
        self, stream: str, entry_id: bytes | str, fields: dict[bytes, bytes], read_at: float = 0.0
    ) -> Entry:
        eid = _text(entry_id)
        try:
            return Entry(stream, eid, codec.decode(fields), fields=fields, read_at=read_at)
        except codec.SchemaError as exc:
            return Entry(stream, eid, None, error=str(exc), fields=fields, read_at=read_at)

    def commit(self, batch: Batch) -> None:
        """Write outputs, dead letters and deletions, and ack the inputs, in one MULTI/EXEC (per shard)."""
        for part in batch.by_shard():
            if part:
                pipe = self.redis.pipeline(transaction=True)
                self.queue(pipe, part)
                pipe.execute()

    def commands(self, batch: Batch) -> list[tuple[Arg, ...]]:
        """The commands :meth:`queue` sends for ``batch``, each as its arguments (name first), in order:
        for a script that runs them after a check of its own (``services.common.leased``)."""
        recorder = _Recorder()
        self.queue(cast(redis.client.Pipeline, recorder), batch)  # the same methods, recorded
        return recorder.commands

    def queue(self, pipe: redis.client.Pipeline, batch: Batch) -> None:
        """Queue the writes of :meth:`commit` on ``pipe`` (for callers that add their own to the MULTI)."""
        for stream, message in batch.outputs:
            pipe.xadd(stream, codec.encode(message), maxlen=self.maxlen, approximate=True)
        for entry, reason in batch.dead:
            # the entry's own fields first, so they can never overwrite the reason or origin
            dead_fields: dict[str, bytes | str] = {
                k.decode(errors="backslashreplace") if isinstance(k, bytes) else k: v
                for k, v in entry.fields.items()
            }
            dead_fields.update(
                {"stream": entry.stream, "id": entry.entry_id, "reason": reason, "group": self.group}
            )
            pipe.xadd(keys.dead_of(entry.stream), dead_fields, maxlen=10_000, approximate=True)  # type: ignore[arg-type]  # redis-py's fields Mapping is invariant in its key type
        for key, (value, ttl_ms) in batch.writes.items():
            pipe.set(key, value, px=ttl_ms)
        for key, time_ms, member, keep_ms in batch.series:
            pipe.zadd(key, {member: time_ms})
            pipe.zremrangebyscore(key, "-inf", f"({time_ms - keep_ms}")
            pipe.pexpire(key, keep_ms)
        if batch.delete_keys:
            pipe.delete(*batch.delete_keys)
        by_stream: dict[str, list[str]] = {}
        for entry in [*batch.acks, *(e for e, _ in batch.dead)]:
            by_stream.setdefault(entry.stream, []).append(entry.entry_id)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self.group, *ids)


Arg = bytes | str | int | float


class _Recorder(CoreCommands):
    """redis-py's commands, written down instead of sent: each call appends its arguments."""

    _event_dispatcher: Any = None  # what redis-py's command mixin declares for clients that send

    def __init__(self) -> None:
        self.commands: list[tuple[Arg, ...]] = []

    def execute_command(self, *args: Arg, **options: object) -> _Recorder:
        self.commands.append(args)
        return self


def has_group(client: redis.Redis, stream: str, group: str) -> bool:
    """Whether ``stream`` exists and has the consumer group ``group``."""
    try:
        return any(_text(info["name"]) == group for info in client.xinfo_groups(stream))
    except redis.ResponseError:  # no such stream
        return False


def backlog(client: redis.Redis, stream: str, group: str, limit: int) -> int:
    """Entries of ``stream`` the group has not finished: pending plus not yet delivered (capped at ``limit``).

    One round trip where XINFO GROUPS knows the group's ``lag`` (Redis 7); two on Redis 6.2, which has no
    ``lag``, and where Redis cannot tell it (entries deleted from the middle of the stream).
    """
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0
    for info in groups:
        if _text(info["name"]) == group:
            if info.get("lag") is not None:
                return int(info["pending"]) + min(int(info["lag"]), limit)
            last = _text(info["last-delivered-id"])
            undelivered = client.xrange(stream, min=f"({last}", max="+", count=limit)
            return int(info["pending"]) + len(cast(list[object], undelivered))
    return int(client.xlen(stream))  # no consumer yet: everything waits
