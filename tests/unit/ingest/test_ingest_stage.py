"""Pure ingest logic: URI classification, pacing, backoff, and the published frame rate."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from services.common.sources import SourceError, SourceSpec, parse_uri
from services.ingest.stage import Pacer, backoff_s, effective_fps, list_images


@pytest.mark.parametrize(
    ("uri", "kind", "target", "expect"),
    [
        ("0", "device", "0", nullcontext()),
        ("12", "device", "12", nullcontext()),
        (" 3 ", "device", "3", nullcontext()),
        ("device:1", "device", "1", nullcontext()),
        ("/dev/video2", "device", "2", nullcontext()),
        ("rtsp://user:pw@10.0.0.5:554/stream1", "url", "rtsp://user:pw@10.0.0.5:554/stream1", nullcontext()),
        ("RTSP://cam/live", "url", "RTSP://cam/live", nullcontext()),
        ("rtsps://cam/live", "url", "rtsps://cam/live", nullcontext()),
        ("http://cam.local/mjpeg", "url", "http://cam.local/mjpeg", nullcontext()),
        ("https://example.com/v.m3u8", "url", "https://example.com/v.m3u8", nullcontext()),
        ("udp://239.0.0.1:1234", "url", "udp://239.0.0.1:1234", nullcontext()),
        ("/videos/clip.mp4", "file", "/videos/clip.mp4", nullcontext()),
        ("relative/clip.avi", "file", "relative/clip.avi", nullcontext()),
        ("file:///videos/clip.mp4", "file", "/videos/clip.mp4", nullcontext()),
        ("device:x", "file", "device:x", nullcontext()),  # not a device index: treated as a path
        ("/dev/videoX", "file", "/dev/videoX", nullcontext()),
        ("", "", "", pytest.raises(SourceError, match="empty")),
        ("   ", "", "", pytest.raises(SourceError, match="empty")),
    ],
)
def test_parse_uri(uri: str, kind: str, target: str, expect: AbstractContextManager[object]) -> None:
    with expect:
        assert parse_uri(uri) == SourceSpec(kind, target)  # type: ignore[arg-type]


def test_parse_uri_directory_is_a_folder(tmp_path: Path) -> None:
    assert parse_uri(str(tmp_path)) == SourceSpec("folder", str(tmp_path))
    assert parse_uri(f"file://{tmp_path}") == SourceSpec("folder", str(tmp_path))


def test_parse_uri_existing_file_is_a_file(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    assert parse_uri(str(video)) == SourceSpec("file", str(video))


def test_device_index() -> None:
    assert parse_uri("device:7").device_index == 7
    assert parse_uri("/dev/video0").device_index == 0


def test_list_images_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.JPG", "a.png", "c.txt", "d.webp", "e.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()  # a directory with an image suffix is not an image
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.JPG", "d.webp"]


class FakeClock:
    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now_s += seconds


@pytest.mark.parametrize("fps", [5.0, 10.0, 25.0, 29.97, 60.0])
def test_pacer_does_not_drift(fps: float) -> None:
    """With per-frame work shorter than a period, frame k goes out at start + k/fps exactly."""
    clock = FakeClock()
    pacer = Pacer(fps)
    period = 1.0 / fps
    start = clock.now_s
    frames = 2000
    for k in range(frames):
        clock.sleep(pacer.delay_s(clock.now_s))
        assert clock.now_s == pytest.approx(start + k * period, abs=1e-6)
        clock.sleep(period * (0.2 + 0.5 * ((k * 7) % 10) / 10))  # jittery work, always < 1 period
    assert clock.now_s - start == pytest.approx(frames * period, rel=0.01)


def test_pacer_first_frame_is_immediate() -> None:
    assert Pacer(10).delay_s(5.0) == 0.0


def test_pacer_falling_behind_resets_instead_of_bursting() -> None:
    clock = FakeClock()
    pacer = Pacer(10.0)  # period 0.1 s
    for _ in range(5):
        clock.sleep(pacer.delay_s(clock.now_s))
    clock.sleep(2.0)  # a 20-period stall (a slow read)
    delays = []
    for _ in range(5):
        d = pacer.delay_s(clock.now_s)
        delays.append(d)
        clock.sleep(d)
    assert delays[0] == 0.0
    # no burst of 20 catch-up frames: the following frames keep the normal spacing
    assert delays[1:] == pytest.approx([0.1] * 4, abs=1e-9)


def test_pacer_small_lag_catches_up_without_reset() -> None:
    """Late by less than one period keeps the schedule (the next frame comes sooner)."""
    pacer = Pacer(10.0)
    assert pacer.delay_s(0.0) == 0.0  # schedule: 0.0, 0.1, 0.2, ...
    assert pacer.delay_s(0.15) == 0.0  # 0.05 late for the 0.1 slot
    assert pacer.delay_s(0.16) == pytest.approx(0.04)  # the 0.2 slot is kept


@pytest.mark.parametrize("fps", [0, -1, -0.5])
def test_pacer_rejects_non_positive_fps(fps: float) -> None:
    with pytest.raises(ValueError, match="fps must be positive"):
        Pacer(fps)


@pytest.mark.parametrize(
    ("attempt", "base_s", "cap_s", "expected"),
    [
        (0, 1.0, 30.0, 1.0),
        (1, 1.0, 30.0, 1.0),
        (2, 1.0, 30.0, 2.0),
        (3, 1.0, 30.0, 4.0),
        (5, 1.0, 30.0, 16.0),
        (6, 1.0, 30.0, 30.0),
        (50, 1.0, 30.0, 30.0),
        (3, 0.5, 30.0, 2.0),
        (4, 0.5, 3.0, 3.0),
    ],
)
def test_backoff_s(attempt: int, base_s: float, cap_s: float, expected: float) -> None:
    assert backoff_s(attempt, base_s, cap_s) == expected


def test_backoff_sequence_doubles_then_caps() -> None:
    seq = [backoff_s(n) for n in range(1, 11)]
    assert seq == [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    assert all(b >= a for a, b in zip(seq, seq[1:], strict=False))


@pytest.mark.parametrize(
    ("source_fps", "cap_fps", "expected"),
    [
        (30.0, 10.0, 10.0),
        (5.0, 10.0, 5.0),
        (30.0, 0.0, 30.0),  # 0: no cap
        (0.0, 10.0, 10.0),  # unknown source rate: assume 25, then cap
        (0.0, 0.0, 25.0),
        (0.5, 0.0, 25.0),  # implausible rate
        (1000.0, 0.0, 25.0),  # implausible rate (some streams report 90000)
        (240.0, 0.0, 240.0),
        (1.0, 0.0, 1.0),
        (25.0, 12.5, 12.5),
    ],
)
def test_effective_fps(source_fps: float, cap_fps: float, expected: float) -> None:
    assert effective_fps(source_fps, cap_fps) == expected
