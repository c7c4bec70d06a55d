"""The events service over Redis: per camera, tracks in ``seq`` order -> events in ``emo:events``.

:class:`EventsHandler` is the Redis-free part: a :class:`~services.events.stage.CameraEvents` per camera.
:class:`EventsWorker` reads the tracks streams in its own consumer group (``events``) and owns each camera
alone through a lease (:class:`~services.common.leased.LeasedWorker`, as the tracker does). Every commit
writes the events, the acks of the entries that caused them and the camera's state
(``keys.events_state``, which holds the seq applied up to) in one script that checks the lease. So an
event is in ``emo:events`` exactly once: a crash before the commit loses its events and its acks together
(the entries are delivered again and make the same events, with the same ids); after it, the redelivered
entries are at or below the applied seq and make none.

The sinks (webhooks, MQTT; :mod:`services.events.deliver`) read ``emo:events`` in consumer groups of their
own, so a slow or dead receiver never holds up this loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter

import redis

from services.common import keys
from services.common.leased import LeasedWorker
from services.common.schema import End, Skip, Tracks
from services.common.streams import Batch, Entry
from services.events.settings import EventsSettings
from services.events.stage import CameraEvents, EventsConfig

log = logging.getLogger(__name__)


def config_from(settings: EventsSettings) -> EventsConfig:
    return EventsConfig.model_validate(settings.model_dump(include=set(EventsConfig.model_fields)))


class EventsHandler:
    """Per-camera event state (no Redis)."""

    def __init__(self, settings: EventsSettings) -> None:
        self.settings = settings
        self.config = config_from(settings)
        self.cameras: dict[str, CameraEvents] = {}
        self.stats: Counter[str] = Counter()
        self.heard_ms: dict[str, int] = {}  # camera -> when (wall clock) its last message was handled

    def resume(self, camera_id: str, stored: list[bytes | str | None]) -> None:
        """Continue from ``[keys.events_state(cam)]``; a malformed state is logged and the camera starts
        afresh (its open tracks then start again, under their same ids)."""
        raw = stored[0]  # the second key, the history, is a sorted set that is only ever added to
        self.drop(camera_id)
        if raw is None:
            return
        try:
            self.cameras[camera_id] = CameraEvents.from_json(raw, self.config)
        except ValueError as exc:
            log.warning("bad events state camera=%s error=%r: starting afresh", camera_id, str(exc))

    def drop(self, camera_id: str) -> None:
        self.cameras.pop(camera_id, None)

    def _camera(self, camera_id: str) -> CameraEvents:
        cam = self.cameras.get(camera_id)
        if cam is None:
            cam = self.cameras[camera_id] = CameraEvents(camera_id, self.config)
        return cam

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        batch = Batch()
        changed: set[str] = set()
        for entry in entries:
            msg = entry.message
            assert msg is not None
            if not isinstance(msg, Tracks | Skip | End):
                batch.dead.append((entry, f"events cannot process a {type(msg).__name__} message"))
                continue
            events = self._camera(msg.camera_id).apply(msg)
            self.heard_ms[msg.camera_id] = now_ms
            batch.outputs += [(keys.events(msg.camera_id), e) for e in events]
            batch.acks.append(entry)
            changed.add(msg.camera_id)
            self.stats["events"] += len(events)
            if isinstance(msg, End):
                log.info("file job events done camera=%s", msg.camera_id)
        self._write(batch, changed)
        return batch

    def tick(self, now_ms: int) -> Batch:
        """End the tracks of live cameras that went quiet, and close their history buckets. Quiet means
        no message handled for ``end_after_s`` of wall-clock time: a camera whose backlog is being worked
        off is not quiet, however old its frames are."""
        batch = Batch()
        changed = set()
        quiet_ms = self.config.end_after_s * 1000
        for camera_id, cam in self.cameras.items():
            if now_ms - self.heard_ms.setdefault(camera_id, now_ms) < quiet_ms:
                continue  # (a file job's camera: expire and flush do nothing for it)
            events = cam.expire(now_ms) if cam.tracks else []
            cam.flush(now_ms)
            if events or cam.closed:
                batch.outputs += [(keys.events(camera_id), e) for e in events]
                self.stats["events"] += len(events)
                changed.add(camera_id)
        self._write(batch, changed)
        return batch

    def _write(self, batch: Batch, cameras: set[str]) -> None:
        keep_ms = round(self.settings.history_keep_h * 3_600_000)
        for camera_id in sorted(cameras):
            cam = self.cameras[camera_id]
            for start, counts in cam.take_closed():
                member = json.dumps({"t": start, "counts": counts}, separators=(",", ":"))
                batch.series.append((keys.history(camera_id), start, member, keep_ms))
            batch.writes[keys.events_state(camera_id)] = (cam.to_json().decode(), None)


class EventsWorker(LeasedWorker):
    """The events service's stream worker: one owner per camera, state and events committed together."""

    handler: EventsHandler

    def __init__(
        self,
        settings: EventsSettings,
        client: redis.Redis | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        kind, group = keys.GROUPS["events"]
        super().__init__(
            "events",
            settings,
            EventsHandler(settings),
            kind,
            group,
            lease_key=keys.events_lease,
            state_keys=lambda c: [keys.events_state(c), keys.history(c)],
            lease_ms=settings.lease_ms,
            client=client,
            stop=stop,
        )
        self.streams.maxlen = settings.events_maxlen  # its one output stream is emo:events
