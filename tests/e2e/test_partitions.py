"""The fleet across hosts (issue 28): each service on a network namespace of its own
(``tests.support.hosts``): Redis; ingest and classifier; two detectors, two trackers and two events
replicas, one per host. Real services as processes, the real MTCNN and classifier, a webhook receiver on
the test's side of the bridge. A host is cut off by taking its link down: packets vanish both ways, as
with a pulled cable, for ``PARTITION_S``. Each fault runs a file job and ends with every frame exactly
once in its output.

- a detector cut off while it holds pending frames: the other claims them after ``claim_idle_ms``; what
  it answers late is fenced (``Worker.fence``, tested alone in ``tests/integration/test_worker.py``);
- the tracker that owns the job's camera cut off: the other takes the lease when it lapses; the cut-off
  one's commits are refused (WATCH of the lease), so no seq is ever published twice;
- the events replica that owns the camera cut off: the other takes over; every event reaches the webhook,
  none twice.

Needs root: skipped with the reason elsewhere, a failure under ``EMOSTREAM_REQUIRE_NETNS=1`` (``.ci/run``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from services.common import keys, registry
from tests.support.events import stream_ids
from tests.support.faults import report, tracks_entries
from tests.support.fleet import CLAIM_IDLE_MS, LEASE_MS, UI_PORT, UI_TOKEN, Fleet, Job, running_fleet
from tests.support.hosts import Host, require_hosts
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PARTITION_S = 30.0
#: host -> the service it runs (its instance is ``service-host``)
LAYOUT = {
    "workers": ("ingest", "classifier"),
    "d1": ("detector",),
    "d2": ("detector",),
    "t1": ("tracker",),
    "t2": ("tracker",),
    "e1": ("events",),
    "e2": ("events",),
    "ui": ("ui",),
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    require_hosts()
    with running_fleet(LAYOUT, tmp_path_factory.mktemp("fleet-logs")) as running:
        yield running


def own_pending(client: redis.Redis, stream: str, consumer: str) -> int:
    try:
        return len(client.xpending_range(stream, "detector", "-", "+", 1000, consumername=consumer))
    except redis.ResponseError:  # no group yet
        return 0


def lease_owner(client: redis.Redis, key: str) -> str | None:
    owner = client.get(key)
    return owner.decode() if owner else None


def cut_off(fleet: Fleet, host: Host, until_s: float, check: Callable[[], None]) -> float:
    """Partition ``host``; run ``check`` (the fault's recovery, while it is cut off); keep it cut off
    until ``until_s`` after the cut, then heal. Seconds from the heal until its service beats again."""
    service = LAYOUT[host.name][0]
    cut_at = time.monotonic()
    host.partition()
    try:
        check()
        time.sleep(max(0.0, until_s - (time.monotonic() - cut_at)))
        assert fleet.stats(service, f"{service}-{host.name}") is None, "a cut-off host still beats"
    finally:
        host.heal()
    healed_at = time.monotonic()
    wait_for(lambda: fleet.stats(service, f"{service}-{host.name}") is not None, 60, f"{host.name} back")
    return time.monotonic() - healed_at


def test_a_partitioned_detector_s_frames_are_claimed_and_nothing_is_lost(
    fleet: Fleet, sample_media: Path, tmp_path: Path
) -> None:
    job = Job(fleet, sample_media / "single_face.mp4", tmp_path)
    stream = keys.stream("frames", job.camera)
    held = wait_for(lambda: own_pending(fleet.client, stream, "detector-d1"), 120, "frames held by d1")
    cut_at = time.monotonic()
    times: dict[str, float] = {}

    def recovered() -> None:
        wait_for(
            lambda: int((fleet.stats("detector", "detector-d2") or {}).get("reclaimed", 0)) > 0,
            60,
            "d2 claiming d1's frames",
        )
        times["claimed"] = time.monotonic() - cut_at
        job.finish()
        times["done"] = time.monotonic() - cut_at

    rejoin_s = cut_off(fleet, fleet.hosts["d1"], PARTITION_S, recovered)
    job.check_every_frame_once(fleet.client)
    report(
        "detector",
        f"d1 held {held} frames when cut off; d2's reclaim seen {times['claimed']:.1f} s after the cut "
        f"(claim_idle_ms {CLAIM_IDLE_MS}, health beat 5 s); job done {times['done']:.1f} s after it; "
        f"d1 beating again {rejoin_s:.1f} s after the heal",
        held=held,
        recovery_s=times["claimed"],
        job_done_s=times["done"],
        rejoin_s=rejoin_s,
        lost=0,
        duplicates=0,
    )


def tracks_seqs(client: redis.Redis, camera: str) -> list[int]:
    """The seq of every Tracks message of ``camera``'s tracks stream, in stream order."""
    return [seq for _, seq in tracks_entries(client, camera)]


def test_a_partitioned_tracker_loses_its_lease_and_no_seq_is_published_twice(
    fleet: Fleet, sample_media: Path
) -> None:
    """A live camera (a file looped), so the cut-off tracker comes back while the camera still runs: its
    buffered work would be published a second time if its commits were not fenced by the lease."""
    camera = "live-partition"
    registry.add(fleet.client, camera, str(sample_media / "single_face.mp4"), mode="live", loop=True)
    lease = keys.tracker_lease(camera)
    try:
        wait_for(lambda: len(tracks_seqs(fleet.client, camera)) >= 5, 120, "tracks under way")
        owner = lease_owner(fleet.client, lease)
        assert owner in ("tracker-t1", "tracker-t2"), owner
        old, new = ("t1", "t2") if owner == "tracker-t1" else ("t2", "t1")
        cut_at = time.monotonic()
        times: dict[str, float] = {}
        published: dict[str, int] = {}

        def recovered() -> None:
            wait_for(lambda: lease_owner(fleet.client, lease) == f"tracker-{new}", 60, "the lease moving")
            times["moved"] = time.monotonic() - cut_at
            published["at_move"] = len(tracks_seqs(fleet.client, camera))
            wait_for(
                lambda: len(tracks_seqs(fleet.client, camera)) > published["at_move"] + 5,
                60,
                "the new owner publishing",
            )
            times["publishing"] = time.monotonic() - cut_at

        rejoin_s = cut_off(fleet, fleet.hosts[old], PARTITION_S, recovered)
        published["at_heal"] = len(tracks_seqs(fleet.client, camera))
        wait_for(
            lambda: len(tracks_seqs(fleet.client, camera)) > published["at_heal"] + 5,
            60,
            "tracks after the heal",
        )
        time.sleep(3)  # the old owner's commits after the heal are refused (it no longer holds the lease)
        seqs = tracks_seqs(fleet.client, camera)
        assert len(seqs) == len(set(seqs)), "a seq published twice: two writers of one camera"
        assert seqs == sorted(seqs), "tracks out of order"
        assert lease_owner(fleet.client, lease) == f"tracker-{new}", "the lease went back to the old owner"
    finally:
        registry.remove(fleet.client, camera)
    report(
        "tracker",
        f"lease moved {times['moved']:.1f} s after the cut (lease_ms {LEASE_MS}); new owner publishing "
        f"{times['publishing']:.1f} s after it; {len(seqs)} seqs, none twice; old owner beating again "
        f"{rejoin_s:.1f} s after the heal",
        recovery_s=times["moved"],
        publishing_s=times["publishing"],
        rejoin_s=rejoin_s,
        seqs=len(seqs),
        lost=0,
        duplicates=0,
    )


def test_a_partitioned_events_owner_loses_no_event_and_sends_none_twice(
    fleet: Fleet, sample_media: Path, tmp_path: Path
) -> None:
    job = Job(fleet, sample_media / "single_face.mp4", tmp_path)
    lease = keys.events_lease(job.camera)
    owner = wait_for(lambda: lease_owner(fleet.client, lease), 120, "an events owner")
    old, new = ("e1", "e2") if owner == "events-e1" else ("e2", "e1")
    cut_at = time.monotonic()
    times: dict[str, float] = {}

    def recovered() -> None:
        wait_for(lambda: lease_owner(fleet.client, lease) == f"events-{new}", 60, "the lease moving")
        times["moved"] = time.monotonic() - cut_at
        job.finish()

    rejoin_s = cut_off(fleet, fleet.hosts[old], PARTITION_S, recovered)
    job.check_every_frame_once(fleet.client)
    ours = [i for i in stream_ids(fleet.client) if i.startswith(job.camera)]
    assert ours, "the job made no event"
    wait_for(
        lambda: {d["header_id"] for d in fleet.receiver.accepted} >= set(ours), 60, "every event delivered"
    )
    time.sleep(2)  # a late second delivery by the old owner would land by now
    delivered = [d["header_id"] for d in fleet.receiver.accepted if d["header_id"].startswith(job.camera)]
    assert len(ours) == len(set(ours)), "an event recorded twice"
    assert sorted(delivered) == sorted(ours), "an event lost or sent twice to the webhook"
    report(
        "events",
        f"lease moved {times['moved']:.1f} s after the cut (lease_ms {LEASE_MS}); {len(ours)} events, "
        f"each delivered once; old owner back {rejoin_s:.1f} s after the heal",
        recovery_s=times["moved"],
        rejoin_s=rejoin_s,
        events=len(ours),
        lost=0,
        duplicates=0,
    )


def test_the_dashboard_says_which_cameras_are_stale_while_the_workers_are_cut_off(
    fleet: Fleet, sample_media: Path
) -> None:
    """The workers' host (ingest, classifier) cut off from Redis, the UI's host not: the UI's own API (and
    tile) says the live camera is stale while no tracks come, and fresh again after the heal."""
    camera = "live-stale"
    registry.add(fleet.client, camera, str(sample_media / "single_face.mp4"), mode="live", loop=True)
    api = httpx.Client(
        base_url=f"http://{fleet.hosts['ui'].address}:{UI_PORT}",
        headers={"Authorization": f"Bearer {UI_TOKEN}"},
        timeout=10,
    )

    def shown() -> dict[str, object]:
        cams = {c["name"]: c for c in api.get("/api/cameras").json()}
        return cams.get(camera) or {}

    try:
        wait_for(lambda: shown().get("seq") is not None and not shown()["stale"], 120, "fresh tracks shown")
        cut_at = time.monotonic()
        times: dict[str, float] = {}

        def recovered() -> None:
            wait_for(lambda: shown().get("stale") is True, 60, "the dashboard saying stale")
            times["stale"] = time.monotonic() - cut_at

        rejoin_s = cut_off(fleet, fleet.hosts["workers"], PARTITION_S, recovered)
        healed_at = time.monotonic() - rejoin_s
        wait_for(lambda: shown().get("stale") is False, 120, "the camera fresh again")
        fresh_s = time.monotonic() - healed_at
    finally:
        registry.remove(fleet.client, camera)
        api.close()
    report(
        "workers (ui)",
        f"the dashboard said stale {times['stale']:.1f} s after the cut (STALE_AFTER_MS 5000); fresh "
        f"again {fresh_s:.1f} s after the heal",
        stale_shown_s=times["stale"],
        recovery_s=fresh_s,
    )
