"""StreamClient against a real Redis: groups, reads, atomic commit, reclaim, dead letters, backlog."""

from __future__ import annotations

import time

import pytest
import redis

from services.common import codec, keys
from services.common.schema import Faces, Frame
from services.common.streams import Batch, Entry, StreamClient, backlog

pytestmark = pytest.mark.integration


def frame(cam: str, seq: int) -> Frame:
    return Frame(
        camera_id=cam,
        seq=seq,
        captured_ms=1_700_000_000_000 + seq,
        frame_key=keys.frame(cam, seq),
        size_wh=(4, 3),
    )


def faces_for(msg: Frame) -> Faces:
    return Faces(
        camera_id=msg.camera_id,
        seq=msg.seq,
        captured_ms=msg.captured_ms,
        mode=msg.mode,
        frame_key=msg.frame_key,
        size_wh=msg.size_wh,
        faces=(),
    )


def publish(r: redis.Redis, cam: str, seqs: range) -> list[str]:
    return [r.xadd(keys.stream("frames", cam), codec.encode(frame(cam, s))).decode() for s in seqs]


def pending_count(r: redis.Redis, stream: str, group: str) -> int:
    return int(r.xpending(stream, group)["pending"])


def test_ensure_group_is_idempotent(redis_client: redis.Redis) -> None:
    stream = keys.stream("frames", "c1")
    a = StreamClient(redis_client, "detector", "a", maxlen=100)
    a.ensure_group(stream)
    a.ensure_group(stream)
    # another client (another replica) creating the same group must not fail either
    StreamClient(redis_client, "detector", "b", maxlen=100).ensure_group(stream)
    groups = redis_client.xinfo_groups(stream)
    assert [g["name"] for g in groups] == [b"detector"]
    assert redis_client.exists(stream)  # MKSTREAM


def test_group_starts_at_zero_so_earlier_entries_are_read(redis_client: redis.Redis) -> None:
    publish(redis_client, "c1", range(3))
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    entries = client.read([keys.stream("frames", "c1")], count=10, block_ms=10)
    assert [e.message.seq for e in entries if e.message] == [0, 1, 2]


def test_read_across_several_streams(redis_client: redis.Redis) -> None:
    ids1 = publish(redis_client, "c1", range(3))
    ids2 = publish(redis_client, "c2", range(2))
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    streams = [keys.stream("frames", "c1"), keys.stream("frames", "c2"), keys.stream("frames", "c3")]
    entries = client.read(streams, count=10, block_ms=10)
    got = {(e.stream, e.entry_id): e.message for e in entries}
    assert set(got) == {(streams[0], i) for i in ids1} | {(streams[1], i) for i in ids2}
    for (stream, _), msg in got.items():
        assert isinstance(msg, Frame)
        assert stream == keys.stream("frames", msg.camera_id)
    # nothing new: a second read is empty; the entries are pending for consumer a
    assert client.read(streams, count=10, block_ms=10) == []
    assert pending_count(redis_client, streams[0], "detector") == 3
    assert pending_count(redis_client, streams[1], "detector") == 2


def test_read_count_limits_per_stream(redis_client: redis.Redis) -> None:
    publish(redis_client, "c1", range(5))
    publish(redis_client, "c2", range(5))
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    streams = [keys.stream("frames", "c1"), keys.stream("frames", "c2")]
    entries = client.read(streams, count=2, block_ms=10)
    assert sorted((e.stream, e.message.seq) for e in entries if e.message) == [
        (streams[0], 0),
        (streams[0], 1),
        (streams[1], 0),
        (streams[1], 1),
    ]


def test_read_with_no_streams_returns_nothing(redis_client: redis.Redis) -> None:
    assert StreamClient(redis_client, "detector", "a", maxlen=100).read([], count=10, block_ms=10) == []


def test_read_after_stream_deleted_recovers(redis_client: redis.Redis) -> None:
    stream = keys.stream("frames", "c1")
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    publish(redis_client, "c1", range(1))
    assert len(client.read([stream], count=10, block_ms=10)) == 1
    redis_client.delete(stream)  # camera removed: the group is gone with it
    publish(redis_client, "c1", range(1, 2))
    # the group is recreated lazily; the new entry is eventually read, nothing raises
    got: list[Entry] = []
    for _ in range(3):
        got += client.read([stream], count=10, block_ms=10)
    assert [e.message.seq for e in got if e.message] == [1]


