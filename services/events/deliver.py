"""Delivery of ``emo:events`` to the outside: webhooks and MQTT.

Each sink reads ``emo:events`` in a consumer group of its own (``sink:webhook:<hash of the URL>``,
``sink:mqtt:<host>:<port>``) in a thread of its own, so a slow or dead receiver holds up only its own
sink, never the pipeline or the other sinks. An event is acked once its sink took it; a failed attempt is
retried after ``backoff_s``, doubling, up to ``attempts`` times, then the event goes to
``emo:events:dead`` with the sink and the reason (and is acked, so the sink moves on). A sink restarted
under the same instance name first re-sends what it had read but not acked (at least once); every
payload carries its ``event_id``, the same for the same event, so a receiver drops the rare duplicate of a
crash by id.

The webhook body is the event as JSON; its headers: ``X-Emostream-Id`` (the event id),
``X-Emostream-Event`` (the kind), ``X-Emostream-Timestamp`` (unix seconds) and, with a secret,
``X-Emostream-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``. A 2xx answer is success; a
4xx other than 408 and 429 is final (the receiver refuses the event: no retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import Counter
from typing import Protocol, cast
from urllib.parse import urlsplit

import msgspec
import redis

from services.common import codec, keys
from services.common.schema import Event
from services.events.settings import EventsSettings

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per POST: failures are logged here


class Refused(Exception):
    """The receiver refused the event for good (retrying would not help)."""


class Sink(Protocol):
    name: str  # also the consumer group, after "sink:"

    def send(self, event: Event, body: bytes) -> None:
        """Deliver one event; raises :class:`Refused` when retrying cannot help, any other error to retry."""
        ...

    def close(self) -> None: ...


def payload(event: Event) -> bytes:
    """The JSON every sink sends: the event's fields, plus ``"type": "emostream.event"`` and ``"version"``."""
    return msgspec.json.encode({"type": "emostream.event", "version": 1, **msgspec.to_builtins(event)})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Emostream-Signature`` value: receivers recompute it to check the sender and the body."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSink:
    def __init__(self, url: str, secret: str, timeout_s: float) -> None:
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a webhook URL must be http(s)://host/..., got {url!r}")
        self.url = url
        self.secret = secret
        self.name = "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:10]
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, event: Event, body: bytes) -> None:
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "emostream-events/1",
            "X-Emostream-Id": event.event_id,
            "X-Emostream-Event": event.kind,
            "X-Emostream-Timestamp": ts,
        }
        if self.secret:
            headers["X-Emostream-Signature"] = signature(self.secret, ts, body)
        answer = self.client.post(self.url, content=body, headers=headers)
        if 200 <= answer.status_code < 300:
            return
        reason = f"HTTP {answer.status_code} from {self.url}"
        if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
            raise Refused(reason)
        raise OSError(reason)

    def close(self) -> None:
        self.client.close()


class MqttSink:
    """Publishes each event (QoS 1) to ``<prefix>/<camera>/events`` and keeps the retained
    ``<prefix>/<camera>/state`` (the camera's visible tracks and their labels) up to date; with
    ``discovery``, a retained Home Assistant discovery config per camera (a sensor of the face count)."""

    def __init__(self, url: str, prefix: str, discovery: bool, timeout_s: float = 5.0) -> None:
        import paho.mqtt.client as mqtt

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"an MQTT URL must be mqtt://[user:password@]host[:port], got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 1883
        self.prefix = prefix.strip("/")
        self.discovery = discovery
        self.timeout_s = timeout_s
        self.name = f"mqtt:{self.host}:{self.port}"
        self.state: dict[str, dict[int, dict[str, object]]] = {}
        self.announced: set[str] = set()
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"emostream-events-{self.port}")
        if parts.username:
            self.client.username_pw_set(parts.username, parts.password)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def _publish(self, topic: str, body: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, body, qos=1, retain=retain)
        info.wait_for_publish(self.timeout_s)
        if not info.is_published():
            raise OSError(f"MQTT broker {self.host}:{self.port} did not take {topic} (rc {info.rc})")

    def send(self, event: Event, body: bytes) -> None:
        cam = event.camera_id
        base = f"{self.prefix}/{cam}"
        if self.discovery and cam not in self.announced:
            self._publish(f"homeassistant/sensor/emostream_{cam}/config", _discovery(cam, base), retain=True)
            self.announced.add(cam)
        self._publish(f"{base}/events", body)
        tracks = self.state.setdefault(cam, {})
        if event.kind == "track_ended":
            tracks.pop(event.track_id, None)
        else:
            tracks[event.track_id] = {
                "track_id": event.track_id,
                "label": event.label,
                "confidence": event.confidence,
                "box_xyxy": list(event.box_xyxy),
            }
        state = {
            "camera_id": cam,
            "faces": len(tracks),
            "tracks": [tracks[t] for t in sorted(tracks)],
            "updated_ms": event.captured_ms,
        }
        self._publish(f"{base}/state", json.dumps(state).encode(), retain=True)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _discovery(camera_id: str, base: str) -> bytes:
    return json.dumps(
        {
            "name": f"emostream {camera_id} faces",
            "unique_id": f"emostream_{camera_id}_faces",
            "state_topic": f"{base}/state",
            "value_template": "{{ value_json.faces }}",
            "json_attributes_topic": f"{base}/state",
        }
    ).encode()


