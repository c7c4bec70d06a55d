"""Session fixtures: a real Redis server and a real MQTT broker (Mosquitto) on free ports, and the sample
media."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
# A local cache of the same files the project fetches from PyPI; a fresh clone does not have it.
SHARED_MEDIA = ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server of the test session's own, on a free port (the same launcher ``up`` uses)."""
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Mosquitto broker of the test session's own on a free port (Debian's ``mosquitto``, which
    ``.ci/run`` installs): ``mqtt://127.0.0.1:PORT``, anonymous clients from this machine."""
    import shutil
    import socket
    import subprocess
    import time

    from tests.support.wait import free_port

    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (.ci/run does)")
    port = free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"mosquitto did not start: {proc.stderr.read() if proc.stderr else ''}"
                ) from None
            time.sleep(0.1)
    yield f"mqtt://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real 3-master Redis Cluster of the session's own (``tests.support.redis_cluster``), with the
    services' ACL users and no anonymous access."""
    from tests.support.redis_cluster import Cluster

    cluster = Cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture()
def cluster_env(redis_cluster: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The environment of a process on ``redis_cluster`` (as admin), for this test and its children; the
    key layout of this process goes back to a single Redis's afterwards."""
    from services.common import keys

    monkeypatch.setenv("EMOSTREAM_REDIS_URL", redis_cluster.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("EMOSTREAM_REDIS_CLUSTER", "1")
    yield redis_cluster
    keys.configure(0)


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def sample_media() -> Path:
    if SHARED_MEDIA.is_dir():
        return SHARED_MEDIA
    from services.cli.samples import ensure_samples

    return ensure_samples()


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # never the user's own data directory (its embedded Redis is locked while their `up` runs)
    monkeypatch.setenv("EMOSTREAM_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
