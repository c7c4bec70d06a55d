"""The worker loop against a real Redis, with a trivial map_stage handler (no model)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

import pytest
import redis

from services.common import codec, keys, registry
from services.common.schema import End, Faces, Frame, Message, Skip
from services.common.settings import CommonSettings
from services.common.streams import Batch, Entry
from services.common.worker import Worker, map_stage, now_ms
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

INSTANCE = "test-worker-1"
MAX_AGE_MS = 1000


def no_faces(messages: list[Message]) -> list[Message | Exception]:
    out: list[Message | Exception] = []
    for m in messages:
        assert isinstance(m, Frame)
        out.append(
            Faces(
                camera_id=m.camera_id,
                seq=m.seq,
                captured_ms=m.captured_ms,
                mode=m.mode,
                frame_key=m.frame_key,
                size_wh=m.size_wh,
                faces=(),
            )
        )
    return out


@dataclass
class MapHandler:
    process: Callable[[list[Message]], list[Message | Exception]] = no_faces
    stats: Counter[str] = field(default_factory=Counter)
    calls: list[list[int]] = field(default_factory=list)

    def _process(self, messages: list[Message]) -> list[Message | Exception]:
        self.calls.append([m.seq for m in messages])
        return self.process(messages)

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        return map_stage(
            entries,
            now_ms,
            service="detector",
            output_kind="faces",
            max_age_ms=MAX_AGE_MS,
            accept=Frame,
            process=self._process,
            stats=self.stats,
        )

    def tick(self, now_ms: int) -> Batch:
        return Batch()


@dataclass
class Running:
    worker: Worker
    handler: MapHandler
    thread: threading.Thread
    stop: threading.Event


@pytest.fixture()
def start_worker(redis_url: str, redis_client: redis.Redis) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(handler: MapHandler | None = None) -> Running:
        settings = CommonSettings(
            redis_url=redis_url,
            instance=INSTANCE,
            max_wait_ms=20,
            claim_idle_ms=1000,
            live_max_age_ms=MAX_AGE_MS,
            read_count=8,
        )
        handler = handler or MapHandler()
        stop = threading.Event()
        worker = Worker("detector", settings, handler, "frames", "detector", stop=stop)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        running = Running(worker, handler, thread, stop)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop.set()
        running.thread.join(5)
        running.worker.redis.close()


def frame(cam: str, seq: int, mode: str = "file", captured_ms: int | None = None) -> Frame:
    return Frame(
        camera_id=cam,
        seq=seq,
        captured_ms=now_ms() if captured_ms is None else captured_ms,
        mode=mode,  # type: ignore[arg-type]
        frame_key=keys.frame(cam, seq),
        size_wh=(64, 48),
    )


def put(r: redis.Redis, message: Message) -> None:
    r.xadd(keys.stream("frames", message.camera_id), codec.encode(message))


def outputs(r: redis.Redis, cam: str) -> list[Message]:
    return [codec.decode(f) for _, f in r.xrange(keys.stream("faces", cam))]


def pending(r: redis.Redis, cam: str) -> int:
    return int(r.xpending(keys.stream("frames", cam), "detector")["pending"])


def dead_letters(r: redis.Redis) -> list[dict[bytes, bytes]]:
    return [f for _, f in r.xrange(keys.DEAD)]


def test_discovers_camera_and_processes_in_order(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    running = start_worker()
    wait_for(lambda: redis_client.exists(keys.health("detector", INSTANCE)) == 1, timeout_s=5)
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    for seq in range(20):
        put(redis_client, frame("cam1", seq))
    put(redis_client, End(camera_id="cam1", seq=20, captured_ms=now_ms(), mode="file", frames=20))

    wait_for(lambda: len(outputs(redis_client, "cam1")) == 21, timeout_s=5)
    out = outputs(redis_client, "cam1")
    assert [m.seq for m in out] == list(range(21))
    assert all(isinstance(m, Faces) and m.faces == () for m in out[:20])
    assert isinstance(out[20], End) and out[20].frames == 20  # markers pass through unchanged
    assert [m.frame_key for m in out[:20]] == [keys.frame("cam1", s) for s in range(20)]
    wait_for(lambda: pending(redis_client, "cam1") == 0, timeout_s=5)
    assert running.worker.cameras == ["cam1"]
    assert sorted(s for call in running.handler.calls for s in call) == list(range(20))
    assert dead_letters(redis_client) == []


def test_second_camera_is_picked_up_while_running(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    start_worker()
    put(redis_client, frame("cam1", 0))
    wait_for(lambda: len(outputs(redis_client, "cam1")) == 1, timeout_s=5)
    registry.add(redis_client, "cam2", "/videos/b.mp4", mode="file")
    for seq in range(3):
        put(redis_client, frame("cam2", seq))
    wait_for(lambda: len(outputs(redis_client, "cam2")) == 3, timeout_s=5)
    assert [m.camera_id for m in outputs(redis_client, "cam2")] == ["cam2"] * 3


def test_malformed_entries_go_to_dead_and_nothing_else_is_lost(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    stream = keys.stream("frames", "cam1")
    put(redis_client, frame("cam1", 0))
    junk_id = redis_client.xadd(stream, {"type": "frame", "v": 1, "body": b"junk"})
    put(redis_client, frame("cam1", 1))
    binary_id = redis_client.xadd(stream, {b"type": b"\xff\xfe", b"\xff": b"x", "v": 1, "body": b"x"})
    put(redis_client, frame("cam1", 2))
    running = start_worker()

    wait_for(
        lambda: len(dead_letters(redis_client)) == 2 and len(outputs(redis_client, "cam1")) == 3, timeout_s=5
    )
    assert [m.seq for m in outputs(redis_client, "cam1")] == [0, 1, 2]
    by_id = {f[b"id"]: f for f in dead_letters(redis_client)}
    assert set(by_id) == {junk_id, binary_id}
    assert b"bad 'frame' body" in by_id[junk_id][b"reason"]
    assert by_id[junk_id][b"stream"] == stream.encode()
    assert by_id[junk_id][b"group"] == b"detector"
    assert b"UTF-8" in by_id[binary_id][b"reason"]
    wait_for(lambda: pending(redis_client, "cam1") == 0, timeout_s=5)
    # the worker survived both and keeps processing
    put(redis_client, frame("cam1", 3))
    wait_for(lambda: len(outputs(redis_client, "cam1")) == 4, timeout_s=5)
    assert running.thread.is_alive()
    assert running.worker.counts["dead"] == 2


def test_old_live_frame_becomes_a_skip(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    registry.add(redis_client, "cam1", "rtsp://cam/live", mode="live")
    # one batch: fresh, too old, fresh; the Skip must keep its place between the two
    put(redis_client, frame("cam1", 0, mode="live"))
    put(redis_client, frame("cam1", 1, mode="live", captured_ms=now_ms() - 10 * MAX_AGE_MS))
    put(redis_client, frame("cam1", 2, mode="live"))
    running = start_worker()

    wait_for(lambda: len(outputs(redis_client, "cam1")) == 3, timeout_s=5)
    first, skip, last = outputs(redis_client, "cam1")
    assert isinstance(skip, Skip)
    assert (skip.seq, skip.mode, skip.stage) == (1, "live", "detector")
    assert f"older than {MAX_AGE_MS} ms" in skip.reason
    assert isinstance(first, Faces) and first.seq == 0
    assert isinstance(last, Faces) and last.seq == 2
    assert [s for call in running.handler.calls for s in call] == [
        0,
        2,
    ]  # the old frame never reached process
    assert running.handler.stats["dropped"] == 1
    wait_for(lambda: pending(redis_client, "cam1") == 0, timeout_s=5)
    assert dead_letters(redis_client) == []


def test_old_file_frame_is_not_dropped(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    registry.add(redis_client, "job1", "/videos/a.mp4", mode="file")
    running = start_worker()
    put(redis_client, frame("job1", 0, mode="file", captured_ms=now_ms() - 100 * MAX_AGE_MS))
    wait_for(lambda: len(outputs(redis_client, "job1")) == 1, timeout_s=5)
    [out] = outputs(redis_client, "job1")
    assert isinstance(out, Faces) and out.seq == 0 and out.mode == "file"
    assert running.handler.stats["dropped"] == 0


def test_failing_batch_is_dead_lettered_with_skips_and_worker_keeps_running(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    failures = {"left": 1}

    def flaky(messages: list[Message]) -> list[Message | Exception]:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("model exploded")
        return no_faces(messages)

    registry.add(redis_client, "job1", "/videos/a.mp4", mode="file")
    for seq in range(3):  # published before the worker starts: read as one batch
        put(redis_client, frame("job1", seq))
    running = start_worker(MapHandler(process=flaky))

    wait_for(lambda: len(outputs(redis_client, "job1")) == 3, timeout_s=5)
    assert running.handler.calls == [[0, 1, 2]]
    out = outputs(redis_client, "job1")
    assert all(isinstance(m, Skip) for m in out)
    assert [m.seq for m in out] == [0, 1, 2]
    assert all(m.stage == "detector" and "model exploded" in m.reason for m in out if isinstance(m, Skip))
    letters = dead_letters(redis_client)
    assert len(letters) == 3
    assert all(b"detector failed: model exploded" in f[b"reason"] for f in letters)
    wait_for(lambda: pending(redis_client, "job1") == 0, timeout_s=5)

    for seq in range(3, 6):
        put(redis_client, frame("job1", seq))
    wait_for(lambda: len(outputs(redis_client, "job1")) == 6, timeout_s=5)
    assert [type(m) for m in outputs(redis_client, "job1")[3:]] == [Faces] * 3
    assert running.thread.is_alive()


def test_per_message_exception_dead_letters_only_that_message(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    def odd_fails(messages: list[Message]) -> list[Message | Exception]:
        good = no_faces(messages)
        return [
            ValueError(f"seq {m.seq} unreadable") if m.seq % 2 else g
            for m, g in zip(messages, good, strict=True)
        ]

    registry.add(redis_client, "job1", "/videos/a.mp4", mode="file")
    for seq in range(4):
        put(redis_client, frame("job1", seq))
    start_worker(MapHandler(process=odd_fails))
    wait_for(lambda: len(outputs(redis_client, "job1")) == 4, timeout_s=5)
    assert [type(m) for m in outputs(redis_client, "job1")] == [Faces, Skip, Faces, Skip]
    assert sorted(f[b"reason"] for f in dead_letters(redis_client)) == [
        b"detector failed: seq 1 unreadable",
        b"detector failed: seq 3 unreadable",
    ]
    wait_for(lambda: pending(redis_client, "job1") == 0, timeout_s=5)


def test_stop_returns_promptly_and_clears_health(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    running = start_worker()
    health_key = keys.health("detector", INSTANCE)
    wait_for(lambda: redis_client.exists(health_key) == 1, timeout_s=5)
    assert redis_client.ttl(health_key) > 0
    put(redis_client, frame("cam1", 0))
    wait_for(lambda: len(outputs(redis_client, "cam1")) == 1, timeout_s=5)

    t0 = time.monotonic()
    running.stop.set()
    running.thread.join(2)
    assert not running.thread.is_alive()
    assert time.monotonic() - t0 < 2
    assert redis_client.exists(health_key) == 0


def test_stop_with_no_cameras_returns_promptly(
    redis_client: redis.Redis, start_worker: Callable[..., Running]
) -> None:
    running = start_worker()
    wait_for(lambda: redis_client.exists(keys.health("detector", INSTANCE)) == 1, timeout_s=5)
    t0 = time.monotonic()
    running.stop.set()
    running.thread.join(2)
    assert not running.thread.is_alive() and time.monotonic() - t0 < 2
    assert redis_client.exists(keys.health("detector", INSTANCE)) == 0


def test_burst_mode_returns_when_nothing_is_left(redis_url: str, redis_client: redis.Redis) -> None:
    registry.add(redis_client, "job1", "/videos/a.mp4", mode="file")
    for seq in range(5):
        put(redis_client, frame("job1", seq))
    settings = CommonSettings(redis_url=redis_url, instance=INSTANCE, max_wait_ms=20, claim_idle_ms=1000)
    worker = Worker("detector", settings, MapHandler(), "frames", "detector")
    try:
        worker.run(burst=True)
    finally:
        worker.redis.close()
    assert [m.seq for m in outputs(redis_client, "job1")] == [0, 1, 2, 3, 4]
    assert pending(redis_client, "job1") == 0


def test_late_results_of_a_replica_whose_entries_were_claimed_are_fenced(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Replica ``a`` reads five frames, then stalls (cut off from Redis) past ``claim_idle_ms``; replica
    ``b`` claims and answers them. When ``a`` comes back with its results, they are dropped: each frame
    is answered once, by ``b``, and nothing is left pending."""
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    for seq in range(5):
        put(redis_client, frame("cam1", seq))

    def replica(name: str) -> Worker:
        settings = CommonSettings(redis_url=redis_url, instance=name, max_wait_ms=20, claim_idle_ms=100)
        return Worker("detector", settings, MapHandler(), "frames", "detector")

    a, b = replica("replica-a"), replica("replica-b")
    try:
        a._refresh_cameras()
        read = a.streams.read(a.input_streams(), 8, 20)
        assert [e.message.seq for e in read if e.message] == [0, 1, 2, 3, 4]
        time.sleep(0.3)  # a's entries idle past claim_idle_ms
        b.step()  # finds the camera and joins the group (nothing new to read)
        time.sleep(0.1)  # past its next claim time (claim_idle_ms / 2)
        b.step()  # claims a's entries and answers them
        assert b.counts["reclaimed"] == 5
        assert [m.seq for m in outputs(redis_client, "cam1")] == [0, 1, 2, 3, 4]
        a.process(read)  # a's late answers
        assert a.counts["fenced"] == 5 and a.counts["out"] == 0
        assert [m.seq for m in outputs(redis_client, "cam1")] == [0, 1, 2, 3, 4], "a late duplicate"
        assert pending(redis_client, "cam1") == 0
        # a replica that still holds its entries is not fenced
        put(redis_client, frame("cam1", 5))
        mine = a.streams.read(a.input_streams(), 8, 20)
        a.process(mine)
        assert a.counts["fenced"] == 5 and a.counts["out"] == 1
        assert [m.seq for m in outputs(redis_client, "cam1")] == [0, 1, 2, 3, 4, 5]
    finally:
        a.redis.close()
        b.redis.close()


