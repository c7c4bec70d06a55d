"""run_service over a real Redis: hooks in order, health beat, stats line, and a Redis outage waited out."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from services.cli.embedded_redis import EmbeddedRedis
from services.common import health
from services.common.lifecycle import Service, run_service
from services.common.settings import CommonSettings
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


class Recorder(Service):
    """Counts its steps; fails its first ``fail_steps`` steps with a Redis error; stops after ``steps``."""

    def __init__(self, stop: threading.Event, steps: int = 1_000_000, fail_steps: int = 0) -> None:
        self.stop = stop
        self.calls: list[str] = []
        self.steps = 0
        self.limit = steps
        self.fail_steps = fail_steps

    def setup(self) -> None:
        self.calls.append("setup")

    def step(self) -> bool:
        if self.fail_steps:
            self.fail_steps -= 1
            raise redis.ConnectionError("gone")
        self.steps += 1
        if self.steps >= self.limit:
            self.stop.set()
        self.stop.wait(0.01)
        return True

    def on_redis_lost(self) -> None:
        self.calls.append("lost")

    def stats(self) -> dict[str, int | float | str]:
        return {"steps": self.steps}

    def teardown(self) -> None:
        self.calls.append("teardown")


def test_hooks_run_in_order_and_the_health_key_lives_while_it_runs(
    redis_client: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    svc = Recorder(stop)
    settings = CommonSettings(redis_url=redis_url, instance="t1", stats_interval_s=1)
    thread = threading.Thread(target=run_service, args=("demo", svc, settings, redis_client, stop))
    with caplog.at_level(logging.INFO):
        thread.start()
        wait_for(lambda: health.instances(redis_client, "demo"), 5, "the health key")
        beat = health.instances(redis_client, "demo")["demo:t1"]
        assert "steps" in beat
        wait_for(lambda: "stats steps=" in caplog.text, 5, "a periodic stats line")
        stop.set()
        thread.join(5)
    assert svc.calls == ["setup", "teardown"]
    assert health.instances(redis_client, "demo") == {}, "a clean stop clears the health key"


def test_redis_errors_are_retried_with_backoff_and_teardown_runs(
    redis_client: redis.Redis, redis_url: str
) -> None:
    stop = threading.Event()
    svc = Recorder(stop, steps=3, fail_steps=2)
    settings = CommonSettings(redis_url=redis_url, instance="t2")
    run_service("demo", svc, settings, redis_client, stop)  # 0.5 s + 1 s of backoff, then 3 steps
    assert svc.calls == ["setup", "lost", "lost", "teardown"]
    assert svc.steps == 3


def test_teardown_runs_when_a_step_raises_anything_else(redis_client: redis.Redis, redis_url: str) -> None:
    class Broken(Recorder):
        def step(self) -> bool:
            raise RuntimeError("bug")

    svc = Broken(threading.Event())
    with pytest.raises(RuntimeError, match="bug"):
        run_service("demo", svc, CommonSettings(redis_url=redis_url, instance="t3"), redis_client, svc.stop)
    assert svc.calls == ["setup", "teardown"]


def test_a_real_redis_outage_is_waited_out() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        stop = threading.Event()
        svc = Recorder(stop)

        def step() -> bool:
            client.incr("steps")  # the step talks to Redis for real
            stop.wait(0.05)
            return True

        svc.step = step  # type: ignore[method-assign]
        settings = CommonSettings(redis_url=server.url, instance="t4")
        thread = threading.Thread(target=run_service, args=("demo", svc, settings, client, stop), daemon=True)
        thread.start()
        wait_for(lambda: int(client.get("steps") or 0) > 3, 10, "steps against Redis")
        server.kill()
        wait_for(lambda: "lost" in svc.calls, 10, "the outage is noticed")
        server.restart()
        # the AOF may not hold the last increments; any step after the restart counts
        before = int(client.get("steps") or 0)
        wait_for(lambda: int(client.get("steps") or 0) > before + 3, 20, "steps again after the restart")
        assert thread.is_alive()
        stop.set()
        thread.join(10)
    assert svc.calls[0] == "setup" and svc.calls[-1] == "teardown"
