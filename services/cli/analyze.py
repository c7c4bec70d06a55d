"""``emostream analyze VIDEO --out DIR``: a lossless file job through the same services and Redis.

Writes ``annotated.mp4`` (every input frame), ``tracks.csv`` (one row per frame and track),
``timeline.json`` (per track, the segments of its shown label; see ``jobs.timeline``) and
``summary.json``. Exit status 1 when the job fails; the reason is printed and kept in the summary.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import redis

from services.cli.stack import PIPELINE, model_env, stack
from services.common import registry
from services.common.jobs import JobError, JobResult, cleanup, collect, write_outputs


def analyze(
    video: Path, out: Path, progress: bool = True, stall_timeout_s: float = 300.0, model: str | None = None
) -> int:
    if not video.is_file():
        print(f"emostream analyze: no such file: {video}")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    camera_id = f"job-{uuid.uuid4().hex[:12]}"
    with stack(PIPELINE, env=model_env(model), only_missing=True) as running:
        running.wait_healthy()
        client = redis.Redis.from_url(running.redis_url)
        t0 = time.monotonic()
        registry.add(client, camera_id, str(video.resolve()), mode="file")
        try:
            result = collect_with_bar(client, camera_id, stall_timeout_s, progress)
        except JobError as exc:
            print(f"emostream analyze: job failed: {exc}")
            return 1
        finally:
            cleanup(client, camera_id)
        processing_s = time.monotonic() - t0
    assert result.end is not None
    if result.end.error:
        (out / "summary.json").write_text(
            json.dumps({"video": str(video), "status": "failed", "error": result.end.error}, indent=2)
        )
        print(f"emostream analyze: job failed: {result.end.error}")
        return 1
    summary = {"status": "done", **write_outputs(video, out, result, processing_s)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"emostream analyze: {summary['frames']} frames in {processing_s:.1f} s "
        f"({summary['processing_fps']} fps), {len(summary['tracks'])} tracks -> {out}"  # type: ignore[arg-type]
    )
    return 0


def collect_with_bar(
    client: redis.Redis, camera_id: str, stall_timeout_s: float, progress: bool
) -> JobResult:
    from tqdm import tqdm

    with tqdm(unit="frame", disable=not progress, desc="analyze") as bar:

        def update(done: int, total: int) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

        return collect(client, camera_id, stall_timeout_s, on_progress=update)
