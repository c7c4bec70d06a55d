"""``emostream purge --camera NAME`` / ``--job ID``: erase everything kept of one camera or one job.

Deletes the camera's (or the job's camera's) streams, frames, timelines, history, events and state in
Redis, a job's record and its directory, then has Redis rewrite its files (:mod:`services.common.purge`).
It works on the Redis at ``EMOSTREAM_REDIS_URL`` (an admin user: the services' users may not rewrite
files), else on ``up``'s embedded Redis in ``EMOSTREAM_DATA_DIR/redis``, which it starts for the purge:
while ``up`` runs, erase through the dashboard instead (``DELETE /api/cameras/NAME?purge=true``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from collections.abc import Iterator

import redis

from services.cli.settings import CliSettings
from services.common.connect import connect
from services.common.job_store import JobStore
from services.common.purge import PurgeError, purge_camera, purge_job, rewrite_files
from services.common.registry import CameraError
from services.common.settings_check import load_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--camera", metavar="NAME", help="the camera to erase")
    what.add_argument("--job", metavar="ID", help="the video job to erase (its upload and outputs too)")


@contextlib.contextmanager
def _redis(settings: CliSettings) -> Iterator[redis.Redis]:
    if settings.redis_url:
        client = connect(url=settings.redis_url)
        try:
            yield client
        finally:
            client.close()
        return
    from services.cli.embedded_redis import EmbeddedRedis

    with EmbeddedRedis(data_dir=settings.data_dir / "redis") as server:
        client = connect(url=server.url)
        try:
            yield client
        finally:
            client.close()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(CliSettings)
    try:
        with _redis(settings) as client:
            if args.camera:
                done: Counter[str] = purge_camera(client, args.camera)
            else:
                done = purge_job(JobStore(client, data_dir=settings.data_dir), args.job)
            rewrote = rewrite_files(client)
    except (PurgeError, CameraError) as exc:
        print(f"emostream purge: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # the embedded Redis is in use by a running `up`, or did not start
        print(
            f"emostream purge: {exc}: while `emostream up` runs, erase through it "
            "(DELETE /api/cameras/NAME?purge=true or /api/jobs/ID?purge=true)",
            file=sys.stderr,
        )
        return 1
    except redis.RedisError as exc:
        print(f"emostream purge: redis: {exc}", file=sys.stderr)
        return 1
    what = f"camera {args.camera}" if args.camera else f"job {args.job}"
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(done.items()) if n) or "nothing was stored"
    files = " and ".join(rewrote) if rewrote else "no"
    print(f"emostream purge: {what}: deleted {counts}; rewrote redis's {files} files")
    return 0
