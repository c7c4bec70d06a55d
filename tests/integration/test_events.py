"""The events service as a real process on a real Redis, delivering to a real HTTP receiver (which fails
on purpose) and a real Mosquitto broker: every event exactly once, across a restart of the service, with
a valid signature; a dead or refusing receiver is dead-lettered without holding up the events."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common import codec, keys, registry
from services.common.schema import Track, Tracks
from tests.support.events import Receiver, Subscriber, start_events, stream_ids
from tests.support.wait import free_port, wait_for

pytestmark = pytest.mark.integration

CAM = "cam-ev"


def tracks_message(seq: int, faces: list[tuple[int, str]]) -> Tracks:
    return Tracks(
        camera_id=CAM,
        seq=seq,
        captured_ms=1_000_000 + 100 * seq,
        mode="file",
        frame_key="f",
        size_wh=(640, 360),
        tracks=tuple(
            Track(
                track_id=t,
                box_xyxy=(10.0, 10.0, 60.0, 60.0),
                label=label,
                confidence=0.9,
                raw_label=label,
                probs={label: 0.9},
            )
            for t, label in faces
        ),
    )


def story(start: int, stop: int) -> list[Tracks]:
    """Track 1 neutral, then angry from seq 20 (held 5 s at 10 fps: seq 70); track 2 happy from 10, sad
    from 30, gone at 40 (ended at 70, 3 s later), back at 90 (the tracker re-identified it) and gone at
    100 (ended at 130): the 8 events of ``EXPECTED``."""
    out = []
    for seq in range(start, stop):
        faces = [(1, "neutral" if seq < 20 else "angry")]
        if 10 <= seq < 40 or 90 <= seq < 100:
            faces.append((2, "happy" if seq < 30 else "sad"))
        out.append(tracks_message(seq, faces))
    return out


EXPECTED = [
    "cam-ev:1:track_started:1",
    "cam-ev:2:track_started:1",
    "cam-ev:1:label_changed:1",
    "cam-ev:2:label_changed:1",
    "cam-ev:1:label_held:1",
    "cam-ev:2:track_ended:1",
    "cam-ev:2:track_started:2",
    "cam-ev:2:track_ended:2",
]


def publish(client: redis.Redis, messages: list[Tracks]) -> None:
    for m in messages:
        client.xadd(keys.stream("tracks", CAM), codec.encode(m))


def applied(client: redis.Redis) -> int:
    raw = client.get(keys.events_state(CAM))
    return int(json.loads(raw)["applied_seq"]) if raw else -1


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


def test_events_reach_a_webhook_and_mqtt_exactly_once_across_a_restart(
    redis_url: str, redis_client: redis.Redis, mqtt_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    registry.add(redis_client, CAM, "file:///clip.mp4", mode="file")
    subscriber = Subscriber(mqtt_url)
    env = {
        "EMOSTREAM_WEBHOOK_URL": receiver.url,
        "EMOSTREAM_MQTT_URL": mqtt_url,
        "EMOSTREAM_MQTT_DISCOVERY": "1",
    }
    first = start_events(redis_url, **env)
    try:
        wait_for(
            lambda: redis_client.exists(keys.events_lease(CAM)), 20, "the events service owns the camera"
        )
        publish(redis_client, story(0, 60))
        wait_for(lambda: len(stream_ids(redis_client)) >= 4, 20, "the events of seq 0-59")
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0
    publish(redis_client, story(60, 140))  # while it is down
    second = start_events(redis_url, **env)
    try:
        wait_for(lambda: len(receiver.accepted) >= len(EXPECTED), 30, "every event at the webhook")
        wait_for(lambda: len(subscriber.events) >= len(EXPECTED), 30, "every event over MQTT")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
        subscriber.close()
    assert stream_ids(redis_client) == EXPECTED, "emo:events: each event once, in order"
    assert [d["event_id"] for d in receiver.accepted] == EXPECTED, "the webhook: each once, in order"
    assert all(d["signed"] for d in receiver.accepted), "every body carries a valid HMAC signature"
    assert all(d["header_id"] == d["event_id"] for d in receiver.accepted)
    assert receiver.tries[EXPECTED[0]] == 3, "503 twice, then delivered: retried with backoff"
    assert [d["event_id"] for d in subscriber.events] == EXPECTED, "MQTT: each once, in order"
    held = next(d for d in receiver.accepted if d["kind"] == "label_held")
    assert (held["label"], held["dwell_s"], held["type"], held["version"]) == (
        "angry",
        5.0,
        "emostream.event",
        1,
    )
    state = subscriber.retained[f"emostream/{CAM}/state"]
    assert [t["track_id"] for t in state["tracks"]] == [1] and state["faces"] == 1, "2 has ended"
    assert state["tracks"][0]["label"] == "angry"
    assert subscriber.retained[f"homeassistant/sensor/emostream_{CAM}/config"]["state_topic"] == (
        f"emostream/{CAM}/state"
    )
    assert redis_client.xlen(keys.EVENTS_DEAD) == 0


def test_a_killed_events_service_neither_loses_nor_repeats_an_event(
    redis_url: str, redis_client: redis.Redis
) -> None:
    registry.add(redis_client, CAM, "file:///clip.mp4", mode="file")
    for round_ in range(3):  # killed at a different point each time
        proc = start_events(redis_url)
        try:
            wait_for(lambda: redis_client.get(keys.events_lease(CAM)) in (None, b"events-1"), 20)
            publish(redis_client, story(round_ * 40, round_ * 40 + 40))
            some = round_ * 40 + 5
            wait_for(lambda: applied(redis_client) >= some, 20, "some of this round applied")  # noqa: B023
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    publish(redis_client, story(120, 140))
    last = start_events(redis_url)
    try:
        wait_for(lambda: len(stream_ids(redis_client)) >= len(EXPECTED), 30, "every event")
        wait_for(lambda: applied(redis_client) == 139, 30, "every message applied")
    finally:
        last.send_signal(signal.SIGTERM)
        last.wait(20)
    assert stream_ids(redis_client) == EXPECTED


@pytest.mark.parametrize(("status", "tries"), [(0, 3), (404, 1)])
def test_a_dead_or_refusing_receiver_is_dead_lettered_and_holds_nothing_up(
    redis_url: str, redis_client: redis.Redis, status: int, tries: int
) -> None:
    registry.add(redis_client, CAM, "file:///clip.mp4", mode="file")
    refusing = Receiver(status=status) if status else None
    url = refusing.url if refusing else f"http://127.0.0.1:{free_port()}/nobody-listens"
    proc = start_events(redis_url, EMOSTREAM_WEBHOOK_URL=url, EMOSTREAM_WEBHOOK_ATTEMPTS="3")
    try:
        wait_for(lambda: redis_client.exists(keys.events_lease(CAM)), 20)
        publish(redis_client, story(0, 140))
        wait_for(lambda: len(stream_ids(redis_client)) >= len(EXPECTED), 20, "the events, whatever the sink")
        wait_for(
            lambda: redis_client.xlen(keys.EVENTS_DEAD) >= len(EXPECTED), 60, "every event dead-lettered"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        if refusing:
            refusing.close()
    dead = [{k.decode(): v.decode() for k, v in f.items()} for _, f in redis_client.xrange(keys.EVENTS_DEAD)]
    assert [d["event_id"] for d in dead] == EXPECTED
    assert all(d["sink"].startswith("webhook:") and d["reason"] for d in dead)
    if refusing:
        assert set(refusing.tries.values()) == {tries}, "a 4xx is final: no retry"
        assert "HTTP 404" in dead[0]["reason"]


def test_a_malformed_tracks_entry_is_dead_lettered_and_the_rest_go_on(
    redis_url: str, redis_client: redis.Redis
) -> None:
    registry.add(redis_client, CAM, "file:///clip.mp4", mode="file")
    redis_client.xadd(keys.stream("tracks", CAM), {"type": "tracks", "v": "1", "body": b"\xc1not msgpack"})
    proc = start_events(redis_url)
    try:
        publish(redis_client, story(0, 140))
        wait_for(lambda: len(stream_ids(redis_client)) >= len(EXPECTED), 20)
        wait_for(lambda: redis_client.xlen(keys.DEAD) >= 1, 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert stream_ids(redis_client) == EXPECTED
    ((_, dead),) = redis_client.xrange(keys.DEAD)
    assert dead[b"stream"] == keys.stream("tracks", CAM).encode() and dead[b"reason"]


def test_history_buckets_of_a_live_camera_reach_the_api_and_outlive_the_ui(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from fastapi.testclient import TestClient

    from services.events.service import EventsWorker
    from services.events.settings import EventsSettings
    from services.ui.app import create_app
    from services.ui.settings import UISettings

    registry.add(redis_client, "lobby", "rtsp://127.0.0.1/lobby", mode="live")
    start = (int(time.time() * 1000) - 60_000) // 10_000 * 10_000  # a minute ago, on a bucket boundary
    for i in range(300):  # 30 s at 10 fps: three full buckets, sad for the first 5 s
        label = "sad" if i < 50 else "happy"
        msg = Tracks(
            camera_id="lobby",
            seq=i,
            captured_ms=start + 100 * i,
            frame_key="f",
            size_wh=(640, 360),
            tracks=(
                Track(
                    track_id=1, box_xyxy=(0, 0, 9, 9), label=label, confidence=0.9, raw_label=label, probs={}
                ),
            ),
        )
        redis_client.xadd(keys.stream("tracks", "lobby"), codec.encode(msg))  # type: ignore[arg-type]
    settings = EventsSettings(redis_url=redis_url, instance="events-h", lease_ms=3000)
    worker = EventsWorker(settings, stop=threading.Event())
    worker.run(burst=True)
    assert redis_client.zcard(keys.history("lobby")) == 2, "the third bucket is open while frames may come"
    time.sleep(settings.end_after_s + 0.2)
    worker.run(burst=True)  # the camera has been quiet for end_after_s: its last bucket closes
    raw = redis_client.zrange(keys.history("lobby"), 0, -1, withscores=True)
    assert [(json.loads(m)["counts"], int(s)) for m, s in raw] == [
        ({"happy": 50, "sad": 50}, start),
        ({"happy": 100}, start + 10_000),
        ({"happy": 100}, start + 20_000),
    ], "the last bucket too: the camera went quiet"
    for _ in range(2):  # a restarted UI reads the same history
        with TestClient(create_app(UISettings(redis_url=redis_url), redis_client)) as api:
            doc = api.get("/api/cameras/lobby/history", params={"minutes": 5}).json()
            assert [b["t"] for b in doc["buckets"]] == [start, start + 10_000, start + 20_000]
            csv_text = api.get("/api/cameras/lobby/history.csv", params={"minutes": 5}).text
            assert csv_text.splitlines()[1].endswith(f",{start},100,50,50")
            assert api.get("/api/cameras/nobody/history").status_code == 404
            assert api.get("/api/cameras/lobby/history", params={"minutes": 0}).status_code == 422
