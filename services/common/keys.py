"""Every Redis key name in one place."""

from __future__ import annotations

CAMERAS = "emo:cameras"  # set of camera ids; workers discover new cameras from it
DEAD = "emo:dead"  # dead letters: entries that could not be processed, with the reason

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
    return f"emo:{kind}:{camera_id}"


def frame(camera_id: str, seq: int) -> str:
    return f"frame:{camera_id}:{seq}"


def camera(camera_id: str) -> str:
    """Hash: the camera's ``uri``, ``mode``, ``loop``, and live ``status``, ``error``, ``frames``, ``fps``."""
    return f"emo:camera:{camera_id}"


def health(service: str, instance: str) -> str:
    return f"emo:health:{service}:{instance}"


def tracker_state(camera_id: str) -> str:
    return f"emo:tracker:state:{camera_id}"


def tracker_lease(camera_id: str) -> str:
    """The tracker instance that owns the camera now (a key with a TTL, renewed by its owner)."""
    return f"emo:tracker:lease:{camera_id}"


def timeline(camera_id: str) -> str:
    """JSON of the camera's per-track emotion timelines (written by the tracker, read by the UI)."""
    return f"emo:timeline:{camera_id}"


JOBS = "emo:jobs"  # sorted set of job ids by created_ms


def job(job_id: str) -> str:
    """Hash: a file job's record (status, progress, outputs, error; see ``common.job_store.JobRecord``)."""
    return f"emo:job:{job_id}"


def job_owner(job_id: str) -> str:
    """The process that runs the job now (a key with a TTL, renewed by its owner)."""
    return f"emo:job:{job_id}:owner"


EVENTS = "emo:events"  # every camera's events (services/events), MAXLEN events_maxlen
EVENTS_DEAD = "emo:events:dead"  # events a sink gave up on, with the sink and the reason


def events_state(camera_id: str) -> str:
    """JSON of the events service's state of one camera (its tracks, the seq applied up to)."""
    return f"emo:events:state:{camera_id}"


def events_lease(camera_id: str) -> str:
    """The events instance that owns the camera now (a key with a TTL, renewed by its owner)."""
    return f"emo:events:lease:{camera_id}"


def history(camera_id: str) -> str:
    """Sorted set of the camera's 10 s buckets (score: bucket start, ms): shown-label counts, JSON."""
    return f"emo:history:{camera_id}"
