"""Chaos: a file job over a 300-frame generated clip while workers and redis-server are SIGKILLed.

Real services as processes on a supervised stack with its own embedded Redis (AOF), the real MTCNN and
classifier, the one job runner of ``analyze`` and the UI. The job must finish with every frame exactly
once and the same track ids as an undisturbed run of the same clip.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from services.cli.stack import PIPELINE, Stack, stack
from services.common.job_store import JobRecord, JobStore
from services.common.jobs import run_job
from tests.support import clips

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

FRAMES = 300


def chaos_clip(media: Path, out_dir: Path) -> Path:
    """Two faces crossing slowly over 300 frames (one passes in front of the other)."""
    spec = clips.ClipSpec(
        "chaos",
        FRAMES,
        (
            clips.Actor(1, "anna", clips.linear(90, 180, 550, 185, FRAMES), z=1),
            clips.Actor(2, "ben", clips.linear(550, 175, 90, 170, FRAMES), z=0),
        ),
    )
    video, _ = clips.build(spec, media, out_dir)
    return video


@pytest.fixture(scope="module")
def clip(sample_media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chaos_clip(sample_media, tmp_path_factory.mktemp("chaos"))


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[Stack]:
    """The pipeline on a stack of its own, shared by the module: embedded Redis (password, AOF),
    supervised children. Each job has its own id and output, so the runs do not see each other."""
    with stack(PIPELINE, redis_url="") as running:
        running.wait_healthy(180)
        yield running


@pytest.fixture()
def own_stack(chaos_stack: Stack) -> Stack:
    """The module's stack, healthy again after whatever the test before it killed."""
    chaos_stack.wait_healthy(180)
    return chaos_stack


def rows_of(out: Path) -> list[tuple[int, int, str]]:
    with open(out / "tracks.csv", newline="") as fh:
        return [(int(r["frame"]), int(r["track_id"]), r["label"]) for r in csv.DictReader(fh)]


def run(
    running: Stack, video: Path, out: Path, chaos: Callable[[JobRecord], None] | None = None
) -> JobRecord:
    store = JobStore(redis.Redis.from_url(running.redis_url))
    job = JobRecord(out.name, video.name, str(video), str(out))
    store.save(job)
    return run_job(store, job, "test-runner", stall_timeout_s=240, on_progress=chaos)


def killer(plan: list[tuple[float, Callable[[], None]]]) -> Callable[[JobRecord], None]:
    """An ``on_progress`` callback that runs each action once the job passes its share of the frames."""
    pending = sorted(plan, key=lambda p: p[0])

    def on_progress(job: JobRecord) -> None:
        while pending and job.frames_done >= pending[0][0] * FRAMES:
            pending.pop(0)[1]()

    return on_progress


def sigkill(running: Stack, service: str, log: list[str]) -> Callable[[], None]:
    def kill() -> None:
        pid = running.supervisor.pids().get(service)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            log.append(service)

    return kill


@pytest.fixture(scope="module")
def undisturbed(
    chaos_stack: Stack, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[int, int, str]]:
    job = run(chaos_stack, clip, tmp_path_factory.mktemp("calm") / "calm")
    assert job.status == "done", job.error
    return rows_of(Path(job.out))


def assert_same_as_undisturbed(job: JobRecord, undisturbed: list[tuple[int, int, str]]) -> None:
    assert job.status == "done", job.error
    rows = rows_of(Path(job.out))
    pairs = [(frame, track) for frame, track, _ in rows]
    assert len(pairs) == len(set(pairs)), "a frame and track appear more than once"
    assert job.summary is not None and job.summary.frames == FRAMES
    assert {(f, t) for f, t, _ in rows} == {(f, t) for f, t, _ in undisturbed}, "track ids differ"
    assert job.summary.frames_skipped == 0, "a frame was lost on the way"


def test_job_survives_sigkill_of_every_worker(
    own_stack: Stack, clip: Path, tmp_path: Path, undisturbed: list[tuple[int, int, str]]
) -> None:
    killed: list[str] = []
    rng = random.Random(8)
    plan = [
        (share, sigkill(own_stack, service, killed))
        for share, service in zip(
            sorted(rng.uniform(0.05, 0.85) for _ in range(6)),
            [*PIPELINE, *rng.sample(PIPELINE, 2)],
            strict=True,
        )
    ]
    job = run(own_stack, clip, tmp_path / "chaos", killer(plan))
    assert sorted(set(killed)) == sorted(PIPELINE), f"not every worker was killed: {killed}"
    assert_same_as_undisturbed(job, undisturbed)


def test_job_survives_sigkill_of_redis(
    own_stack: Stack, clip: Path, tmp_path: Path, undisturbed: list[tuple[int, int, str]]
) -> None:
    embedded = own_stack.embedded
    assert embedded is not None
    plan = [(0.25, embedded.kill), (0.6, embedded.kill)]
    started = time.monotonic()
    job = run(own_stack, clip, tmp_path / "redis-chaos", killer(plan))
    assert embedded.restarts >= 2, "the supervisor did not restart redis-server"
    assert_same_as_undisturbed(job, undisturbed)
    assert time.monotonic() - started < 240


def test_a_restarted_runner_resumes_the_same_job(
    own_stack: Stack, clip: Path, tmp_path: Path, undisturbed: list[tuple[int, int, str]]
) -> None:
    """The runner itself goes away mid-job (as a killed UI does); a second one takes the job over."""
    store = JobStore(redis.Redis.from_url(own_stack.redis_url), owner_ttl_ms=1500)
    job = JobRecord("resumed", clip.name, str(clip), str(tmp_path / "resumed"))
    store.save(job)
    stop = threading.Event()

    def stop_half_way(j: JobRecord) -> None:
        if j.frames_done >= FRAMES // 2:
            stop.set()

    with pytest.raises(Exception, match="cancelled"):
        run_job(store, job, "first-runner", stall_timeout_s=240, stop=stop, on_progress=stop_half_way)
    left = store.get("resumed")
    assert left is not None and left.status == "running" and left.frames_done >= FRAMES // 2
    assert (tmp_path / "resumed" / ".journal").is_file()
    (orphan,) = [j for j in store.orphans() if j.id == "resumed"]
    done = run_job(store, orphan, "second-runner", stall_timeout_s=240)
    assert_same_as_undisturbed(done, undisturbed)
    assert store.get("resumed").status == "done"  # type: ignore[union-attr]