def xpending_calls(client: redis.Redis) -> int:
    stats = cast(dict[str, dict[str, int]], client.info("commandstats"))
    return stats.get("cmdstat_xpending", {}).get("calls", 0)


def test_a_batch_answered_well_inside_claim_idle_ms_is_committed_without_the_fence_round_trip(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """No other replica can have claimed entries read less than ``claim_idle_ms / 2`` ago, so their
    answers go without the XPENDING check; older ones are checked (and the tracker, whose entries a new
    lease owner takes at once, checks every time: ``periodic_claim`` off)."""
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    settings = CommonSettings(redis_url=redis_url, instance="replica-a", max_wait_ms=20, claim_idle_ms=2000)
    worker = Worker("detector", settings, MapHandler(), "frames", "detector")
    try:
        worker._refresh_cameras()
        put(redis_client, frame("cam1", 0))
        before = xpending_calls(redis_client)
        worker.process(worker.streams.read(worker.input_streams(), 8, 20))
        assert xpending_calls(redis_client) == before
        put(redis_client, frame("cam1", 1))
        old = worker.streams.read(worker.input_streams(), 8, 20)
        time.sleep(1.1)  # past claim_idle_ms / 2
        worker.process(old)
        assert xpending_calls(redis_client) == before + 1
        assert [m.seq for m in outputs(redis_client, "cam1")] == [0, 1] and pending(redis_client, "cam1") == 0
        worker.periodic_claim = False  # as a leased worker
        put(redis_client, frame("cam1", 2))
        before = xpending_calls(redis_client)
        worker.process(worker.streams.read(worker.input_streams(), 8, 20))
        assert xpending_calls(redis_client) == before + 1
    finally:
        worker.redis.close()
