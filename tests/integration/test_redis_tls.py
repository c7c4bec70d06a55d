"""``rediss://``: the project's Redis client (``services.common.connect``) and a service process over TLS,
against a real TLS-only redis-server with a throwaway CA (``tests.support.tls_redis``) and a password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common import keys
from services.common.connect import connect
from tests.support.tls_redis import TLSRedis, TLSUnsupported, make_ca
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HEALTH_KEY = keys.health("ingest", "tls-ingest")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedis]:
    try:
        server = TLSRedis(tmp_path_factory.mktemp("tls-redis"))
    except TLSUnsupported as exc:
        pytest.skip(f"this redis-server has no TLS support: {exc}")
    yield server
    server.stop()


@pytest.fixture()
def tls_env(tls_redis: TLSRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[TLSRedis]:
    """The environment of a client of ``tls_redis``: its URL, its password and the CA that signed it."""
    for name in ("EMOSTREAM_REDIS_USERNAME", "EMOSTREAM_REDIS_CLUSTER", "EMOSTREAM_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMOSTREAM_REDIS_URL", tls_redis.url)
    monkeypatch.setenv("EMOSTREAM_REDIS_PASSWORD", tls_redis.password)
    monkeypatch.setenv("EMOSTREAM_REDIS_TLS_CA", str(tls_redis.ca))
    yield tls_redis
    keys.configure(0)


def test_connect_over_tls_with_the_ca_and_password(tls_env: TLSRedis) -> None:
    client = connect()
    try:
        assert client.connection_pool.connection_class is redis.SSLConnection
        assert client.ping() is True
        client.set("emo:test:tls", "über TLS", ex=60)
        assert client.get("emo:test:tls") == "über TLS".encode()
    finally:
        client.close()


def test_connect_over_tls_without_the_password_is_refused(
    tls_env: TLSRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMOSTREAM_REDIS_PASSWORD")
    client = connect(socket_timeout=5)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.ping()
    finally:
        client.close()


@pytest.mark.parametrize("ca", ["none", "another CA"])
def test_an_unknown_server_certificate_is_refused(
    tls_env: TLSRedis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ca: str
) -> None:
    """No CA (the system's store only) or another CA: the handshake fails, the client never trusts it."""
    if ca == "none":
        monkeypatch.delenv("EMOSTREAM_REDIS_TLS_CA")
    else:
        other, _ = make_ca(tmp_path, "other-ca")
        monkeypatch.setenv("EMOSTREAM_REDIS_TLS_CA", str(other))
    client = connect(socket_timeout=5, socket_connect_timeout=5)
    try:
        with pytest.raises(redis.ConnectionError) as raised:
            client.ping()
        assert "certificate verify failed" in str(raised.value).lower()
    finally:
        client.close()


def test_a_plaintext_client_to_the_tls_port_fails(tls_env: TLSRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOSTREAM_REDIS_URL", f"redis://127.0.0.1:{tls_env.port}/0")
    client = connect(socket_timeout=5, socket_connect_timeout=5)
    try:
        assert client.connection_pool.connection_class is redis.Connection
        with pytest.raises(redis.ConnectionError):
            client.ping()
    finally:
        client.close()


def test_the_ingest_service_runs_and_checks_healthy_over_tls(
    tls_env: TLSRedis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EMOSTREAM_INSTANCE", "tls-ingest")
    monkeypatch.setenv("EMOSTREAM_HEALTH_TTL_S", "3")
    env = dict(os.environ)
    observer = tls_env.client()  # the test's own view of the server, not through connect()
    observer.delete(HEALTH_KEY)
    log_path = tmp_path / "ingest.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        try:
            wait_for(
                lambda: proc.poll() is not None or observer.exists(HEALTH_KEY),
                30,
                "the ingest service's health key over TLS",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log:\n{log_path.read_text()}") from None
        assert proc.poll() is None, f"ingest exited {proc.returncode}:\n{log_path.read_text()}"

        check = subprocess.run(
            [sys.executable, "-m", "services.ingest", "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, f"--check: {check.stdout}{check.stderr}"
        no_ca = {k: v for k, v in env.items() if k != "EMOSTREAM_REDIS_TLS_CA"}
        unverified = subprocess.run(
            [sys.executable, "-m", "services.ingest", "--check"], cwd=ROOT, env=no_ca, timeout=60
        )
        assert unverified.returncode == 1, "--check must not trust the server without the CA"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_path.read_text()
        assert not observer.exists(HEALTH_KEY), "a stopped service clears its health key"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        observer.close()
