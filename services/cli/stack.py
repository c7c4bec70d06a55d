"""Bring up the services (and an embedded Redis when none is configured) for ``up`` and ``analyze``.

The stack is one supervised runtime: a monitor thread watches every child for the whole run and
restarts a crashed service within about a second, and the embedded Redis on the same port, password and
data directory (its append-only file brings back what it held). SIGTERM, like Ctrl-C, stops everything:
:class:`Interrupted` is raised in the main thread, and leaving the ``stack`` context stops every child and
the embedded Redis, whatever stage start-up was in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import redis

from services.cli import acl, preflight
from services.cli.embedded_redis import EmbeddedRedis, new_password
from services.cli.settings import CliSettings
from services.cli.supervisor import Supervisor
from services.common import health
from services.common.connect import connect
from services.common.credentials import Sealer, new_key
from services.common.lifecycle import Backoff
from services.common.private_files import private_dir
from services.common.settings_check import load_settings

log = logging.getLogger(__name__)

PIPELINE = ("ingest", "detector", "classifier", "tracker")
#: the services that may run as several replicas: consumer groups share their work (the tracker's leases
#: share its cameras). Ingest would read every camera twice, and each ui replica needs its own port.
REPLICABLE = ("detector", "classifier", "tracker")


def parse_replicas(text: str) -> dict[str, int]:
    """``"detector=2,classifier=2"`` -> ``{"detector": 2, "classifier": 2}``; raises ValueError saying why."""
    replicas: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"--replicas takes SERVICE=N[,SERVICE=N...], got {item!r}")
        if name not in REPLICABLE:
            raise ValueError(f"{name!r} cannot have replicas; these can: {', '.join(REPLICABLE)}")
        try:
            n = int(count)
        except ValueError:
            raise ValueError(f"replicas of {name} must be a whole number, got {count.strip()!r}") from None
        if not 1 <= n <= 16:
            raise ValueError(f"replicas of {name} must be 1 to 16, got {n}")
        replicas[name] = n
    return replicas


def file_job_replicas(model: str | None, cores: int | None = None, gpu: bool | None = None) -> dict[str, int]:
    """The processes lossless file jobs get on a CPU machine: one per model stage, and a second one for
    the stage that limits throughput. That is the classifier for a Hugging Face model (Swin-T: about 80 ms
    per face against 45 ms per frame for MTCNN), else the detector. One thread each (``cpu_threads``):
    on 2 cores, ``emostream bench --mode file`` measured two threads per process slower, and the second
    process of the limiting stage +40% fps with the default model, +29% with Swin-T (docs/performance.md).

    Nothing extra with one core, or with a GPU (``EMOSTREAM_DEVICE`` other than cpu, or an NVIDIA device
    node present and no device set)."""
    from services.classifier.loader import DEFAULT_MODEL, is_hugging_face

    cores = cores if cores is not None else (os.cpu_count() or 1)
    if gpu is None:
        device = os.environ.get("EMOSTREAM_DEVICE", "")
        gpu = device.startswith("cuda") or (not device and Path("/dev/nvidiactl").exists())
    if cores < 2 or gpu:
        return {}
    name = model or os.environ.get("EMOSTREAM_MODEL") or DEFAULT_MODEL
    return {"classifier" if is_hugging_face(name) else "detector": 2}


class Interrupted(Exception):  # noqa: N818 -- it is what the user did, not an error of ours
    """SIGTERM or SIGINT arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted` in the main thread."""

    def raise_interrupted(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    old = {sig: signal.signal(sig, raise_interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def source_key(path: Path | None) -> str:
    """``EMOSTREAM_SOURCE_KEY`` when set, else the key kept in ``path`` (made, 0600, on first use), else a
    key for this run alone (``path`` None). It seals camera passwords (:mod:`common.credentials`)."""
    given = os.environ.get("EMOSTREAM_SOURCE_KEY", "")
    if given or path is None:
        return given or new_key()
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_key())
    return path.read_text().strip()


@dataclass
class Stack:
    redis_url: str
    supervisor: Supervisor
    started: tuple[str, ...]
    embedded: EmbeddedRedis | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    sealer: Sealer | None = None  # seals the passwords of the cameras the CLI itself registers
    failed: str = ""  # the services that stopped because of their settings (the stack then stops)

    def wait_healthy(self, timeout_s: float = 120.0) -> None:
        """Block until every started service has a health key; raises TimeoutError naming the missing ones."""
        client = connect(url=self.redis_url)
        deadline = time.monotonic() + timeout_s
        missing = list(self.started)
        try:
            while missing:
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    live = {name.split(":", 1)[0] for name in health.instances(client)}
                    missing = [s for s in self.started if s not in live]
                if not missing:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"services not healthy after {timeout_s:.0f} s: {', '.join(missing)}")
                time.sleep(0.3)
        finally:
            client.close()

    def monitor(self) -> None:
        """Until :attr:`stop`: restart a dead embedded Redis, then any exited service (with backoff). A
        service stopped by its settings stops the stack: :attr:`failed` names it."""
        backoff = Backoff(cap_s=10.0)
        while not self.stop.wait(0.25):
            if given_up := self.supervisor.given_up():
                self.failed = ", ".join(given_up)
                self.stop.set()
                return
            if self.embedded is not None and not self.embedded.alive():
                try:
                    self.embedded.restart()
                    backoff.reset()
                except RuntimeError as exc:
                    delay = backoff.next_s()
                    log.error("embedded redis did not restart error=%r retry_in_s=%.1f", str(exc), delay)
                    self.stop.wait(delay)
                    continue
            self.supervisor.poll()


def model_env(model: str | None) -> dict[str, str]:
    """The environment that makes the classifier service load ``model`` (nothing: its default)."""
    return {"EMOSTREAM_MODEL": model} if model else {}


def running_services(redis_url: str) -> set[str]:
    try:
        client = connect(url=redis_url, socket_connect_timeout=2)
        return {name.split(":", 1)[0] for name in health.instances(client)}
    except redis.RedisError:
        return set()


@contextmanager
def stack(
    services: tuple[str, ...],
    env: dict[str, str] | None = None,
    only_missing: bool = False,
    redis_url: str | None = None,
    data_dir: Path | None = None,
    replicas: dict[str, int] | None = None,
) -> Iterator[Stack]:
    """Run ``services`` against ``redis_url`` (None: ``EMOSTREAM_REDIS_URL``) or, when that is empty, an
    embedded Redis; stop all on exit.

    ``data_dir``: the embedded Redis keeps its append-only file there (None: a temporary directory that
    lasts as long as the stack), and its parent the key that seals camera passwords (:func:`source_key`).
    With ``only_missing``, services that already have a live instance on an external Redis are not
    started. ``replicas``: how many processes of a service to run (default 1),
    each with its own stable consumer name.
    """
    if redis_url is None:
        redis_url = load_settings(CliSettings).redis_url
    # an embedded Redis lets no anonymous client in, and each service in only as its own ACL user
    users = {} if redis_url else acl.new_passwords()
    embedded = None if redis_url else EmbeddedRedis(data_dir=data_dir, password=new_password(), users=users)
    try:
        url = redis_url or (embedded.url if embedded else "")
        wanted = services
        if only_missing and embedded is None:
            present = running_services(url)
            wanted = tuple(s for s in services if s not in present)
        key = source_key(data_dir.parent / "source.key" if data_dir else None)
        supervisor = Supervisor({"EMOSTREAM_REDIS_URL": url, "EMOSTREAM_SOURCE_KEY": key, **(env or {})})
        for name in wanted:
            for _ in range((replicas or {}).get(name, 1)):
                supervisor.add(name, redis_user=(name, users[name]) if users else None)
        preflight.check(supervisor.children)
        running = Stack(url, supervisor, wanted, embedded, sealer=Sealer(key))
        watcher = threading.Thread(target=running.monitor, name="supervisor", daemon=True)
        try:
            supervisor.start()
            watcher.start()
            yield running
        finally:
            running.stop.set()
            if watcher.is_alive():
                watcher.join(10)
            supervisor.stop()
    finally:
        if embedded is not None:
            embedded.stop()
