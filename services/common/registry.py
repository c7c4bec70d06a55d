"""The camera registry: the set ``emo:cameras`` plus one hash per camera (see :func:`keys.camera`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis

from services.common import credentials, keys
from services.common.credentials import CredentialError, Sealer
from services.common.schema import Mode
from services.common.sources import SourceError, check_uri

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class CameraError(ValueError):
    """A camera name or URI that cannot be registered."""


@dataclass(frozen=True)
class Camera:
    camera_id: str
    uri: str  # with any password masked (``rtsp://user:***@host/...``): safe to show and to log
    mode: Mode
    loop: bool
    status: str = "new"  # new | running | error | done | failed
    error: str = ""
    frames: int = 0
    fps: float = 0.0
    total_frames: int = 0  # file jobs: frames in the source, when known
    sealed_password: str = ""  # the URI's password, sealed with EMOSTREAM_SOURCE_KEY (common.credentials)

    def source_uri(self, sealer: Sealer | None) -> str:
        """The URI to open, password included. Raises CameraError when it has one and ``sealer`` cannot
        open it (no EMOSTREAM_SOURCE_KEY, or another one)."""
        if not self.sealed_password:
            return self.uri
        if sealer is None:
            raise CameraError(
                f"camera {self.camera_id} has a password: this service needs EMOSTREAM_SOURCE_KEY"
            )
        try:
            return credentials.join(self.uri, sealer.open(self.sealed_password))
        except CredentialError as exc:
            raise CameraError(str(exc)) from None


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def validate_name(camera_id: str) -> str:
    """``camera_id`` unchanged; raises :class:`CameraError` naming the rule it breaks."""
    if not isinstance(camera_id, str) or not _NAME.fullmatch(camera_id):
        raise CameraError(f"camera name {camera_id!r} must be 1-64 of letters, digits, '_', '.', '-'")
    return camera_id


def add(
    client: redis.Redis,
    camera_id: str,
    uri: str,
    mode: Mode = "live",
    loop: bool = False,
    sealer: Sealer | None = None,
) -> Camera:
    """Register a camera (replacing one of the same name). Workers pick it up within a second.

    A password in ``uri`` is stored sealed by ``sealer``, apart from the URI (:mod:`common.credentials`);
    the returned camera, like every one :func:`get` gives, has it masked.

    Raises :class:`CameraError` for a bad name, a URI that ``sources.check_uri`` refuses, or a URI with a
    password and no ``sealer`` (it would be stored in clear)."""
    validate_name(camera_id)
    try:
        check_uri(uri)
    except SourceError as exc:
        raise CameraError(str(exc)) from exc
    uri, password = credentials.split(uri)
    if password and sealer is None:
        raise CameraError(
            "the camera URI carries a password: set EMOSTREAM_SOURCE_KEY (`up` makes one) so that it is "
            "stored encrypted, never in clear"
        )
    fields: dict[str, str | int] = {"uri": uri, "mode": mode, "loop": int(loop), "status": "new"}
    if password and sealer is not None:
        fields["sealed_password"] = sealer.seal(password)
    # the hash first, then the set that workers discover cameras from: on a Redis Cluster the two live in
    # different slots, so they cannot share a MULTI, and a worker must never find a camera without a hash
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.camera(camera_id))
    pipe.hset(keys.camera(camera_id), mapping=fields)  # type: ignore[arg-type]  # redis-py's mapping is invariant in its key type
    pipe.execute()
    client.sadd(keys.CAMERAS, camera_id)
    return Camera(camera_id, uri, mode, loop, sealed_password=str(fields.get("sealed_password", "")))


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
    """Update the camera's status fields; a password in any text (an error naming the URL) is masked."""
    safe = {k: credentials.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
    client.hset(keys.camera(camera_id), mapping=safe)  # type: ignore[arg-type]  # redis-py's mapping is invariant in its key type


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
        sealed_password=raw.get("sealed_password", ""),
    )


def _number(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def all_cameras(client: redis.Redis) -> list[Camera]:
    ids = sorted(_s(m) for m in client.smembers(keys.CAMERAS))
    return [c for c in (get(client, i) for i in ids) if c is not None]
