"""CameraReader against a real Redis with the sample media: file jobs, backpressure, failures, live mode."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from services.common import codec, keys, registry
from services.common.image import decode_jpeg
from services.common.schema import End, Frame, Message, Mode
from services.common.streams import Batch, StreamClient
from services.ingest import camera as camera_module
from services.ingest.camera import CameraReader
from services.ingest.settings import IngestSettings
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

SINGLE_FACE_FRAMES = 72


def messages(r: redis.Redis, cam: str) -> list[Message]:
    return [codec.decode(f) for _, f in r.xrange(keys.stream("frames", cam))]


def camera_hash(r: redis.Redis, cam: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in r.hgetall(keys.camera(cam)).items()}


@pytest.fixture()
def start_reader(
    redis_url: str, redis_client: redis.Redis
) -> Iterator[Callable[..., tuple[CameraReader, threading.Thread]]]:
    started: list[tuple[CameraReader, threading.Thread]] = []

    def start(cam: str, uri: str, mode: Mode, **settings: object) -> tuple[CameraReader, threading.Thread]:
        camera = registry.add(redis_client, cam, uri, mode=mode)
        config = IngestSettings(redis_url=redis_url, instance="test-ingest", **settings)  # type: ignore[arg-type]
        reader = CameraReader(redis.Redis.from_url(redis_url), config, camera)
        thread = threading.Thread(target=reader.run, daemon=True)
        thread.start()
        started.append((reader, thread))
        return reader, thread

    yield start
    for reader, thread in started:
        reader.stop.set()
        thread.join(10)
        reader.redis.close()
    assert not any(t.is_alive() for _, t in started), "a camera reader did not stop"


def test_file_job_publishes_every_frame_then_end(
    redis_client: redis.Redis,
    sample_media: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
) -> None:
    video = sample_media / "single_face.mp4"
    _, thread = start_reader("job1", str(video), "file", file_high_water=1000)
    thread.join(60)
    assert not thread.is_alive()

    msgs = messages(redis_client, "job1")
    frames = [m for m in msgs if isinstance(m, Frame)]
    assert len(msgs) == SINGLE_FACE_FRAMES + 1
    assert [m.seq for m in frames] == list(range(SINGLE_FACE_FRAMES))
    assert all(m.size_wh == (640, 360) and m.mode == "file" and m.camera_id == "job1" for m in frames)
    captured = [m.captured_ms for m in frames]
    assert captured == sorted(captured)
    for m in frames:
        assert m.frame_key == keys.frame("job1", m.seq)
        assert redis_client.ttl(m.frame_key) == -1  # file jobs keep frames until the job is finished
    image = decode_jpeg(redis_client.get(frames[0].frame_key))
    assert image.shape == (360, 640, 3)

    end = msgs[-1]
    assert isinstance(end, End)
    assert (end.frames, end.seq, end.error, end.mode) == (SINGLE_FACE_FRAMES, SINGLE_FACE_FRAMES, "", "file")
    status = camera_hash(redis_client, "job1")
    assert status["status"] == "done"
    assert status["error"] == ""
    assert int(status["frames"]) == SINGLE_FACE_FRAMES
    assert int(status["total_frames"]) == SINGLE_FACE_FRAMES
    assert registry.get(redis_client, "job1").status == "done"  # type: ignore[union-attr]


def test_file_job_pauses_at_high_water_and_resumes_when_consumed(
    redis_client: redis.Redis,
    sample_media: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
) -> None:
    stream = keys.stream("frames", "job1")
    reader, thread = start_reader("job1", str(sample_media / "single_face.mp4"), "file", file_high_water=4)
    wait_for(lambda: redis_client.xlen(stream) >= 4)
    time.sleep(0.5)
    paused_at = redis_client.xlen(stream)
    assert 4 <= paused_at <= 5
    time.sleep(0.3)
    assert redis_client.xlen(stream) == paused_at  # still paused, not trickling
    assert thread.is_alive()
    assert reader.published == paused_at

    consumer = StreamClient(redis_client, keys.GROUPS["detector"][1], "test-consumer", maxlen=1000)
    seen: list[Message] = []
    deadline = time.monotonic() + 60
    while not any(isinstance(m, End) for m in seen) and time.monotonic() < deadline:
        entries = consumer.read([stream], count=2, block_ms=50)
        seen += [e.message for e in entries if e.message is not None]
        consumer.commit(Batch(acks=entries))
    thread.join(10)
    assert not thread.is_alive()
    assert [m.seq for m in seen if isinstance(m, Frame)] == list(range(SINGLE_FACE_FRAMES))
    assert isinstance(seen[-1], End) and seen[-1].frames == SINGLE_FACE_FRAMES and seen[-1].error == ""


def test_file_job_stopped_while_paused_publishes_no_end(
    redis_client: redis.Redis,
    sample_media: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
) -> None:
    stream = keys.stream("frames", "job1")
    reader, thread = start_reader("job1", str(sample_media / "single_face.mp4"), "file", file_high_water=4)
    wait_for(lambda: redis_client.xlen(stream) >= 4)
    time.sleep(0.2)
    reader.stop.set()
    thread.join(2)
    assert not thread.is_alive()
    assert not any(isinstance(m, End) for m in messages(redis_client, "job1"))


def test_file_job_stopped_while_reading_publishes_no_end_and_resumes_where_it_stood(
    redis_client: redis.Redis,
    sample_media: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one frame a batch, and the stop comes from inside the job, after its 5th frame: never paused
    monkeypatch.setattr(camera_module, "FILE_BATCH", 1)
    publish = CameraReader._publish

    def publish_then_stop(self: CameraReader, frames: list[np.ndarray], mode: Mode) -> None:
        publish(self, frames, mode)
        if self.published >= 5 and self.camera.camera_id == "job1" and not resumed.is_set():
            self.stop.set()

    resumed = threading.Event()
    monkeypatch.setattr(CameraReader, "_publish", publish_then_stop)
    uri = str(sample_media / "single_face.mp4")
    reader, thread = start_reader("job1", uri, "file", file_high_water=1000)
    thread.join(10)
    assert not thread.is_alive()
    assert [m.seq for m in messages(redis_client, "job1")] == [0, 1, 2, 3, 4]  # no End
    assert camera_hash(redis_client, "job1")["next_seq"] == "5"
    assert camera_hash(redis_client, "job1")["status"] == "running"

    resumed.set()  # a restarted ingest: the same job, from where it stood
    config = IngestSettings(
        redis_url=reader.settings.redis_url, instance="test-ingest-2", file_high_water=1000
    )
    again = CameraReader(redis.Redis.from_url(reader.settings.redis_url), config, reader.camera)
    again.run()
    again.redis.close()
    seen = messages(redis_client, "job1")
    assert [m.seq for m in seen if isinstance(m, Frame)] == list(range(SINGLE_FACE_FRAMES))
    assert isinstance(seen[-1], End) and seen[-1].error == "" and seen[-1].frames == SINGLE_FACE_FRAMES


def assert_failed_job(r: redis.Redis, cam: str, *parts: str) -> None:
    [end] = messages(r, cam)
    assert isinstance(end, End)
    assert end.frames == 0 and end.seq == 0
    status = camera_hash(r, cam)
    assert status["status"] == "failed"
    for part in parts:
        assert part in end.error
        assert part in status["error"]


@pytest.mark.parametrize(
    ("make_path", "expected"),
    [
        pytest.param(lambda d: d / "x.mp4", "", id="corrupt video"),
        pytest.param(lambda d: d / "missing.mp4", "not found", id="missing file"),
        pytest.param(lambda d: d / "empty_folder", "holds no images", id="empty folder"),
    ],
)
def test_unreadable_file_job_fails_with_the_reason(
    redis_client: redis.Redis,
    tmp_path: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
    make_path: Callable[[Path], Path],
    expected: str,
) -> None:
    (tmp_path / "x.mp4").write_bytes(os.urandom(64 * 1024))
    (tmp_path / "empty_folder").mkdir()
    path = make_path(tmp_path)
    _, thread = start_reader("job1", str(path), "file")
    thread.join(30)
    assert not thread.is_alive()
    assert_failed_job(redis_client, "job1", str(path), expected)


def test_folder_of_images_publishes_one_frame_per_image(
    redis_client: redis.Redis,
    sample_media: Path,
    tmp_path: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    names = ["multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg"]
    for i, name in enumerate(names):
        shutil.copy(sample_media / name, folder / f"{i:02d}_{name}")
    (folder / "notes.txt").write_text("not an image")
    _, thread = start_reader("imgs", str(folder), "file")
    thread.join(30)
    assert not thread.is_alive()

    msgs = messages(redis_client, "imgs")
    frames = [m for m in msgs if isinstance(m, Frame)]
    assert [m.seq for m in frames] == [0, 1, 2]
    for m, name in zip(frames, names, strict=True):
        source = decode_jpeg((sample_media / name).read_bytes())
        assert m.size_wh == (source.shape[1], source.shape[0])
    assert isinstance(msgs[-1], End) and msgs[-1].frames == 3 and msgs[-1].error == ""
    assert camera_hash(redis_client, "imgs")["status"] == "done"


def test_live_unreachable_source_reports_error_and_keeps_retrying(
    redis_client: redis.Redis, start_reader: Callable[..., tuple[CameraReader, threading.Thread]]
) -> None:
    reader, thread = start_reader("cam1", "rtsp://127.0.0.1:1/x", "live")
    wait_for(lambda: camera_hash(redis_client, "cam1").get("status") == "error", timeout_s=30)
    status = camera_hash(redis_client, "cam1")
    assert "rtsp://127.0.0.1:1/x" in status["error"]
    assert float(status["retry_in_s"]) >= 1
    assert redis_client.xlen(keys.stream("frames", "cam1")) == 0
    time.sleep(0.3)
    assert thread.is_alive()  # a live camera is retried, never given up
    t0 = time.monotonic()
    reader.stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - t0 < 10


def test_live_video_is_paced_and_frames_expire(
    redis_client: redis.Redis,
    sample_media: Path,
    start_reader: Callable[..., tuple[CameraReader, threading.Thread]],
) -> None:
    stream = keys.stream("frames", "cam1")
    reader, thread = start_reader(
        "cam1", str(sample_media / "single_face.mp4"), "live", live_fps_cap=5, frame_ttl_s=20
    )
    wait_for(lambda: redis_client.xlen(stream) >= 1)
    t0 = time.monotonic()
    n0 = redis_client.xlen(stream)
    time.sleep(2.0)
    rate = (redis_client.xlen(stream) - n0) / (time.monotonic() - t0)
    assert 2 <= rate <= 8, f"published {rate:.1f} fps with live_fps_cap=5"
    reader.stop.set()
    thread.join(5)
    assert not thread.is_alive()

    frames = [m for m in messages(redis_client, "cam1") if isinstance(m, Frame)]
    assert frames and all(m.mode == "live" for m in frames)
    assert [m.seq for m in frames] == list(range(len(frames)))
    for m in frames:
        assert 0 < redis_client.ttl(m.frame_key) <= 20
    status = camera_hash(redis_client, "cam1")
    assert status["status"] == "running"
    assert int(status["next_seq"]) == len(frames)
