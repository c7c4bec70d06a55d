"""Every Redis key name in one place.

On a Redis Cluster (:func:`configure` with a shard count, from ``EMOSTREAM_REDIS_CLUSTER``) every key of
a camera carries the hash tag of the camera's shard, ``{sN}``: cameras hash into a fixed number of shards,
so one camera's streams, frames, state and dead letters live in one slot (every MULTI stays in one slot)
and a worker reads the streams of one shard with one XREADGROUP. Keys not of a camera (the registry set,
job records, health keys) are each touched alone, never in a multi-key command. On a single Redis the names
carry no tag, as before.
"""

from __future__ import annotations

import re
import zlib

_shards = 0  # 0: a single Redis, no hash tags
_TAG = re.compile(r"\{(s\d+)\}")


def configure(shards: int) -> None:
    """Use ``shards`` hash-tagged key shards (a Redis Cluster), or none (0: a single Redis)."""
    global _shards
    _shards = max(0, int(shards))


def sharded() -> bool:
    return _shards > 0


def shard(camera_id: str) -> int:
    """The camera's shard: a stable hash of its name (CRC-32), the same in every process."""
    return zlib.crc32(camera_id.encode()) % _shards if _shards else 0


def _tag(camera_id: str) -> str:
    return f"{{s{shard(camera_id)}}}:" if _shards else ""


def tag_of(key: str) -> str:
    """The shard hash tag a key carries (``{s3}``), or '' for an untagged key."""
    found = _TAG.search(key)
    return found.group(0) if found else ""


def _shard_keys(base: str) -> list[str]:
    return [f"emo:{{s{i}}}:{base.removeprefix('emo:')}" for i in range(_shards)] if _shards else [base]


def _same_shard(base: str, key: str) -> str:
    tag = tag_of(key)
    return f"emo:{tag}:{base.removeprefix('emo:')}" if tag else base


CAMERAS = "emo:cameras"  # set of camera ids; workers discover new cameras from it
DEAD = "emo:dead"  # dead letters: entries that could not be processed, with the reason (one per shard)


def dead_of(stream_key: str) -> str:
    """The dead-letter stream for entries of ``stream_key`` (on a cluster: the stream's shard's)."""
    return _same_shard(DEAD, stream_key)


def dead_streams() -> list[str]:
    """Every dead-letter stream (one per shard on a cluster)."""
    return _shard_keys(DEAD)


#: the kinds of stream, one of each per camera, in pipeline order
STREAM_KINDS = ("frames", "faces", "emotions", "tracks")
#: which service consumes which stream, as (input kind, consumer group)
GROUPS = {
    "detector": ("frames", "detector"),
    "classifier": ("faces", "classifier"),
    "tracker": ("emotions", "tracker"),
    "events": ("tracks", "events"),
}


def stream(kind: str, camera_id: str) -> str:
    """The stream of one kind of message (frames, faces, emotions, tracks) of one camera."""
    return f"emo:{_tag(camera_id)}{kind}:{camera_id}"


def camera_of_stream(stream_key: str) -> str:
    """The camera of a per-camera stream's key (:func:`stream`)."""
    return stream_key.split(":", 3 if tag_of(stream_key) else 2)[-1]


def frame(camera_id: str, seq: int | str) -> str:
    """The JPEG of one frame (``seq`` '*': the pattern of all the camera's frames)."""
    return f"frame:{_tag(camera_id)}{camera_id}:{seq}"


def camera(camera_id: str) -> str:
    """Hash: the camera's ``uri``, ``mode``, ``loop``, and live ``status``, ``error``, ``frames``, ``fps``."""
    return f"emo:{_tag(camera_id)}camera:{camera_id}"


def health(service: str, instance: str) -> str:
    return f"emo:health:{service}:{instance}"


def tracker_state(camera_id: str) -> str:
    return f"emo:{_tag(camera_id)}tracker:state:{camera_id}"


def tracker_lease(camera_id: str) -> str:
    """The tracker instance that owns the camera now (a key with a TTL, renewed by its owner)."""
    return f"emo:{_tag(camera_id)}tracker:lease:{camera_id}"


def timeline(camera_id: str) -> str:
    """JSON of the camera's per-track emotion timelines (written by the tracker, read by the UI)."""
    return f"emo:{_tag(camera_id)}timeline:{camera_id}"


JOBS = "emo:jobs"  # sorted set of job ids by created_ms


def job(job_id: str) -> str:
    """Hash: a file job's record (status, progress, outputs, error; see ``common.job_store.JobRecord``)."""
    return f"emo:job:{job_id}"


def job_owner(job_id: str) -> str:
    """The process that runs the job now (a key with a TTL, renewed by its owner)."""
    return f"emo:job:{job_id}:owner"


EVENTS = "emo:events"  # every camera's events (services/events), MAXLEN events_maxlen; one per shard
EVENTS_DEAD = "emo:events:dead"  # events a sink gave up on, with the sink and the reason; one per shard


def events(camera_id: str) -> str:
    """The events stream the camera's events go to (on a cluster: its shard's)."""
    return f"emo:{_tag(camera_id)}events" if _shards else EVENTS


def events_streams() -> list[str]:
    """Every events stream (one per shard on a cluster)."""
    return _shard_keys(EVENTS)


def events_dead_of(events_key: str) -> str:
    return _same_shard(EVENTS_DEAD, events_key)


def events_state(camera_id: str) -> str:
    """JSON of the events service's state of one camera (its tracks, the seq applied up to)."""
    return f"emo:{_tag(camera_id)}events:state:{camera_id}"


def events_lease(camera_id: str) -> str:
    """The events instance that owns the camera now (a key with a TTL, renewed by its owner)."""
    return f"emo:{_tag(camera_id)}events:lease:{camera_id}"


def history(camera_id: str) -> str:
    """Sorted set of the camera's 10 s buckets (score: bucket start, ms): shown-label counts, JSON."""
    return f"emo:{_tag(camera_id)}history:{camera_id}"
