"""Hostile camera inputs, as a table: each gets a clear per-camera error, and the good camera beside them
keeps producing frames. The real ingest service loop over a real Redis; the bad entries are written
straight into the registry (as anyone with Redis access could), bypassing the REST checks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from services.common import keys, registry
from tests.support.cameras import cameras, frames_flow, settle
from tests.support.ui import run_ingest
from tests.support.videos import write_video

pytestmark = pytest.mark.integration


def truncated_moov(tmp: Path, sample_media: Path) -> str:
    data = (sample_media / "single_face.mp4").read_bytes()
    moov = data.find(b"moov")
    cut = data[: moov + 64] if moov > 0 else data[: len(data) // 3]
    (tmp / "truncated.mp4").write_bytes(cut)
    return str(tmp / "truncated.mp4")


def huge_frame_folder(tmp: Path) -> str:
    folder = tmp / "huge"
    folder.mkdir()
    cv2.imwrite(str(folder / "big.jpg"), np.zeros((10_000, 10_000, 3), np.uint8))
    return str(folder)


def fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.mp4")
    return str(tmp / "pipe.mp4")


def empty_dir(tmp: Path) -> str:
    (tmp / "empty").mkdir()
    return str(tmp / "empty")


#: name -> (how to make the URI, mode)
HOSTILE: dict[str, tuple[Callable[[Path, Path], str], str]] = {
    "huge-uri": (lambda tmp, media: "/" + "x" * 5_000_000, "live"),
    "nul-bytes": (lambda tmp, media: "/tmp/a\x00b.mp4", "live"),
    "a-directory": (lambda tmp, media: empty_dir(tmp), "live"),
    "a-fifo": (lambda tmp, media: fifo(tmp), "live"),
    "dev-zero": (lambda tmp, media: "/dev/zero", "live"),
    "truncated-moov": (lambda tmp, media: truncated_moov(tmp, media), "file"),
    "one-pixel": (lambda tmp, media: str(write_video(tmp / "1x1.avi", (1, 1))), "file"),
    "huge-frame": (lambda tmp, media: huge_frame_folder(tmp), "live"),
}


def test_hostile_inputs_stay_with_their_camera(
    redis_client: redis.Redis, redis_url: str, sample_media: Path, tmp_path: Path
) -> None:
    registry.add(redis_client, "good", str(sample_media / "single_face.mp4"), mode="live", loop=True)
    for name, (make, mode) in HOSTILE.items():
        uri = make(tmp_path, sample_media)
        redis_client.hset(keys.camera(name), mapping={"uri": uri, "mode": mode, "loop": 0, "status": "new"})
        redis_client.sadd(keys.CAMERAS, name)
    # a name that is not UTF-8 (a hand-written registry entry)
    redis_client.sadd(keys.CAMERAS, b"\xff\xfebad")
    redis_client.hset(b"emo:camera:\xff\xfebad", mapping={"uri": "/x.mp4", "mode": "live"})

    with run_ingest(redis_url, live_fps_cap=20):
        settle(redis_client, lambda cams: all(cams[n].status in ("error", "failed", "done") for n in HOSTILE))
        flowing = frames_flow(redis_client, "good")
        cams = cameras(redis_client)
    report = {n: (cams[n].status, cams[n].error[:80]) for n in HOSTILE}
    for name in HOSTILE:
        cam = cams[name]
        assert cam.status in ("error", "failed"), f"{name}: {report}"
        assert cam.error and "internal error" not in cam.error, f"{name} needs a clear reason: {report}"
    assert "over the limit of 2048" in cams["huge-uri"].error
    assert "control character" in cams["nul-bytes"].error
    assert "exceeds the limit" in cams["huge-frame"].error
    assert "below the minimum" in cams["one-pixel"].error
    assert cams["good"].status == "running" and flowing, "the good camera stopped producing"
