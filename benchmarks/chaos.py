"""Chaos benchmark: file jobs while workers and redis-server are SIGKILLed at random moments.

Usage: python -m benchmarks.chaos [--frames 300] [--kills 2] [--seed 0] [--media DIR] [--json]

Runs the pipeline on a supervised stack with its own embedded Redis, as ``emostream analyze`` does. First
one undisturbed job over a generated clip (two faces crossing), then one job per victim (ingest,
detector, classifier, tracker, redis-server) during which that victim is SIGKILLed ``--kills`` times at
random moments. Prints per victim: kills survived, frames lost, duplicated frames, whether the track ids
equal the undisturbed run's, and the time to recover after each kill (p50 and max). Recovery is the time
from the kill until the job has moved on by one more frame than it had done at the kill.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis

from services.cli.stack import PIPELINE, Stack, stack
from services.common.job_store import JobRecord, JobStore
from services.common.jobs import run_job
from tests.support import clips

VICTIMS = (*PIPELINE, "redis-server")


def clip(media: Path, out_dir: Path, frames: int) -> Path:
    spec = clips.ClipSpec(
        "chaos",
        frames,
        (
            clips.Actor(1, "anna", clips.linear(90, 180, 550, 185, frames), z=1),
            clips.Actor(2, "ben", clips.linear(550, 175, 90, 170, frames), z=0),
        ),
    )
    return clips.build(spec, media, out_dir)[0]


def rows(out: Path) -> list[tuple[int, int]]:
    with open(out / "tracks.csv", newline="") as fh:
        return [(int(r["frame"]), int(r["track_id"])) for r in csv.DictReader(fh)]


def kill(running: Stack, victim: str) -> bool:
    if victim == "redis-server":
        assert running.embedded is not None
        running.embedded.kill()
        return True
    pid = running.supervisor.pids().get(victim)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def one_job(
    running: Stack, video: Path, out: Path, frames: int, victim: str | None, kills: int, rng: random.Random
) -> dict[str, object]:
    store = JobStore(redis.Redis.from_url(running.redis_url))
    job = JobRecord(out.name, video.name, str(video), str(out))
    store.save(job)
    moments = sorted(rng.uniform(0.05, 0.85) * frames for _ in range(kills if victim else 0))
    recoveries: list[float] = []
    waiting: list[tuple[float, int]] = []  # (kill time, frames done at the kill)
    done_kills = 0
    lock = threading.Lock()

    def on_progress(j: JobRecord) -> None:
        nonlocal done_kills
        now = time.monotonic()
        with lock:
            for t_kill, at in list(waiting):
                if j.frames_done > at:
                    recoveries.append(now - t_kill)
                    waiting.remove((t_kill, at))
            if moments and j.frames_done >= moments[0] and victim is not None:
                moments.pop(0)
                if kill(running, victim):
                    done_kills += 1
                    waiting.append((time.monotonic(), j.frames_done))

    t0 = time.monotonic()
    final = run_job(store, job, "chaos-bench", stall_timeout_s=300, on_progress=on_progress)
    return {
        "job": final,
        "seconds": time.monotonic() - t0,
        "kills": done_kills,
        "recoveries_s": recoveries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--kills", type=int, default=2, help="kills per victim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--media", type=Path, default=None, help="sample media (default: fetched)")
    parser.add_argument("--victims", default=",".join(VICTIMS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.media is None:
        from services.cli.samples import ensure_samples

        args.media = ensure_samples()
    rng = random.Random(args.seed)
    report: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="emostream-chaos-") as tmp:
        video = clip(args.media, Path(tmp), args.frames)
        with stack(PIPELINE, redis_url="") as running:
            running.wait_healthy(300)
            calm = one_job(running, video, Path(tmp, "calm"), args.frames, None, 0, rng)
            reference = set(rows(Path(tmp, "calm")))
            report["none"] = {"seconds": round(float(calm["seconds"]), 1)}  # type: ignore[arg-type]
            for victim in args.victims.split(","):
                result = one_job(running, video, Path(tmp, victim), args.frames, victim, args.kills, rng)
                job: JobRecord = result["job"]  # type: ignore[assignment]
                got = rows(Path(tmp, victim)) if job.status == "done" else []
                frames_seen = {f for f, _ in got}
                recoveries: list[float] = result["recoveries_s"]  # type: ignore[assignment]
                report[victim] = {
                    "status": job.status,
                    "error": job.error,
                    "kills": result["kills"],
                    "frames": job.summary.frames if job.summary else 0,
                    "frames_lost": job.summary.frames_skipped if job.summary else args.frames,
                    "frames_without_faces": args.frames - len(frames_seen),
                    "duplicates": len(got) - len(set(got)),
                    "same_ids_as_undisturbed": set(got) == reference,
                    "recover_p50_s": round(statistics.median(recoveries), 2) if recoveries else None,
                    "recover_max_s": round(max(recoveries), 2) if recoveries else None,
                    "seconds": round(float(result["seconds"]), 1),  # type: ignore[arg-type]
                }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"undisturbed job: {args.frames} frames in {report['none']['seconds']} s")
    head = "victim         kills status  lost dup same-ids recover p50/max s  job s"
    print(head)
    for victim, r in report.items():
        if victim == "none":
            continue
        print(
            f"{victim:<14} {r['kills']:>5} {r['status']:<7} {r['frames_lost']:>4} {r['duplicates']:>3} "
            f"{'yes' if r['same_ids_as_undisturbed'] else 'NO':>8} "
            f"{r['recover_p50_s']!s:>9} / {r['recover_max_s']!s:<6} {r['seconds']:>6}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
