"""A sample camera through the real pipeline (ingest, detector, classifier, tracker as processes) and the
events service, with a webhook receiver that fails on purpose and an MQTT subscriber on the test's own
Mosquitto: both see the camera's events exactly once, across a restart of the events service."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import redis

from services.cli.stack import Stack
from services.common import registry
from tests.support.events import Receiver, Subscriber, start_events, stream_ids
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_sample_camera_s_events_reach_webhook_and_mqtt_once(
    services_up: Stack, sample_media: Path, mqtt_url: str
) -> None:
    client = redis.Redis.from_url(services_up.redis_url)
    receiver = Receiver(fail_first=1)
    subscriber = Subscriber(mqtt_url)
    env = {
        "EMOSTREAM_WEBHOOK_URL": receiver.url,
        "EMOSTREAM_MQTT_URL": mqtt_url,
        "EMOSTREAM_INSTANCE": "events-e2e",
    }
    cam = "cam-events"
    first = start_events(services_up.redis_url, **env)
    try:
        registry.add(client, cam, str(sample_media / "WolfgangLanger_Pexels.mp4"), mode="file")
        wait_for(lambda: any(i.startswith(cam) for i in stream_ids(client)), 240, "the first event")
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    second = start_events(services_up.redis_url, **env)
    try:
        ended = f"{cam}:1:track_ended:1"
        wait_for(lambda: ended in stream_ids(client), 300, "the file job's end and its track_ended")
        ids = [i for i in stream_ids(client) if i.startswith(cam + ":")]
        wait_for(lambda: len([d for d in receiver.accepted if d["camera_id"] == cam]) >= len(ids), 60)
        wait_for(lambda: len([d for d in subscriber.events if d["camera_id"] == cam]) >= len(ids), 60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        subscriber.close()
        receiver.close()
        registry.remove(client, cam)
    assert ids[0] == f"{cam}:1:track_started:1" and len(ids) == len(set(ids)), ids
    assert any(":label_changed:" in i for i in ids), "the woman's expression changes in this clip"
    assert [d["event_id"] for d in receiver.accepted if d["camera_id"] == cam] == ids, "webhook: each once"
    assert all(d["signed"] for d in receiver.accepted)
    assert [d["event_id"] for d in subscriber.events if d["camera_id"] == cam] == ids, "MQTT: each once"
