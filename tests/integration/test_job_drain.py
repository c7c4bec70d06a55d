"""A finished job's cleanup waits for the events service to read the job's tracks to the end
(``services.common.jobs.drain_events``), on a real Redis: cleanup deletes the stream, and with it any
event not yet made."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from services.common import keys
from services.common.jobs import drain_events

pytestmark = pytest.mark.integration


def test_no_events_service_means_no_wait(redis_client: redis.Redis) -> None:
    stream = keys.stream("tracks", "job-a")
    redis_client.xadd(stream, {"x": "1"})
    started = time.monotonic()
    assert drain_events(redis_client, "job-a", timeout_s=5) == 0
    assert time.monotonic() - started < 1


def test_waits_until_the_events_group_has_acked_everything(redis_client: redis.Redis) -> None:
    stream = keys.stream("tracks", "job-b")
    group = keys.GROUPS["events"][1]
    ids = [redis_client.xadd(stream, {"x": str(i)}) for i in range(3)]
    redis_client.xgroup_create(stream, group, id="0")
    redis_client.xreadgroup(group, "events-1", {stream: ">"}, count=1)  # one read, none acked yet

    def events_service_catching_up() -> None:
        time.sleep(0.6)
        redis_client.xreadgroup(group, "events-2", {stream: ">"})
        redis_client.xack(stream, group, *ids)

    catching_up = threading.Thread(target=events_service_catching_up)
    started = time.monotonic()
    catching_up.start()
    assert drain_events(redis_client, "job-b", timeout_s=10) == 0
    assert time.monotonic() - started >= 0.5, "returned before the events group had read everything"
    catching_up.join()


def test_gives_up_after_the_timeout_with_what_is_left(redis_client: redis.Redis) -> None:
    stream = keys.stream("tracks", "job-c")
    group = keys.GROUPS["events"][1]
    for i in range(4):
        redis_client.xadd(stream, {"x": str(i)})
    redis_client.xgroup_create(stream, group, id="0")  # an events service that never reads
    assert drain_events(redis_client, "job-c", timeout_s=0.5) == 4