def test_commit_writes_outputs_and_acks_atomically(redis_client: redis.Redis) -> None:
    publish(redis_client, "c1", range(4))
    src = keys.stream("frames", "c1")
    out = keys.stream("faces", "c1")
    redis_client.set("frame:c1:0", b"jpeg")
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    entries = client.read([src], count=10, block_ms=10)
    assert pending_count(redis_client, src, "detector") == 4
    batch = Batch(delete_keys=["frame:c1:0"])
    for e in entries:
        assert isinstance(e.message, Frame)
        batch.outputs.append((out, faces_for(e.message)))
        batch.acks.append(e)

    commands: list[list[str]] = []
    monitor_client = redis.Redis(connection_pool=redis_client.connection_pool)
    with monitor_client.monitor() as mon:
        client.commit(batch)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            name = mon.next_command()["command"].split()[0].upper()
            if name == "MULTI" or commands:  # ignore connection setup (HELLO, CLIENT SETINFO)
                commands.append([name])
            if name == "EXEC":
                break
    names = [c[0] for c in commands]
    assert names[0] == "MULTI" and names[-1] == "EXEC"
    assert names.count("XADD") == 4 and names.count("XACK") == 1 and names.count("DEL") == 1

    assert pending_count(redis_client, src, "detector") == 0
    written = [codec.decode(f) for _, f in redis_client.xrange(out)]
    assert [m.seq for m in written] == [0, 1, 2, 3]
    assert all(isinstance(m, Faces) for m in written)
    assert not redis_client.exists("frame:c1:0")


def test_commit_of_empty_batch_does_nothing(redis_client: redis.Redis) -> None:
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    assert not Batch()
    client.commit(Batch())
    assert redis_client.dbsize() == 0


def test_commit_respects_maxlen_roughly(redis_client: redis.Redis) -> None:
    client = StreamClient(redis_client, "detector", "a", maxlen=50)
    out = keys.stream("faces", "c1")
    for start in range(0, 1000, 100):
        client.commit(Batch(outputs=[(out, faces_for(frame("c1", s))) for s in range(start, start + 100)]))
    length = redis_client.xlen(out)
    assert 50 <= length <= 250, length  # MAXLEN ~ trims by whole nodes (100 entries by default)
    last = codec.decode(redis_client.xrevrange(out, count=1)[0][1])
    assert last.seq == 999  # the newest entries are kept


def test_claim_reclaims_entries_of_a_consumer_that_never_acks(redis_client: redis.Redis) -> None:
    ids = publish(redis_client, "c1", range(3))
    stream = keys.stream("frames", "c1")
    a = StreamClient(redis_client, "detector", "a", maxlen=100)
    b = StreamClient(redis_client, "detector", "b", maxlen=100)
    assert len(a.read([stream], count=10, block_ms=10)) == 3  # a dies without acking
    b.ensure_group(stream)

    again, dead = b.claim([stream], min_idle_ms=50, max_deliveries=3)
    assert (again, dead) == ([], [])  # not idle long enough yet
    time.sleep(0.1)
    again, dead = b.claim([stream], min_idle_ms=50, max_deliveries=3)
    assert dead == []
    assert [e.entry_id for e in again] == ids
    assert [e.message.seq for e in again if e.message] == [0, 1, 2]
    owners = {p["consumer"] for p in redis_client.xpending_range(stream, "detector", "-", "+", 10)}
    assert owners == {b"b"}


def test_claim_skips_streams_without_the_group(redis_client: redis.Redis) -> None:
    publish(redis_client, "c1", range(2))  # no group on c1 at all
    ids = publish(redis_client, "c2", range(2))
    without, grouped = keys.stream("frames", "c1"), keys.stream("frames", "c2")
    a = StreamClient(redis_client, "detector", "a", maxlen=100)
    b = StreamClient(redis_client, "detector", "b", maxlen=100)
    assert len(a.read([grouped], count=10, block_ms=10)) == 2  # a dies without acking
    b.ensure_group(grouped)
    # the stream without the group is skipped, and does not stop the claim of the one with it
    again, dead = b.claim([without, grouped], min_idle_ms=0, max_deliveries=3)
    assert dead == []
    assert [(e.stream, e.entry_id) for e in again] == [(grouped, i) for i in ids]
    assert redis_client.xinfo_groups(without) == [], "claim creates no group"
    assert b.claim([without], min_idle_ms=0, max_deliveries=3) == ([], [])


def test_claim_dead_letters_after_max_deliveries(redis_client: redis.Redis) -> None:
    ids = publish(redis_client, "c1", range(2))
    stream = keys.stream("frames", "c1")
    a = StreamClient(redis_client, "detector", "a", maxlen=100)
    b = StreamClient(redis_client, "detector", "b", maxlen=100)
    a.read([stream], count=10, block_ms=10)  # delivery 1
    b.ensure_group(stream)
    seen_again = 0
    dead: list[tuple[Entry, str]] = []
    for _ in range(6):
        time.sleep(0.07)
        again, dead = b.claim([stream], min_idle_ms=50, max_deliveries=2)
        if dead:
            break
        seen_again += 1
        assert [e.entry_id for e in again] == ids
    # delivery 1 by read, 2 by the first claim: the claim that makes delivery 3 dead-letters
    assert seen_again == 1
    assert [e.entry_id for e, _ in dead] == ids
    assert all("delivered 3 times (max 2)" in reason for _, reason in dead)

    b.commit(Batch(dead=dead))
    assert pending_count(redis_client, stream, "detector") == 0
    letters = redis_client.xrange(keys.DEAD)
    assert len(letters) == 2
    for (_, fields), eid in zip(letters, ids, strict=True):
        assert fields[b"stream"] == stream.encode()
        assert fields[b"id"] == eid.encode()
        assert fields[b"group"] == b"detector"
        assert b"delivered 3 times" in fields[b"reason"]
        assert isinstance(codec.decode(fields), Frame)  # the original entry travels with the letter


