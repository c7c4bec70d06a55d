"""The classifier service as a process over a real Redis, choosing a Swin checkpoint by EMOSTREAM_MODEL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from services.common import codec, keys, registry
from services.common.image import encode_jpeg
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Emotions, Face, Faces

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def swin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.unit.classifier.test_classifier_hf import SWIN_LABELS, save_tiny_swin

    return save_tiny_swin(tmp_path_factory.mktemp("swin"), SWIN_LABELS)


def faces(seq: int) -> Faces:
    crop = encode_jpeg(np.random.default_rng(seq).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return Faces(
        camera_id="cam1",
        seq=seq,
        captured_ms=int(time.time() * 1000),
        mode="file",
        frame_key=keys.frame("cam1", seq),
        size_wh=(640, 360),
        faces=(Face(box_xyxy=(0.0, 0.0, 64.0, 64.0), score=0.99, crop_jpeg=crop),),
    )


def test_service_classifies_with_a_swin_checkpoint(
    redis_url: str, redis_client: redis.Redis, swin_dir: Path
) -> None:
    registry.add(redis_client, "cam1", "/videos/a.mp4", mode="file")
    for seq in range(3):
        redis_client.xadd(keys.stream("faces", "cam1"), codec.encode(faces(seq)))
    env = {
        **os.environ,
        "EMOSTREAM_REDIS_URL": redis_url,
        "EMOSTREAM_MODEL": str(swin_dir),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen([sys.executable, "-m", "services.classifier"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 120
        out: list[Emotions] = []
        while time.monotonic() < deadline and len(out) < 3 and proc.poll() is None:
            time.sleep(0.2)
            out = [
                m
                for _, f in redis_client.xrange(keys.stream("emotions", "cam1"))
                if isinstance(m := codec.decode(f), Emotions)
            ]
        assert [m.seq for m in out] == [0, 1, 2], f"service exit code {proc.poll()}"
        for m in out:
            assert m.model == str(swin_dir)
            assert tuple(m.faces[0].probs) == CANONICAL_LABELS
            assert sum(m.faces[0].probs.values()) == pytest.approx(1.0, abs=1e-3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_service_with_an_unmappable_checkpoint_exits_with_the_reason(redis_url: str, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from tests.unit.classifier.test_classifier_hf import save_tiny_swin

    save_tiny_swin(tmp_path, ["LABEL_0", "LABEL_1"])
    env = {
        **os.environ,
        "EMOSTREAM_REDIS_URL": redis_url,
        "EMOSTREAM_MODEL": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "services.classifier"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "LABEL_0" in proc.stderr
