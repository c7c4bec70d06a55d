"""Redis going away makes a worker wait and reconnect, not crash: a real server stopped and restarted."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import redis

from services.cli.embedded_redis import EmbeddedRedis, free_port
from services.common import codec, keys, registry
from services.common.schema import Frame, Message
from services.common.settings import CommonSettings
from services.common.streams import Batch, Entry
from services.common.worker import Worker, map_stage, now_ms
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


class Echo:
    def __init__(self) -> None:
        self.stats: Counter[str] = Counter()

    def handle(self, entries: list[Entry], now: int) -> Batch:
        return map_stage(
            entries,
            now,
            service="detector",
            output_kind="faces",
            max_age_ms=60_000,
            accept=Frame,
            process=self.process,
            stats=self.stats,
        )

    def process(self, messages: list[Message]) -> list[Message | Exception]:
        return list(messages)

    def tick(self, now: int) -> Batch:
        return Batch()


def publish(client: redis.Redis, seq: int) -> None:
    frame = Frame(
        camera_id="cam",
        seq=seq,
        captured_ms=now_ms(),
        mode="live",
        frame_key=keys.frame("cam", seq),
        size_wh=(4, 4),
    )
    client.xadd(keys.stream("frames", "cam"), codec.encode(frame))


def outputs(client: redis.Redis) -> int:
    """How many entries the worker wrote so far; 0 while the connection is down (the server restarting)."""
    try:
        return int(client.xlen(keys.stream("faces", "cam")))
    except redis.ConnectionError:
        return 0


def test_worker_survives_a_redis_restart() -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = EmbeddedRedis(port)
    client = redis.Redis.from_url(url)
    registry.add(client, "cam", "push:cam")
    settings = CommonSettings(redis_url=url, max_wait_ms=20, instance="w1")
    worker = Worker(
        "detector", settings, Echo(), "frames", "detector", client=redis.Redis.from_url(url, socket_timeout=2)
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        publish(client, 0)
        wait_for(lambda: outputs(client) == 1, 10, "the first output")

        server.stop()
        time.sleep(1.5)  # the worker now fails to read: it must back off, not die
        assert thread.is_alive()

        server = EmbeddedRedis(port)  # a fresh, empty server on the same address
        registry.add(client, "cam", "push:cam")
        publish(client, 1)
        wait_for(lambda: outputs(client) == 1, 20, "an output after the reconnect")
        out = client.xrange(keys.stream("faces", "cam"))
        assert codec.decode(out[0][1]).seq == 1
        assert thread.is_alive()
    finally:
        worker.stop.set()
        thread.join(10)
        server.stop()
    assert not thread.is_alive(), "stop must end the worker after a reconnect too"
