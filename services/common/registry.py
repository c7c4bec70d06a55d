"""The camera registry: the set ``emo:cameras`` plus one hash per camera (see :func:`keys.camera`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis

from services.common import keys
from services.common.schema import Mode
from services.common.sources import SourceError, check_uri

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class CameraError(ValueError):
    """A camera name or URI that cannot be registered."""


@dataclass(frozen=True)
class Camera:
    camera_id: str
    uri: str
    mode: Mode
    loop: bool
    status: str = "new"  # new | running | error | done | failed
    error: str = ""
    frames: int = 0
    fps: float = 0.0
    total_frames: int = 0  # file jobs: frames in the source, when known


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def validate_name(camera_id: str) -> str:
    """``camera_id`` unchanged; raises :class:`CameraError` naming the rule it breaks."""
    if not isinstance(camera_id, str) or not _NAME.fullmatch(camera_id):
        raise CameraError(f"camera name {camera_id!r} must be 1-64 of letters, digits, '_', '.', '-'")
    return camera_id


def add(client: redis.Redis, camera_id: str, uri: str, mode: Mode = "live", loop: bool = False) -> Camera:
    """Register a camera (replacing one of the same name). Workers pick it up within a second.

    Raises :class:`CameraError` for a bad name or a URI that ``sources.check_uri`` refuses."""
    validate_name(camera_id)
    try:
        check_uri(uri)
    except SourceError as exc:
        raise CameraError(str(exc)) from exc
    # the hash first, then the set that workers discover cameras from: on a Redis Cluster the two live in
    # different slots, so they cannot share a MULTI, and a worker must never find a camera without a hash
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.camera(camera_id))
    pipe.hset(keys.camera(camera_id), mapping={"uri": uri, "mode": mode, "loop": int(loop), "status": "new"})
    pipe.execute()
    client.sadd(keys.CAMERAS, camera_id)
    return Camera(camera_id, uri, mode, loop)


def remove(client: redis.Redis, camera_id: str, drop_streams: bool = True) -> bool:
    """Unregister a camera; with ``drop_streams`` also delete its streams. Returns False if unknown."""
    removed = client.srem(keys.CAMERAS, camera_id)  # first: no worker picks the camera up again
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.camera(camera_id))
    if drop_streams:
        pipe.delete(
            *(keys.stream(kind, camera_id) for kind in keys.STREAM_KINDS), keys.tracker_state(camera_id)
        )
    pipe.execute()
    return bool(removed)


def set_status(
    client: redis.Redis | redis.client.Pipeline, camera_id: str, **fields: str | int | float
) -> None:
    client.hset(keys.camera(camera_id), mapping=fields)  # type: ignore[arg-type]


def get(client: redis.Redis, camera_id: str) -> Camera | None:
    """The camera, or None when it is not registered. A hash written by hand with malformed counters
    still gives a camera (the counters read as 0), so one bad entry never breaks the whole registry."""
    raw = {_s(k): _s(v) for k, v in client.hgetall(keys.camera(camera_id)).items()}
    if not raw or "uri" not in raw:
        return None
    return Camera(
        camera_id=camera_id,
        uri=raw["uri"],
        mode="file" if raw.get("mode") == "file" else "live",
        loop=raw.get("loop") == "1",
        status=raw.get("status", "new"),
        error=raw.get("error", ""),
        frames=int(_number(raw.get("frames"))),
        fps=_number(raw.get("fps")),
        total_frames=int(_number(raw.get("total_frames"))),
    )


def _number(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def all_cameras(client: redis.Redis) -> list[Camera]:
    ids = sorted(_s(m) for m in client.smembers(keys.CAMERAS))
    return [c for c in (get(client, i) for i in ids) if c is not None]
