"""The classifier's CPU backends agree with fp32 PyTorch, and a backend that cannot run is refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from services.classifier.loader import DEFAULT_MODEL, load_model
from services.common.backend import openvino_available, resolve
from tests.unit.classifier.test_classifier_hf import SWIN_LABELS, crops, save_tiny_swin

needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")


@pytest.fixture(scope="module")
def swin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)  # the same random-weight net every run
    return save_tiny_swin(tmp_path_factory.mktemp("swin"), SWIN_LABELS)


def face_crops() -> list[np.ndarray]:
    """Smooth, face-sized crops (noise crops are far from what the nets see, and from what they learnt)."""
    rng = np.random.default_rng(3)
    out = []
    for size in (48, 64, 96, 120):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        out.append(np.ascontiguousarray(np.kron(small, np.ones((size // 6, size // 6, 1), np.uint8))))
    return out + crops()


@pytest.mark.parametrize("backend", ["torch-bf16", pytest.param("openvino", marks=needs_openvino)])
@pytest.mark.parametrize("model", [DEFAULT_MODEL, "swin"])
def test_backend_agrees_with_fp32(backend: str, model: str, swin_dir: Path) -> None:
    name = str(swin_dir) if model == "swin" else model
    batch = face_crops()
    ref = load_model(name, device="cpu", backend="torch").predict(batch)
    fast = load_model(name, device="cpu", backend=backend)
    got = fast.predict(batch)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=0.02)
    # top-1 must agree on every crop where fp32's lead over the runner-up is more than twice the crop's
    # error; a random-weight net's near-ties (leads of 1e-4) can flip on rounding alone and say nothing
    top2 = np.sort(ref, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) > 2 * np.abs(got - ref).max(axis=1)
    assert decisive.sum() >= len(batch) // 2, "too few decisive crops to compare top-1 on"
    assert (got.argmax(1) == ref.argmax(1))[decisive].all()
    # the compiled net takes any batch size: one crop at a time gives the same answers
    np.testing.assert_allclose(np.concatenate([fast.predict([c]) for c in batch[:3]]), got[:3], atol=1e-3)


def test_auto_is_openvino_on_cpu_when_installed() -> None:
    expected = "openvino" if openvino_available() else "torch"
    assert resolve("auto", torch.device("cpu")) == expected
    assert resolve("auto", torch.device("cuda")) == "torch"
    assert resolve("torch", torch.device("cuda")) == "torch"


@pytest.mark.parametrize(
    ("backend", "device", "message"),
    [
        ("tensorrt", "cpu", "unknown backend 'tensorrt'; choose one of auto, torch"),
        ("torch-bf16", "cuda", "runs on the CPU only"),
        ("openvino", "cuda", "runs on the CPU only"),
    ],
)
def test_a_backend_that_cannot_run_is_refused(backend: str, device: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(backend, torch.device(device))


def test_openvino_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import services.common.backend as backend_module

    monkeypatch.setattr(backend_module, "openvino_available", lambda: False)
    with pytest.raises(ValueError, match=r"pip install openvino"):
        resolve("openvino", torch.device("cpu"))
    assert resolve("auto", torch.device("cpu")) == "torch"


@needs_openvino
def test_openvino_sends_no_telemetry() -> None:
    """ovc's telemetry forks a process per event (on import and on each conversion); in a process with
    threads such a fork hung a conversion. A fresh process, so that the import's event counts too."""
    import os
    import subprocess
    import sys

    script = (
        "import multiprocessing, os, time, torch\n"
        "forked = []\n"
        "multiprocessing.Process.start = lambda self: forked.append(self)\n"
        "from services.common.backend import openvino_compile\n"
        "run = openvino_compile(torch.nn.Conv2d(1, 2, 3), torch.zeros(1, 1, 8, 8))\n"
        "assert run(torch.zeros(2, 1, 8, 8))[0].shape == (2, 2, 6, 6)\n"
        "time.sleep(0.5)\n"
        "print(len(forked), os.environ.get('CI'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "None"]  # nothing forked, and CI put back as it was (unset)
