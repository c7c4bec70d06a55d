"""Soak benchmark: the live stack with N sample cameras for M minutes; memory and latency per minute.

Usage: python -m benchmarks.soak [--minutes 60] [--cameras 4] [--media DIR] [--json]

Runs the pipeline on a supervised stack with its own embedded Redis and registers ``--cameras`` looping
sample videos as live cameras (on a 2-core machine that overloads the models: frames are dropped as
superseded, which is the point). It reads every tracks entry as it is added; each minute it prints the
latency p50/p99 per camera (when the tracker added the entry, by its id, minus ``captured_ms``: capture
to tracks, through every stage), the tracked frames per second per camera, the
RSS of every service and Redis ``used_memory``. At the end: the least-squares slope of each memory
series over the run after the first 10 minutes (or the second half of a shorter run), as % per hour of
its mean.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import cast

import numpy as np
import redis

from services.cli.samples import DEMO_CAMERAS, ensure_samples
from services.cli.stack import PIPELINE, stack
from services.common import codec, keys, registry
from services.common.latency import latency_summary
from services.common.schema import Tracks
from services.common.sources import source_loops


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def slope_pct_per_h(minutes: list[float], values: list[float]) -> float:
    if len(values) < 2 or not np.isfinite(values).all():
        return float("nan")
    slope_per_min = float(np.polyfit(minutes, values, 1)[0])
    return slope_per_min * 60 / float(np.mean(values)) * 100


def minute_line(row: dict[str, object]) -> str:
    latency = cast(dict[str, tuple[int, int] | None], row["latency_ms"])
    lat = " ".join(f"{c}={v[0]}/{v[1]}" if v else f"{c}=-" for c, v in latency.items())
    rss = " ".join(f"{k}={v}" for k, v in cast(dict[str, float], row["rss_mb"]).items())
    fps = " ".join(f"{c}={v}" for c, v in cast(dict[str, float], row["tracks_fps"]).items())
    return (
        f"min {row['minute']:>3} latency p50/p99 ms {lat} | tracks fps {fps} | rss MB {rss} "
        f"| redis {row['redis_used_mb']} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--media", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    media = args.media or ensure_samples()
    files = [media / f for f in DEMO_CAMERAS.values()] + [
        media / "single_face.mp4",
        media / "noface_face.mov",
    ]
    rows: list[dict[str, object]] = []
    with stack(PIPELINE, redis_url="") as running:
        running.wait_healthy(300)
        client = redis.Redis.from_url(running.redis_url)
        cams = [f"cam{i}" for i in range(args.cameras)]
        for i, cam in enumerate(cams):
            uri = str(files[i % len(files)])
            registry.add(client, cam, uri, mode="live", loop=source_loops(uri))
        t0 = time.monotonic()
        minute = 0
        samples: dict[str, list[float]] = {c: [] for c in cams}
        # from the start of each (new) stream: a blocking XREAD over several streams answers with the one
        # that woke it, so "$" would miss the others' entries again on every call
        last_id = {keys.stream("tracks", c): "0-0" for c in cams}
        while time.monotonic() - t0 < args.minutes * 60:
            # every tracks entry of every camera: its latency is when the tracker added it (the entry
            # id's milliseconds, Redis's clock) minus when ingest captured the frame
            replies = cast(
                list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],
                client.xread(last_id, count=1000, block=500),
            )
            for stream, entries in replies:
                name = stream.decode()
                for entry_id, fields in entries:
                    last_id[name] = entry_id.decode()
                    msg = codec.decode(fields)
                    if isinstance(msg, Tracks):
                        added_ms = int(entry_id.split(b"-")[0])
                        samples[name.rsplit(":", 1)[1]].append(added_ms - msg.captured_ms)
            if time.monotonic() - t0 >= (minute + 1) * 60:
                minute += 1
                pids = running.supervisor.pids()
                row: dict[str, object] = {
                    "minute": minute,
                    "latency_ms": {
                        c: (summary.p50_ms, summary.p99_ms) if (summary := latency_summary(s)).count else None
                        for c, s in samples.items()
                    },
                    "tracks_fps": {c: round(len(s) / 60, 1) for c, s in samples.items()},
                    "rss_mb": {name: round(rss_mb(pid), 1) for name, pid in sorted(pids.items())},
                    "redis_used_mb": round(
                        int(cast(dict[str, int], client.info("memory"))["used_memory"]) / 2**20, 1
                    ),
                }
                rows.append(row)
                samples = {c: [] for c in cams}
                if not args.json:
                    print(minute_line(row), flush=True)
    skip = 10 if len(rows) > 20 else len(rows) // 2
    tail = rows[skip:]
    xs = [float(cast(int, r["minute"])) for r in tail]
    series: dict[str, list[float]] = {"redis": [float(cast(float, r["redis_used_mb"])) for r in tail]}
    for name in cast(dict[str, float], rows[-1]["rss_mb"]) if rows else {}:
        series[name] = [float(cast(dict[str, float], r["rss_mb"]).get(name, float("nan"))) for r in tail]
    slopes = {k: round(slope_pct_per_h(xs, v), 2) for k, v in series.items()}
    # a sawtooth (streams trimmed at MAXLEN ~, frames expiring) gives a slope that depends on its phase:
    # the means of the first and last ten minutes of the same window say whether it drifts
    window = min(10, len(tail) // 2) or 1
    ends = {
        k: (round(float(np.mean(v[:window])), 1), round(float(np.mean(v[-window:])), 1))
        for k, v in series.items()
    }
    p99_all = [v[1] for r in tail for v in cast(dict[str, object], r["latency_ms"]).values() if v]  # type: ignore[index]
    summary = {
        "minutes": len(rows),
        "from_minute": skip + 1,
        "memory_slope_pct_per_h": slopes,
        "memory_mean_first_last_mb": ends,
        "latency_p99_ms_max": max(p99_all) if p99_all else None,
    }
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
    else:
        print(f"memory slope from minute {skip + 1}, % of mean per hour: {slopes}")
        print(f"memory MB, mean of the first and the last {window} minutes of that window: {ends}")
        print(f"worst per-minute p99 latency: {summary['latency_p99_ms_max']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
