"""Erasure from the dashboard: ``DELETE /api/cameras/{name}?purge=true`` and ``DELETE /api/jobs/{id}``
(``?purge=true``), over :mod:`services.common.purge` (docs/privacy.md)."""

from __future__ import annotations

import redis
from fastapi import HTTPException

from services.common.job_store import JobStore
from services.common.purge import (
    JobRunning,
    RewriteError,
    UnknownJob,
    delete_job,
    purge_camera,
    purge_job,
    rewrite_files,
)
from services.common.registry import CameraError


def _rewrite(client: redis.Redis) -> None:
    try:
        rewrite_files(client)
    except (RewriteError, redis.RedisError) as exc:
        # the data is gone from Redis; only its files on disk may still hold it: say so, never 2xx
        raise HTTPException(502, f"deleted, but redis did not rewrite its files: {exc}") from exc


def erase_camera(client: redis.Redis, name: str) -> None:
    """Everything kept of the camera ``name``, registered or removed before, and Redis's files
    rewritten. Raises HTTPException: 404 for a name no camera can have, 502 when the rewrite failed."""
    try:
        purge_camera(client, name)
    except CameraError as exc:
        raise HTTPException(404, str(exc)) from exc
    _rewrite(client)


def erase_job(store: JobStore, job_id: str, purge: bool) -> None:
    """The job's record and directory; with ``purge`` everything of its camera in Redis too, and Redis's
    files rewritten. Raises HTTPException: 404 unknown, 409 still running, 502 the rewrite failed."""
    try:
        if purge:
            purge_job(store, job_id)
        else:
            delete_job(store, job_id)
    except UnknownJob as exc:
        raise HTTPException(404, str(exc)) from exc
    except JobRunning as exc:
        raise HTTPException(409, str(exc)) from exc
    if purge:
        _rewrite(store.redis)
