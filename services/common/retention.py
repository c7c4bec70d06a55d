"""Retention: nothing kept longer than ``EMOSTREAM_RETENTION_HOURS`` (docs/privacy.md).

:class:`Janitor` deletes what is older than the retention: finished video jobs (record, upload and
outputs, by when they finished), history buckets (by their start), and entries of the events, dead-letter
and per-camera streams (``XTRIM MINID``: a stream entry's id is the millisecond it was added). It logs
what it deleted, counted by kind, never what it was. The ui runs one (:func:`start_janitor`); several ui
replicas may, each sweep is idempotent. The clock is a parameter, so tests move time instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

import redis

from services.common import keys
from services.common.job_store import JobStore
from services.common.purge import JobRunning, UnknownJob, delete_job

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
#: history keys on a single Redis (``emo:history:cam``) and on a cluster (``emo:{s3}:history:cam``)
HISTORY_PATTERN = "emo:*history:*"


class Janitor:
    """Deletes what is older than ``retention_h`` hours (see the module docstring) on :meth:`sweep`."""

    def __init__(
        self,
        client: redis.Redis,
        retention_h: float,
        store: JobStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention_h <= 0:
            raise ValueError("retention_h must be above 0 (0 means: keep, and runs no janitor)")
        self.redis = client
        self.retention_ms = round(retention_h * HOUR_MS)
        self.store = store or JobStore(client)
        self.clock = clock

    def cutoff_ms(self) -> int:
        return int(self.clock() * 1000) - self.retention_ms

    def sweep(self) -> Counter[str]:
        """One pass; returns what was deleted, by kind, and logs it when anything was."""
        cutoff = self.cutoff_ms()
        done: Counter[str] = Counter()
        for job in self.store.all():
            if job.status in ("done", "failed") and (job.finished_ms or job.created_ms) < cutoff:
                try:
                    _, deleted = delete_job(self.store, job.id)
                except (UnknownJob, JobRunning):  # another replica was quicker, or it runs again
                    continue
                done.update({"jobs": 1, "job_files": deleted["files"]})
        for key in self.redis.scan_iter(match=HISTORY_PATTERN, count=1000):
            done["history_buckets"] += int(self.redis.zremrangebyscore(key, "-inf", f"({cutoff}"))
        minid = f"{cutoff}-0"
        for stream in [*keys.events_streams(), *(keys.events_dead_of(s) for s in keys.events_streams())]:
            done["events"] += int(self.redis.xtrim(stream, minid=minid, approximate=False))
        for stream in keys.dead_streams():
            done["dead_letters"] += int(self.redis.xtrim(stream, minid=minid, approximate=False))
        cameras = sorted(c.decode() for c in cast(set[bytes], self.redis.smembers(keys.CAMERAS)))
        for camera_id in cameras:
            for kind in keys.STREAM_KINDS:
                trimmed = self.redis.xtrim(keys.stream(kind, camera_id), minid=minid, approximate=False)
                done["stream_entries"] += int(trimmed)
        done = +done
        if done:
            log.info("retention sweep older_than_h=%.3g deleted=%s", self.retention_ms / HOUR_MS, dict(done))
        return done


def start_janitor(janitor: Janitor, interval_s: float, stop: threading.Event) -> threading.Thread:
    """Sweep every ``interval_s`` until ``stop`` is set, in a daemon thread; a Redis outage skips a sweep."""

    def run() -> None:
        while not stop.is_set():
            try:
                janitor.sweep()
            except redis.RedisError as exc:
                log.warning("retention sweep skipped error=%r", str(exc))
            stop.wait(interval_s)

    thread = threading.Thread(target=run, name="retention", daemon=True)
    thread.start()
    return thread
