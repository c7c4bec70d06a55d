"""Publishing a frame: the JPEG stored once under ``frame:{cam}:{seq}``, a reference XADDed beside it."""

from __future__ import annotations

import time

import redis

from services.common import codec, keys
from services.common.schema import Frame, Mode


def queue_frame(
    pipe: redis.client.Pipeline,
    camera_id: str,
    seq: int,
    captured_ms: int,
    jpeg: bytes,
    size_wh: tuple[int, int],
    mode: Mode,
    ttl_s: int,
    maxlen: int,
    status: dict[str, str | int | float] | None = None,
) -> Frame:
    """Queue on ``pipe`` (a MULTI the caller executes) the storing of the JPEG (TTL ``ttl_s`` for live
    frames, none for file jobs), the XADD of its reference to ``emo:frames:{cam}``, and ``status`` merged
    into the camera's hash. Several frames in one MULTI cost one round trip, and all are published or
    none."""
    ref = Frame(
        camera_id=camera_id,
        seq=seq,
        captured_ms=captured_ms,
        mode=mode,
        frame_key=keys.frame(camera_id, seq),
        size_wh=size_wh,
        hops={"ingest": int(time.time() * 1000)},
    )
    pipe.set(ref.frame_key, jpeg, ex=ttl_s if mode == "live" else None)
    pipe.xadd(keys.stream("frames", camera_id), codec.encode(ref), maxlen=maxlen, approximate=True)
    fields: dict[str, str | int | float] = {"next_seq": seq + 1, "last_ms": captured_ms, **(status or {})}
    pipe.hset(keys.camera(camera_id), mapping=fields)  # type: ignore[arg-type]  # redis-py's mapping is invariant in its key type
    return ref
