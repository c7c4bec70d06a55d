"""Session fixtures: a real Redis server on a free port, and the sample media."""

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
