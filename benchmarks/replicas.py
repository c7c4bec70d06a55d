"""Replica scaling of the stream worker, with a stand-in stage of fixed service time that uses no CPU.

Usage: python -m benchmarks.replicas [--service-ms 20] [--messages 400] [--replicas 1,2,4,8] [--json]
       python -m benchmarks.replicas --cluster [--messages 400] [--json]

For each replica count k, on a fresh embedded Redis: k worker processes run the real
:class:`~services.common.worker.Worker` (consumer group, XREADGROUP, one MULTI per batch with outputs and
acks) around a handler that sleeps ``--service-ms`` per entry. Once all k beat their health key,
``--messages`` file-mode frame references are added over 4 camera streams at once, and the run is timed
until every output is on the output streams. One replica can do at most ``1000 / service_ms`` entries a
second, so k replicas should give about k times that until Redis or the CPU limits it.

It then measures the same with a service time of 0 (what the transport alone sustains), and the cost of
one hop: one replica, entries added at 100 per second, latency = output entry id time - input entry id
time, p50 and p99.

``--cluster`` compares, in one run, the transport (service time 0, 1 and 2 replicas) and the one-hop
latency on a single Redis against a 3-master Redis Cluster on this machine (``tests.support.redis_cluster``:
ACL users, the workers' keys hash-tagged, reads and MULTIs one per shard), alternating the two twice.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import redis

from services.cli.embedded_redis import EmbeddedRedis
from services.common import codec, health, keys
from services.common.connect import connect
from services.common.latency import latency_summary
from services.common.schema import Frame, Message
from services.common.settings import CommonSettings, RedisSettings
from services.common.streams import Batch, Entry
from services.common.worker import Worker, map_stage

CAMERAS = [f"c{i}" for i in range(4)]


class SleepHandler:
    """A stage whose service time is ``service_ms`` per entry and whose CPU use is nil."""

    def __init__(self, service_ms: float) -> None:
        self.service_s = service_ms / 1000
        self.stats: Counter[str] = Counter()

    def handle(self, entries: list[Entry], now_ms: int) -> Batch:
        return map_stage(
            entries,
            now_ms,
            service="bench",
            output_kind="faces",
            max_age_ms=10**9,
            accept=Frame,
            process=self._process,
            stats=self.stats,
        )

    def _process(self, messages: Sequence[Message]) -> list[Message | Exception]:
        time.sleep(self.service_s * len(messages))
        return list(messages)

    def tick(self, now_ms: int) -> Batch:
        return Batch()


def replica(url: str, index: int, service_ms: float, cluster: bool = False) -> None:
    settings = CommonSettings(
        redis_url=url, instance=f"r{index}", read_count=8, max_wait_ms=5, watchdog_s=0, redis_cluster=cluster
    )
    worker = Worker("bench", settings, SleepHandler(service_ms), "frames", "bench")
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    worker.run()


def frame(cam: str, seq: int) -> dict[bytes | str, bytes | str]:
    msg = Frame(
        camera_id=cam,
        seq=seq,
        captured_ms=time.time_ns() // 1_000_000,
        mode="file",
        frame_key=keys.frame(cam, seq),
        size_wh=(640, 360),
    )
    return cast(dict[bytes | str, bytes | str], codec.encode(msg))


def outputs(client: redis.Redis) -> int:
    return sum(int(client.xlen(keys.stream("faces", c))) for c in CAMERAS)


@contextmanager
def server(cluster: bool) -> Iterator[str]:
    """A fresh single Redis, or a fresh 3-master cluster; its URL."""
    if not cluster:
        with EmbeddedRedis() as single:
            yield single.url
        return
    from tests.support.redis_cluster import Cluster

    with tempfile.TemporaryDirectory() as root:
        nodes = Cluster(Path(root))
        try:
            yield nodes.url
        finally:
            nodes.stop()


def run(
    k: int, service_ms: float, messages: int, paced_per_s: float = 0, cluster: bool = False
) -> dict[str, float]:
    """One measurement: throughput (entries/s) and, when paced, per-entry latency."""
    with server(cluster) as url:
        client = connect(RedisSettings(redis_url=url, redis_cluster=cluster))
        client.sadd(keys.CAMERAS, *CAMERAS)
        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(target=replica, args=(url, i, service_ms, cluster), daemon=True) for i in range(k)
        ]
        for p in procs:
            p.start()
        deadline = time.monotonic() + 120
        while len(health.instances(client, "bench")) < k:
            if time.monotonic() > deadline:
                raise RuntimeError("replicas did not start")
            time.sleep(0.1)
        time.sleep(1.5)  # every replica has found the streams and created the group
        t0 = time.monotonic()
        pipe = client.pipeline(transaction=False)
        for i in range(messages):
            cam = CAMERAS[i % len(CAMERAS)]
            pipe.xadd(keys.stream("frames", cam), frame(cam, i // len(CAMERAS)))
            if paced_per_s:
                pipe.execute()
                time.sleep(1 / paced_per_s)
        pipe.execute()
        while outputs(client) < messages:
            if time.monotonic() - t0 > 600:
                raise RuntimeError("outputs did not arrive")
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        result = {"replicas": k, "service_ms": service_ms, "entries_per_s": round(messages / elapsed, 1)}
        if paced_per_s:
            lat = []
            for cam in CAMERAS:
                ins = client.xrange(keys.stream("frames", cam))
                outs = client.xrange(keys.stream("faces", cam))
                for (in_id, _), (out_id, _) in zip(ins, outs, strict=True):
                    lat.append(int(out_id.split(b"-")[0]) - int(in_id.split(b"-")[0]))
            hop = latency_summary(lat)
            result["hop_p50_ms"], result["hop_p99_ms"] = hop.p50_ms, hop.p99_ms
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(10)
        keys.configure(0)
        return result


def compare_cluster(messages: int, as_json: bool) -> int:
    """Single Redis against a 3-master cluster, alternated (A B A B): the better of each pair of runs."""
    rows: dict[str, dict[str, float]] = {}
    for name in ("single", "cluster", "single", "cluster"):
        cluster = name == "cluster"
        best = rows.setdefault(name, {})
        for k in (1, 2):
            got = run(k, 0, messages * 5, cluster=cluster)["entries_per_s"]
            best[f"transport_{k}"] = max(best.get(f"transport_{k}", 0.0), got)
        hop = run(1, 0, 500, paced_per_s=100, cluster=cluster)
        for q in ("hop_p50_ms", "hop_p99_ms"):
            best[q] = min(best.get(q, float("inf")), hop[q])
    if as_json:
        print(json.dumps(rows))
        return 0
    print(
        f"transport (service time 0) and one hop at 100/s, {len(CAMERAS)} camera streams, best of 2 runs each"
    )
    for name, row in rows.items():
        print(
            f"  {name:8s} 1 replica {row['transport_1']:8.1f} entries/s, 2 replicas {row['transport_2']:8.1f}"
            f" entries/s; hop p50 {row['hop_p50_ms']} ms, p99 {row['hop_p99_ms']} ms"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--service-ms", type=float, default=20)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--replicas", default="1,2,4,8")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cluster", action="store_true", help="single Redis against a 3-master cluster")
    args = parser.parse_args(argv)
    if args.cluster:
        return compare_cluster(args.messages, args.json)
    counts = [int(x) for x in args.replicas.split(",")]
    rows = [run(k, args.service_ms, args.messages) for k in counts]
    base = rows[0]["entries_per_s"]
    for row in rows:
        row["speedup"] = round(row["entries_per_s"] / base, 2)
    transport = [run(k, 0, args.messages * 5) for k in counts[:3]]
    hop = run(1, 0, 500, paced_per_s=100)
    if args.json:
        print(json.dumps({"sleep_stage": rows, "transport_only": transport, "hop": hop}))
        return 0
    ideal = 1000 / args.service_ms
    print(f"stand-in stage: {args.service_ms} ms per entry, no CPU (one replica can do {ideal:.0f}/s)")
    for row in rows:
        print(f"  replicas={row['replicas']}: {row['entries_per_s']} entries/s, x{row['speedup']}")
    print("service time 0 (what the transport sustains):")
    for row in transport:
        print(f"  replicas={row['replicas']}: {row['entries_per_s']} entries/s")
    print(f"one hop at 100 entries/s: p50 {hop['hop_p50_ms']} ms, p99 {hop['hop_p99_ms']} ms")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    raise SystemExit(main())
