"""A fleet of real services on test hosts (``tests.support.hosts``): Redis on a host of its own, each
other service as a process on the host a layout names, a webhook receiver on the test's side. Used by the
partition tests (``tests/e2e/test_partitions.py``) and the slow-link test (``tests/e2e/test_slow_links.py``).
"""

from __future__ import annotations

import csv
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from services.cli.analyze import new_jobs, run_jobs
from services.common import health, keys
from tests.support.clips import frame_count
from tests.support.events import SECRET, Receiver
from tests.support.hosts import Host, Hosts, tcp_connect_s
from tests.support.wait import wait_for

REDIS_PORT = 6379
CLAIM_IDLE_MS = 3000
LEASE_MS = 5000
UI_PORT = 7860
UI_TOKEN = "partition-token"


@dataclass
class Fleet:
    hosts: Hosts
    redis_url: str
    client: redis.Redis
    logs: Path
    receiver: Receiver

    def start(self, host: Host, service: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_REDIS")}
        env |= {
            "EMOSTREAM_REDIS_URL": self.redis_url,
            "EMOSTREAM_INSTANCE": f"{service}-{host.name}",
            "EMOSTREAM_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS),
            "EMOSTREAM_LEASE_MS": str(LEASE_MS),
            "EMOSTREAM_LOG_LEVEL": "INFO",
        }
        if service == "events":
            env |= {
                "EMOSTREAM_WEBHOOK_URL": self.receiver.url,
                "EMOSTREAM_WEBHOOK_SECRET": SECRET,
                "EMOSTREAM_WEBHOOK_BACKOFF_S": "0.2",
            }
        if service == "ui":
            env |= {"EMOSTREAM_HOST": host.address, "EMOSTREAM_PORT": str(UI_PORT)}
            env |= {"EMOSTREAM_API_TOKEN": UI_TOKEN}
        log = self.logs / f"{service}-{host.name}.log"
        host.run([sys.executable, "-m", f"services.{service}"], env=env, log=log)

    def stats(self, service: str, instance: str) -> dict[str, object] | None:
        """The live health record of one instance (its counters), None while it has none."""
        return health.instances(self.client, service).get(f"{service}:{instance}")


@contextmanager
def running_fleet(layout: Mapping[str, Sequence[str]], logs: Path, shaped: bool = False) -> Iterator[Fleet]:
    """Hosts ``redis`` and those of ``layout`` (host -> its services, each instance ``service-host``),
    every service started and beating; with ``shaped``, every service reaches Redis (and the webhook)
    over the shaped network, so ``Host.netem`` slows all of it."""
    with Hosts(["redis", *layout], shaped=shaped) as hosts:
        server = hosts["redis"]
        server.run(
            [
                "redis-server",
                "--bind",
                "0.0.0.0",  # the bridge's address and, with ``shaped``, the shaped network's
                "--port",
                str(REDIS_PORT),
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(logs),
            ],
            log=logs / "redis.log",
        )
        address = (server.shaped_address if shaped else None) or server.address
        wait_for(lambda: tcp_connect_s(address, REDIS_PORT, 0.5) is not None, 20, "redis in its host")
        url = f"redis://{address}:{REDIS_PORT}/0"
        client = redis.Redis.from_url(url, socket_timeout=5)
        # the webhook receiver listens on the test's own address, where every host reaches it
        receiver = Receiver(host=f"{hosts.shaped_prefix if shaped else hosts.prefix}.254")
        running = Fleet(hosts, url, client, logs, receiver)
        wanted = set()
        for name, services in layout.items():
            for service in services:
                running.start(hosts[name], service)
                wanted.add(f"{service}:{service}-{name}")
        try:
            wait_for(lambda: wanted <= set(health.instances(client)), 240, "every service's health key")
        except Exception:
            for log in sorted(logs.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-2000:]}")
            raise
        try:
            yield running
        finally:
            client.close()
            receiver.close()


class Job:
    """A file job of ``video`` run on the fleet from the test's side of the bridge (a thread)."""

    def __init__(self, fleet: Fleet, video: Path, out: Path) -> None:
        (self.record,) = new_jobs([video], out)
        self.frames = frame_count(video)
        self.errors: dict[str, str] = {}
        self.thread = threading.Thread(
            target=lambda: self.errors.update(
                run_jobs(fleet.redis_url, [self.record], progress=False, stall_timeout_s=300)
            )
        )
        self.thread.start()

    @property
    def camera(self) -> str:
        return self.record.camera_id

    def finish(self, timeout_s: float = 240) -> None:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the job did not finish in {timeout_s} s"
        assert self.record.status == "done", self.errors

    def check_every_frame_once(self, client: redis.Redis) -> None:
        with open(Path(self.record.out) / "tracks.csv", newline="") as fh:
            rows = [(int(r["frame"]), r["track_id"]) for r in csv.DictReader(fh)]
        assert len(rows) == len(set(rows)), "a frame answered twice"
        assert {f for f, _ in rows} == set(range(self.frames)), "a frame lost"
        summary = self.record.summary
        assert summary is not None and summary.frames == self.frames and summary.frames_skipped == 0
        assert not [e for s in keys.dead_streams() for e in client.xrange(s)], "dead letters"