def test_malformed_entry_is_returned_with_an_error(redis_client: redis.Redis) -> None:
    stream = keys.stream("frames", "c1")
    publish(redis_client, "c1", range(1))
    bad_id = redis_client.xadd(stream, {"type": "frame", "v": 1, "body": b"junk"}).decode()
    publish(redis_client, "c1", range(1, 2))
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    entries = client.read([stream], count=10, block_ms=10)
    assert len(entries) == 3
    bad = entries[1]
    assert bad.entry_id == bad_id
    assert bad.message is None
    assert "bad 'frame' body" in bad.error
    assert bad.fields[b"body"] == b"junk"
    assert [e.message.seq for e in (entries[0], entries[2]) if e.message] == [0, 1]
    assert entries[0].error == entries[2].error == ""


def test_commit_of_dead_writes_the_reason_and_acks(redis_client: redis.Redis) -> None:
    stream = keys.stream("frames", "c1")
    redis_client.xadd(stream, {"type": "frame", "v": 1, "body": b"junk"})
    publish(redis_client, "c1", range(1))
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    bad, good = client.read([stream], count=10, block_ms=10)
    assert isinstance(good.message, Frame)
    client.commit(
        Batch(
            dead=[(bad, bad.error)],
            outputs=[(keys.stream("faces", "c1"), faces_for(good.message))],
            acks=[good],
        )
    )
    assert pending_count(redis_client, stream, "detector") == 0
    [(_, letter)] = redis_client.xrange(keys.DEAD)
    assert letter[b"reason"] == bad.error.encode()
    assert letter[b"id"] == bad.entry_id.encode()
    assert letter[b"stream"] == stream.encode()
    assert letter[b"body"] == b"junk"
    assert redis_client.xlen(keys.stream("faces", "c1")) == 1


def test_dead_letter_reason_is_not_overwritten_by_entry_fields(redis_client: redis.Redis) -> None:
    stream = keys.stream("frames", "c1")
    redis_client.xadd(stream, {"type": "nope", "v": 1, "body": b"x", "reason": "spoofed", "stream": "other"})
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    [bad] = client.read([stream], count=10, block_ms=10)
    client.commit(Batch(dead=[(bad, bad.error)]))
    [(_, letter)] = redis_client.xrange(keys.DEAD)
    assert letter[b"reason"] == bad.error.encode()
    assert b"unknown message type" in letter[b"reason"]
    assert letter[b"stream"] == stream.encode()


def test_backlog_counts_pending_and_undelivered(redis_client: redis.Redis) -> None:
    stream = keys.stream("frames", "c1")
    assert backlog(redis_client, stream, "detector", limit=100) == 0  # no stream at all
    publish(redis_client, "c1", range(5))
    assert backlog(redis_client, stream, "detector", limit=100) == 5  # no group yet: everything waits
    client = StreamClient(redis_client, "detector", "a", maxlen=100)
    client.ensure_group(stream)
    assert backlog(redis_client, stream, "detector", limit=100) == 5
    entries = client.read([stream], count=2, block_ms=10)
    assert backlog(redis_client, stream, "detector", limit=100) == 5  # 2 pending + 3 undelivered
    client.commit(Batch(acks=entries))
    assert backlog(redis_client, stream, "detector", limit=100) == 3
    publish(redis_client, "c1", range(5, 7))
    assert backlog(redis_client, stream, "detector", limit=100) == 5
    assert backlog(redis_client, stream, "detector", limit=2) == 2  # undelivered part is capped
    assert redis_client.xinfo_groups(stream)[0]["lag"] == 5  # the one-round-trip answer
    *_, last = redis_client.xrange(stream)
    redis_client.xdel(stream, last[0])  # deleted from what is not yet read: Redis no longer knows the lag
    assert redis_client.xinfo_groups(stream)[0]["lag"] is None
    assert backlog(redis_client, stream, "detector", limit=100) == 4  # counted over the entries instead
    assert backlog(redis_client, stream, "detector", limit=2) == 2
    rest = client.read([stream], count=10, block_ms=10)
    client.commit(Batch(acks=rest))
    assert backlog(redis_client, stream, "detector", limit=100) == 0
