"""A stream worker that owns each camera it reads, alone, through a lease: the tracker and events services.

All replicas share one consumer group, but a replica reads (and reclaims from) only the streams of the
cameras whose lease it holds (``SET NX PX``, renewed every second by its owner, released on a clean stop).
Entries of other cameras are never delivered to it, so it cannot ack or apply them: they wait for their
owner. One owner per camera at a time, so per-camera state (a tracker, the events of its tracks) stays
in one process.

Each commit writes the outputs, the acks and the camera's state keys in one script that first checks the
leases (:data:`_CHECKED`, atomic like a MULTI, one round trip where WATCH, GET and MULTI took three), so a
replica that lost its lease can neither publish nor overwrite its successor's state. A
replica that acquires a camera loads the camera's state keys into its handler (:meth:`OwnedHandler.resume`),
then claims every pending entry of the camera's stream at once (the previous owner is gone: its lease
lapsed or was released); entries already applied are acked as late duplicates. There is no periodic
reclaim: while a replica holds the lease, every pending entry is its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import redis

from services.common import keys
from services.common.settings import CommonSettings
from services.common.streams import Arg, Batch
from services.common.worker import Handler, Worker

log = logging.getLogger(__name__)

_OWNED = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RENEW = _OWNED + "redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _OWNED + "redis.call('del', KEYS[1]) end return 0"


#: KEYS: the leases of the cameras in the commit (they route it: a commit's keys share one cluster slot).
#: ARGV: the owner, then each command as its argument count and its arguments. The commands' own keys are
#: not declared: Redis checks declared keys against a service's ACL for reading and writing both, and a
#: service may only write some of them (the tracker, ``tracks:*``); each command is checked as it runs.
#: Returns the (1-based) leases not held by the owner, having run no command, or {} having run them all.
_CHECKED = """
local lost = {}
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) ~= ARGV[1] then lost[#lost + 1] = i end
end
if #lost > 0 then return lost end
local at = 2
while at <= #ARGV do
  local n = tonumber(ARGV[at])
  redis.call(unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return lost
"""


class OwnedHandler(Handler, Protocol):
    """A handler with per-camera state that a lease moves between replicas."""

    def resume(self, camera_id: str, stored: list[bytes | str | None]) -> None:
        """Continue ``camera_id`` from the values of its state keys, in order (None where one is missing)."""
        ...

    def drop(self, camera_id: str) -> None:
        """Forget the camera (its lease was lost or released)."""
        ...


class LeasedWorker(Worker):
    """The stream worker with per-camera leases (see the module docstring), through the worker's hooks:
    :meth:`assign` renews and takes leases, :meth:`commit` writes where it holds them, ``teardown``
    releases them. ``lease_key(camera)`` names a camera's lease; ``state_keys(camera)`` the keys its
    handler's state lives in (loaded at take-over, written by the handler's batches)."""

    handler: OwnedHandler
    recover_own_pending = False  # _take_over claims a camera's pending entries when it acquires the lease
    # No periodic XAUTOCLAIM: a camera's pending entries are either this replica's own (possibly waiting in
    # a reorder buffer longer than ``claim_idle_ms``: reclaiming them would count deliveries up to the dead
    # letters) or a previous owner's, which _take_over claims all at once when the lease changes hands.
    periodic_claim = False

    def __init__(
        self,
        service: str,
        settings: CommonSettings,
        handler: OwnedHandler,
        input_kind: str,
        group: str,
        *,
        lease_key: Callable[[str], str],
        state_keys: Callable[[str], list[str]],
        lease_ms: int,
        max_cameras: int = 0,
        client: redis.Redis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(service, settings, handler, input_kind, group, client=client, stop=stop)
        self.lease_key = lease_key
        self.state_keys = state_keys
        self.lease_ms = lease_ms
        self.max_cameras = max_cameras
        self.owned: list[str] = []
        self._renew = self.redis.register_script(_RENEW)
        self._release_lease = self.redis.register_script(_RELEASE)
        self._checked = self.redis.register_script(_CHECKED)

    def teardown(self) -> None:
        for camera_id in self.owned:
            try:
                self._release_lease(keys=[self.lease_key(camera_id)], args=[self.settings.instance])
            except redis.RedisError:
                break
        self.owned = []

    def assign(self, cameras: list[str]) -> list[str]:
        """Renew the leases held, drop the cameras whose lease was lost, take free leases (up to
        ``max_cameras``); the cameras owned now."""
        me, ttl = self.settings.instance, self.lease_ms
        kept: list[str] = []
        for camera_id in self.owned:
            if camera_id in cameras and self._renew(keys=[self.lease_key(camera_id)], args=[me, ttl]):
                kept.append(camera_id)
                continue
            if camera_id not in cameras:
                self._release_lease(keys=[self.lease_key(camera_id)], args=[me])
            else:
                log.warning("lease lost camera=%s", camera_id)
            self.handler.drop(camera_id)
        self.owned = kept
        limit = self.max_cameras or len(cameras)
        for camera_id in cameras:
            if len(self.owned) >= limit:
                break
            if camera_id in self.owned:
                continue
            # a lease already in this instance's name was held before a restart: take it back at once
            if self.redis.set(self.lease_key(camera_id), me, nx=True, px=ttl) or self._renew(
                keys=[self.lease_key(camera_id)], args=[me, ttl]
            ):
                self._take_over(camera_id)
        return list(self.owned)

    def _take_over(self, camera_id: str) -> None:
        """Load the camera's state keys, then claim every entry its last owner left pending."""
        self.handler.resume(camera_id, self.redis.mget(self.state_keys(camera_id)))
        self.owned.append(camera_id)
        log.info("camera acquired service=%s camera=%s", self.service, camera_id)
        stream = keys.stream(self.input_kind, camera_id)
        self.streams.ensure_group(stream)
        cursor = "0-0"
        while True:
            reply = self.redis.xautoclaim(
                stream, self.streams.group, self.streams.consumer, 0, cursor, count=256
            )
            cursor = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
            entries = [self.streams.to_entry(stream, eid, f) for eid, f in reply[1] if f is not None]
            gone = [eid for eid, f in reply[1] if f is None]
            if gone:
                self.redis.xack(stream, self.streams.group, *gone)
            if entries:
                self.counts["taken_over"] += len(entries)
                self.process(entries)
            if cursor == "0-0":
                break

    def commit_shard(self, batch: Batch) -> None:
        """One shard's part of a batch, written only if this replica still holds the leases of its cameras,
        in one round trip (:data:`_CHECKED`): a camera whose lease is no longer this replica's is dropped
        from it (its entries stay pending for the new owner) and the rest is written."""
        if not batch:
            return
        cameras = sorted(
            {m.camera_id for _, m in batch.outputs}
            | {e.message.camera_id for e in batch.acks if e.message is not None}
            | {
                c
                for c in self.owned
                if set(self.state_keys(c))
                & (batch.writes.keys() | set(batch.delete_keys) | {s[0] for s in batch.series})
            }
        )
        if not cameras:  # dead letters of malformed entries only: no camera's state in it
            self.streams.commit(batch)
            self.account(batch)
            return
        argv: list[Arg] = [self.settings.instance]
        for args in self.streams.commands(batch):
            argv += [len(args), *args]
        lost_at = self._checked(keys=[self.lease_key(c) for c in cameras], args=argv)
        if not lost_at:
            self.account(batch)
            return
        lost = {cameras[int(i) - 1] for i in lost_at}
        log.warning("lease lost before commit cameras=%s", ",".join(sorted(lost)))
        for camera_id in lost:
            self.handler.drop(camera_id)
        self.owned = [c for c in self.owned if c not in lost]
        self.commit_shard(self._without(batch, lost))

    def _without(self, batch: Batch, cameras: set[str]) -> Batch:
        """``batch`` without what belongs to ``cameras`` (their leases are no longer this replica's)."""
        gone = {k for c in cameras for k in self.state_keys(c)}
        return Batch(
            outputs=[(s, m) for s, m in batch.outputs if m.camera_id not in cameras],
            acks=[e for e in batch.acks if keys.camera_of_stream(e.stream) not in cameras],
            dead=batch.dead,
            delete_keys=[k for k in batch.delete_keys if k not in gone],
            writes={k: v for k, v in batch.writes.items() if k not in gone},
            series=[s for s in batch.series if s[0] not in gone],
        )
