"""Helpers for the events tests (this module holds no tests): a real HTTP receiver that fails on purpose,
a real MQTT subscriber, the events service as a process, and what ``emo:events`` holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion

from services.common import codec, keys
from services.common.schema import Event
from services.events.deliver import signature
from tests.support.http import HttpServer, QuietHandler

SECRET = "s3cret"


class Receiver:
    """An HTTP receiver that answers 503 to the first ``fail_first`` requests of each event id (then 200),
    or always ``status``; it records each request it accepted, with a verdict on its signature."""

    def __init__(self, fail_first: int = 0, status: int = 200, host: str = "127.0.0.1") -> None:
        self.accepted: list[dict[str, Any]] = []
        self.tries: Counter[str] = Counter()
        self.fail_first, self.status = fail_first, status
        receiver = self

        class Handle(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event_id = self.headers["X-Emostream-Id"]
                receiver.tries[event_id] += 1
                if receiver.status != 200 or receiver.tries[event_id] <= receiver.fail_first:
                    self.send_response(receiver.status if receiver.status != 200 else 503)
                    self.end_headers()
                    return
                expected = signature(SECRET, self.headers["X-Emostream-Timestamp"], body)
                doc = json.loads(body)
                doc["signed"] = self.headers.get("X-Emostream-Signature") == expected
                doc["header_id"] = event_id
                receiver.accepted.append(doc)
                self.send_response(200)
                self.end_headers()

        self.server = HttpServer(Handle, host=host).start()
        self.url = f"{self.server.url}/hook"

    def close(self) -> None:
        self.server.stop()


class Subscriber:
    """A real MQTT client subscribed to everything emostream publishes."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.events: list[dict[str, Any]] = []
        self.retained: dict[str, Any] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(parts.hostname or "", parts.port or 1883)
        self.client.subscribe("emostream/#", qos=1)
        self.client.subscribe("homeassistant/#", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        if msg.topic.endswith("/events"):
            self.events.append(doc)
        else:
            self.retained[msg.topic] = doc

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_events(redis_url: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.events"],
        env={
            **os.environ,
            "EMOSTREAM_REDIS_URL": redis_url,
            "EMOSTREAM_INSTANCE": "events-1",
            "EMOSTREAM_LEASE_MS": "3000",
            "EMOSTREAM_LOG_LEVEL": os.environ.get("EMOSTREAM_TEST_LOG_LEVEL", "WARNING"),
            "EMOSTREAM_HELD_LABELS": '["angry"]',
            "EMOSTREAM_WEBHOOK_SECRET": SECRET,
            "EMOSTREAM_WEBHOOK_BACKOFF_S": "0.05",
            **env,
        },
    )


def stream_ids(client: redis.Redis) -> list[str]:
    """The event ids in ``emo:events``, in order."""
    out = []
    for _, fields in client.xrange(keys.EVENTS):
        event = codec.decode(fields)
        assert isinstance(event, Event)
        out.append(event.event_id)
    return out
