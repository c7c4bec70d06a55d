"""A camera's password is stored apart from its URI, sealed: Redis never holds it in clear, the registry
shows it masked, and only a holder of the source key gets the URI to open back."""

from __future__ import annotations

import pytest
import redis

from services.common import credentials, keys, registry
from services.common.credentials import Sealer

pytestmark = pytest.mark.integration

URI = "rtsp://viewer:s3cret-Pa55@198.18.0.7:554/stream1"


def dump(client: redis.Redis) -> bytes:
    """Every key and value Redis holds, as bytes (what a reader of its memory or AOF would see)."""
    out = b""
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"hash":
            out += key + b"".join(k + v for k, v in client.hgetall(key).items())
        elif kind == b"set":
            out += key + b"".join(client.smembers(key))
        elif kind == b"string":
            out += key + (client.get(key) or b"")
    return out


def test_password_is_sealed_apart_and_opens_with_the_key(redis_client: redis.Redis) -> None:
    sealer = Sealer(credentials.new_key())
    added = registry.add(redis_client, "door", URI, sealer=sealer)
    assert added.uri == "rtsp://viewer:***@198.18.0.7:554/stream1"
    assert b"s3cret-Pa55" not in dump(redis_client)
    camera = registry.get(redis_client, "door")
    assert camera is not None and camera.uri == added.uri
    assert camera.source_uri(sealer) == URI
    with pytest.raises(registry.CameraError, match="needs EMOSTREAM_SOURCE_KEY"):
        camera.source_uri(None)
    with pytest.raises(registry.CameraError, match="another EMOSTREAM_SOURCE_KEY"):
        camera.source_uri(Sealer(credentials.new_key()))


def test_a_password_without_a_key_is_refused_and_nothing_stored(redis_client: redis.Redis) -> None:
    with pytest.raises(registry.CameraError, match="set EMOSTREAM_SOURCE_KEY"):
        registry.add(redis_client, "door", URI)
    assert registry.get(redis_client, "door") is None
    assert b"s3cret-Pa55" not in dump(redis_client)


def test_an_error_naming_the_url_is_stored_masked(redis_client: redis.Redis) -> None:
    registry.add(redis_client, "door", URI, sealer=Sealer(credentials.new_key()))
    registry.set_status(redis_client, "door", status="error", error=f"cannot open url {URI!r}")
    camera = registry.get(redis_client, "door")
    assert camera is not None and "s3cret" not in camera.error and "viewer:***@" in camera.error
    assert b"s3cret-Pa55" not in redis_client.hget(keys.camera("door"), "error")