class Deliverer:
    """One sink's loop over ``emo:events`` (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        sink: Sink,
        instance: str,
        attempts: int,
        backoff_s: float,
        stop: threading.Event,
        stats: Counter[str] | None = None,
    ) -> None:
        self.redis = client
        self.sink = sink
        self.group = f"sink:{sink.name}"
        self.kind = sink.name.split(":")[0]  # webhook, mqtt: the prefix of its counters
        self.consumer = instance
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.stop = stop
        self.stats = stats if stats is not None else Counter()
        self.streams = keys.events_streams()  # one per shard on a Redis Cluster
        self._own_first = set(self.streams)  # streams whose own pending entries may not all be read yet
        self._turn = 0

    def ensure_group(self) -> None:
        """Create the sink's group at the stream's end: a new sink gets the events from now on."""
        for stream in self.streams:
            try:
                self.redis.xgroup_create(stream, self.group, id="$", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run(self) -> None:
        self.ensure_group()
        while not self.stop.is_set():
            try:
                self.step()
            except redis.RedisError as exc:
                log.warning("events sink %s: redis error %r; retrying", self.sink.name, str(exc))
                self.stop.wait(1.0)
        self.sink.close()

    def step(self) -> int:
        """Read and deliver one batch of each events stream; the number of entries handled. With one
        stream the read blocks; with several (a cluster's shards) only when none had anything, in turn."""
        handled = sum(self._step(stream, None) for stream in self.streams) if len(self.streams) > 1 else 0
        if handled == 0:
            self._turn = (self._turn + 1) % len(self.streams)
            handled = self._step(self.streams[self._turn], 500)
        return handled

    def _step(self, stream: str, block_ms: int | None) -> int:
        start = "0" if stream in self._own_first else ">"
        reply = self.redis.xreadgroup(self.group, self.consumer, {stream: start}, count=32, block=block_ms)
        replies = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]], reply or [])
        entries = [(eid, f) for _, items in replies for eid, f in items]
        if start == "0" and not entries:
            self._own_first.discard(stream)  # the own pending entries are done: new ones from now on
            return 0
        for eid, fields in entries:
            if self.stop.is_set():
                break
            self._deliver(stream, eid, fields)
        return len(entries)

    def _deliver(self, stream: str, eid: bytes, fields: dict[bytes, bytes] | None) -> None:
        try:
            event = codec.decode(fields or {})
            if not isinstance(event, Event):
                raise codec.SchemaError(f"not an event: {type(event).__name__}")
        except codec.SchemaError as exc:
            self._dead(stream, eid, "", f"malformed event: {exc}")
            return
        body = payload(event)
        reason = ""
        for attempt in range(self.attempts):
            if attempt and self.stop.wait(self.backoff_s * 2 ** (attempt - 1)):
                return  # stopping: the event stays pending and is sent again after the restart
            try:
                self.sink.send(event, body)
            except Refused as exc:
                reason = str(exc)
                break
            except Exception as exc:  # noqa: BLE001 - any failure of the receiver is retried
                reason = f"{type(exc).__name__}: {exc}"
                self.stats[f"{self.kind}_retries"] += 1
                continue
            self.redis.xack(stream, self.group, eid)
            self.stats[f"{self.kind}_sent"] += 1
            return
        self._dead(stream, eid, event.event_id, reason)

    def _dead(self, stream: str, eid: bytes, event_id: str, reason: str) -> None:
        log.warning("events sink %s gave up event=%s reason=%r", self.sink.name, event_id, reason)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                keys.events_dead_of(stream),
                {"sink": self.sink.name, "event_id": event_id, "entry": eid, "reason": reason},
                maxlen=10_000,
                approximate=True,
            )
            pipe.xack(stream, self.group, eid)
            pipe.execute()
        self.stats[f"{self.kind}_dead"] += 1


def sinks_of(settings: EventsSettings) -> list[Sink]:
    """The sinks the settings configure; raises ValueError for a malformed URL."""
    out: list[Sink] = [
        WebhookSink(url, settings.webhook_secret, settings.webhook_timeout_s)
        for url in settings.webhook_urls()
    ]
    if settings.mqtt_url:
        out.append(MqttSink(settings.mqtt_url, settings.mqtt_prefix, settings.mqtt_discovery))
    return out
