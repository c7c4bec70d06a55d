"""The pipeline side of ``emostream bench``: the same frames through the supervised services."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from services.cli.bench.results import FileRun, LiveRun, camera_live, cpu_seconds, hop_breakdown


def pipeline_env(name: str, backend: str | None, device: str = "cpu") -> dict[str, str]:
    from services.cli.stack import model_env

    # a health beat (with the counters) every 1 s; only warnings from the services
    env = {**model_env(name), "EMOSTREAM_HEALTH_TTL_S": "3", "EMOSTREAM_LOG_LEVEL": "WARNING"}
    if backend:
        env["EMOSTREAM_BACKEND"] = backend
    env["EMOSTREAM_DEVICE"] = device
    return env


def stage_figures(instances: dict[str, dict[str, Any]]) -> tuple[dict[str, float], dict[str, float], int]:
    """Per-stage ms (per frame; the classifier per face), mean batch per model pass, and faces, from the
    counters in the health keys (replicas summed)."""
    total: dict[str, dict[str, float]] = {}
    for name, counters in instances.items():
        service = name.split(":", 1)[0]
        into = total.setdefault(service, {})
        for key in ("busy_ms", "processed", "passes", "faces", "acked", "frames"):
            into[key] = into.get(key, 0.0) + float(counters.get(key, 0) or 0)
    stages: dict[str, float] = {}
    batches: dict[str, float] = {}
    for service, c in sorted(total.items()):
        if service == "classifier":
            stages["classifier_per_face"] = round(c["busy_ms"] / max(1.0, c["faces"]), 1)
            batches["classifier_faces"] = round(c["faces"] / max(1.0, c["passes"]), 1)
        elif service == "detector":
            stages["detector"] = round(c["busy_ms"] / max(1.0, c["processed"]), 1)
            batches["detector_frames"] = round(c["processed"] / max(1.0, c["passes"]), 1)
        elif service == "tracker":
            stages["tracker"] = round(c["busy_ms"] / max(1.0, c["acked"]), 1)
    return stages, batches, int(total.get("classifier", {}).get("faces", 0))


def pipeline_files(
    videos: Sequence[Path],
    name: str,
    backend: str | None,
    out_dir: Path,
    replicas: dict[str, int],
    device: str = "cpu",
) -> FileRun:

    from services.cli.analyze import new_jobs, run_jobs
    from services.cli.stack import PIPELINE, stack
    from services.common import health
    from services.common.connect import connect

    jobs = new_jobs(list(videos), out_dir)
    with stack(PIPELINE, env=pipeline_env(name, backend, device), redis_url="", replicas=replicas) as running:
        running.wait_healthy(300)
        pids = list(running.supervisor.pids().values())
        cpu0, t0 = cpu_seconds(pids) + time.process_time(), time.perf_counter()
        errors = run_jobs(running.redis_url, jobs, progress=False)
        seconds = time.perf_counter() - t0
        cpu = cpu_seconds(pids) + time.process_time() - cpu0
        time.sleep(1.5)  # one more health beat: the counters of the last frames
        instances = health.instances(connect(url=running.redis_url))
    if errors:
        raise RuntimeError(f"pipeline job failed: {'; '.join(errors.values())}")
    stages, batches, faces = stage_figures(instances)
    frames = sum(job.frames_done for job in jobs)
    return FileRun("pipeline", frames, round(seconds, 2), round(cpu / seconds, 2), faces, stages, batches)


def pipeline_live(
    uris: Sequence[Path],
    fps: float,
    warmup_s: float,
    seconds: float,
    name: str,
    backend: str | None,
    replicas: dict[str, int],
    device: str = "cpu",
) -> LiveRun:

    from services.cli.stack import PIPELINE, stack
    from services.common import codec, keys, registry
    from services.common.connect import connect
    from services.common.schema import Tracks

    env = {**pipeline_env(name, backend, device), "EMOSTREAM_LIVE_FPS_CAP": str(fps)}
    cams = {f"cam{i + 1}": uri for i, uri in enumerate(uris)}
    with stack(PIPELINE, env=env, redis_url="", replicas=replicas) as running:
        running.wait_healthy(300)
        client = connect(url=running.redis_url)
        for cam, uri in cams.items():
            registry.add(client, cam, str(uri), mode="live", loop=True)
        last_id = {keys.stream("tracks", c): "0-0" for c in cams}
        lat: dict[str, list[float]] = {c: [] for c in cams}
        seqs: dict[str, list[int]] = {c: [] for c in cams}
        hops: list[dict[str, int]] = []
        measure_from = time.time() + warmup_s
        pids = list(running.supervisor.pids().values())
        cpu0 = 0.0
        while time.time() < measure_from + seconds:
            if not cpu0 and time.time() >= measure_from:
                cpu0 = cpu_seconds(pids)
            replies = cast(
                list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],
                client.xread(last_id, count=1000, block=200),  # type: ignore[arg-type]  # redis-py's streams Mapping is invariant in its key type
            )
            for stream, entries in replies:
                cam = stream.decode().rsplit(":", 1)[1]
                for entry_id, fields in entries:
                    last_id[stream.decode()] = entry_id.decode()
                    added_ms = int(entry_id.split(b"-")[0])
                    msg = codec.decode(fields)
                    if isinstance(msg, Tracks) and added_ms >= measure_from * 1000:
                        lat[cam].append(added_ms - msg.captured_ms)
                        seqs[cam].append(msg.seq)
                        hops.append({**msg.hops, "captured": msg.captured_ms, "published": added_ms})
        cores = (cpu_seconds(pids) - cpu0) / seconds
    cameras = {c: camera_live(lat[c], seqs[c], seconds) for c in cams}
    return LiveRun("pipeline", seconds, cameras, round(cores, 2), hop_breakdown(hops))
