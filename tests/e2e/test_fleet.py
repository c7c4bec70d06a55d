"""The fleet on one machine: a real 3-master Redis Cluster, services as separate processes, each logged in
as its own ACL user; real MTCNN and classifier."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from services.cli.analyze import new_jobs, run_jobs
from services.cli.supervisor import Supervisor
from services.common import codec, health, keys, registry
from services.common.connect import connect
from services.common.schema import Tracks
from tests.support.clips import frame_count
from tests.support.redis_cluster import Cluster
from tests.support.wait import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def check_job_outputs(out: Path, frames: int) -> None:
    with open(out / "tracks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["frame"]) for r in rows} == set(range(frames)), "the face is found in every frame"
    assert {r["track_id"] for r in rows} == {"1"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done" and summary["frames"] == frames


def test_analyze_on_a_redis_cluster(cluster_env: Cluster, sample_media: Path, tmp_path: Path) -> None:
    video = sample_media / "single_face.mp4"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "analyze",
            str(video),
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    check_job_outputs(tmp_path, frame_count(video))
    # the job's keys carried its camera's shard tag: nothing of it went to an untagged camera key
    client = connect()
    assert not [k for k in client.scan_iter(match="emo:frames:*")], "an untagged stream on the cluster"


def names_on_distinct_nodes(client: redis.Redis, count: int) -> list[str]:
    """Camera names whose shards live on ``count`` different cluster nodes."""
    found: dict[str, str] = {}
    for i in range(200):
        name = f"cam{i}"
        node = client.get_node_from_key(keys.stream("frames", name)).name  # type: ignore[attr-defined]
        found.setdefault(node, name)
        if len(found) == count:
            return list(found.values())
    raise AssertionError("no names on distinct nodes")


def keys_of_streams(camera: str) -> list[str]:
    return [keys.stream(kind, camera) for kind in keys.STREAM_KINDS]


def tracks_with_faces(client: redis.Redis, camera: str) -> int:
    entries = client.xrange(keys.stream("tracks", camera), count=10_000)
    return sum(1 for _, f in entries if isinstance(m := codec.decode(f), Tracks) and m.tracks)


def test_two_detectors_and_two_classifiers_serve_a_file_job_and_two_live_cameras(
    cluster_env: Cluster, sample_media: Path, tmp_path: Path
) -> None:
    cluster = cluster_env
    client = connect()
    live = names_on_distinct_nodes(client, 2)
    supervisor = Supervisor({"EMOSTREAM_REDIS_URL": f"redis://127.0.0.1:{cluster.ports[1]}/0"})
    layout = {"ingest": 1, "detector": 2, "classifier": 2, "tracker": 1, "events": 1, "ui": 1}
    port = free_port()
    for service, replicas in layout.items():
        env = {"EMOSTREAM_PORT": str(port), "EMOSTREAM_API_TOKEN": "fleet-token"} if service == "ui" else {}
        for _ in range(replicas):
            supervisor.add(service, redis_user=(service, cluster.passwords[service]), env=env)
    supervisor.start()
    try:
        wanted = {
            f"{s}:{c.env['EMOSTREAM_INSTANCE']}" for s in layout for c in supervisor.children if c.name == s
        }
        wait_for(lambda: wanted <= set(health.instances(client)), 240, "every replica's health key")
        for name in live:
            registry.add(client, name, str(sample_media / "single_face.mp4"), mode="live", loop=True)
        video = sample_media / "single_face.mp4"
        jobs = new_jobs([video], tmp_path)
        errors = run_jobs(cluster.url, jobs, progress=False, stall_timeout_s=300)
        assert jobs[0].status == "done", errors
        check_job_outputs(Path(jobs[0].out), frame_count(video))
        for name in live:
            wait_for(lambda n=name: tracks_with_faces(client, n) >= 5, 120, f"tracked faces of {name}")
        for service in ("detector", "classifier"):
            # both replicas of the stage took a share of the work (counters reach the health key each beat)
            wait_for(
                lambda s=service: (
                    [
                        v.get("processed", 0) > 0
                        for k, v in health.instances(client).items()
                        if k.startswith(f"{s}:")
                    ]
                    == [True, True]
                ),
                30,
                f"work done by both {service} replicas",
            )
        assert not [e for s in keys.dead_streams() for e in client.xrange(s)], "dead letters"
        # the dashboard, as its own user, lists both cameras and their events, read shard by shard
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer fleet-token"}
        )
        assert set(live) <= {c["name"] for c in api.get("/api/cameras").json()}
        # a video uploaded to the dashboard runs as the ui's job (its user cleans the job's keys up after)
        with open(video, "rb") as fh:
            answer = api.post("/api/jobs", files={"file": ("clip.mp4", fh, "video/mp4")}, timeout=60)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        done = wait_for(
            lambda: (j := api.get(f"/api/jobs/{job_id}").json())["status"] in ("done", "failed") and j,
            240,
            "the uploaded job",
        )
        assert done["status"] == "done", done
        assert done["summary"]["frames"] == frame_count(video)
        camera = f"job-{job_id}"
        wait_for(  # (the runner cleans up right after it records the job done)
            lambda: (
                not any(
                    client.exists(k)
                    for k in (keys.timeline(camera), keys.camera(camera), *keys_of_streams(camera))
                )
            ),
            10,
            "the cleanup of the job's keys, as the ui's user",
        )
        time.sleep(2.5)  # past every worker's camera refresh (1 s): no consumer brought a stream back
        leftover = [k for k in keys_of_streams(camera) if client.exists(k)]
        assert not leftover, f"streams of a finished job came back: {leftover}"
        wait_for(
            lambda: (
                set(live) <= {e["camera_id"] for e in api.get("/api/events", params={"limit": 500}).json()}
            ),
            60,
            "events of both live cameras",
        )
    finally:
        supervisor.stop()
        for name in live:
            registry.remove(client, name)


def test_each_service_user_is_held_to_its_own_keys(redis_cluster: Cluster) -> None:
    port = redis_cluster.ports[0]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).get("emo:cameras")  # no anonymous client
    detector = redis.Redis(port=port, username="detector", password=redis_cluster.passwords["detector"])
    detector.ping()
    for command in (
        lambda: detector.hgetall("emo:job:x"),  # not its key
        lambda: detector.xadd("emo:{s0}:tracks:cam", {"x": "1"}),  # another stage's output
        lambda: detector.flushall(),  # dangerous
        lambda: detector.config_get("*"),  # admin
        lambda: detector.keys("*"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
    wrong = redis.Redis(port=port, username="detector", password="forged")
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
