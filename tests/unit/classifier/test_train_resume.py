"""Resumable training: a run killed after an epoch, or inside one, goes on from ``resume.pt`` to the very
weights of an uninterrupted run; and the efficientnet-lite0 architecture trains and loads like the others."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from services.classifier.loader import load_model
from services.classifier.recipe import TrainConfig
from services.classifier.resume import RESUME_STATE
from services.classifier.train import NATIVE_WEIGHTS, train
from services.common.labels import CANONICAL_LABELS
from tests.support.labelled_images import image_folder

CFG = TrainConfig(
    arch="emo-vgg", widths=(4, 8, 8, 8), epochs=2, batch_size=8, mixup=0.4, cutmix=1.0, ema=0.9, amp=False
)


class Killed(Exception):
    """Stands in for the process being killed."""


def fer_folder(root: Path, per_label: int = 5, seed: int = 0) -> Path:
    return image_folder(root, CANONICAL_LABELS, per_label, seed)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fer")
    return fer_folder(root / "train"), fer_folder(root / "publictest", per_label=2, seed=1)


def kill_at(line: str) -> object:
    def log(message: str) -> None:
        if message == line:
            raise Killed(message)

    return log


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / NATIVE_WEIGHTS)), load_file(str(b / NATIVE_WEIGHTS))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def resume_state(out: Path) -> dict[str, object]:
    state: dict[str, object] = torch.load(out / RESUME_STATE, weights_only=True)
    return state


@pytest.mark.parametrize(
    ("save_minutes", "kill_line", "resumed_line"),
    [
        (5.0, "state saved: epoch 1 done", "epoch 2 at face 0 of 35"),  # killed between epochs
        (0.0, "state saved: epoch 2 at face 16 of 35", "epoch 2 at face 16 of 35"),  # inside epoch 2
    ],
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    data: tuple[Path, Path], tmp_path: Path, save_minutes: float, kill_line: str, resumed_line: str
) -> None:
    train_dir, val_dir = data
    cfg = TrainConfig(**{**CFG.__dict__, "save_minutes": save_minutes})
    train(train_dir, val_dir, tmp_path / "whole", CFG, log=lambda s: None)

    out = tmp_path / "resumed"
    with pytest.raises(Killed):
        train(train_dir, val_dir, out, cfg, log=kill_at(kill_line))  # type: ignore[arg-type]
    assert stat.S_IMODE((out / RESUME_STATE).stat().st_mode) == 0o600
    assert not list(out.glob(".*.tmp"))  # written atomically: no temporary file left behind
    lines: list[str] = []
    train(train_dir, val_dir, out, cfg, log=lines.append)
    assert any(line.startswith("resumed from") and line.endswith(resumed_line) for line in lines), lines
    assert not any(line.startswith("epoch 1 ") for line in lines)  # epoch 1 was not trained again
    assert any(line.startswith("epoch 2 ") for line in lines)

    assert_same_weights(tmp_path / "whole", out)
    whole, resumed = resume_state(tmp_path / "whole"), resume_state(out)
    assert (resumed["epoch"], resumed["done"]) == (3, True)
    for part in ("net", "ema"):  # the last weights, not only the kept (best) epoch's
        last_w, last_r = whole[part], resumed[part]
        assert last_w.keys() == last_r.keys()  # type: ignore[attr-defined]
        for k in last_w:  # type: ignore[attr-defined]
            assert torch.equal(last_w[k], last_r[k]), f"{part}.{k}"  # type: ignore[index]
    assert resumed["best"] == whole["best"]
    assert resumed["scheduler"] == whole["scheduler"]
    opt_w, opt_r = whole["optimizer"]["state"], resumed["optimizer"]["state"]  # type: ignore[index]
    assert opt_w.keys() == opt_r.keys()
    for k in opt_w:
        assert opt_w[k]["step"] == opt_r[k]["step"]
        assert torch.equal(opt_w[k]["exp_avg"], opt_r[k]["exp_avg"])


def test_a_finished_run_is_not_trained_again(data: tuple[Path, Path], tmp_path: Path) -> None:
    train(data[0], data[1], tmp_path, CFG, log=lambda s: None)
    lines: list[str] = []
    train(data[0], data[1], tmp_path, CFG, log=lines.append)
    assert not any(line.startswith("epoch ") for line in lines)


def test_another_runs_state_is_refused(data: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(Killed):
        train(data[0], data[1], tmp_path, CFG, log=kill_at("state saved: epoch 1 done"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="another run.*lr"):
        train(data[0], data[1], tmp_path, TrainConfig(**{**CFG.__dict__, "lr": 1e-4}), log=lambda s: None)


def test_efficientnet_lite0_fine_tunes_from_imagenet_and_loads_as_native(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    cfg = TrainConfig(
        arch="efficientnet-lite0", init="imagenet", size=32, epochs=1, batch_size=16, mixup=0.2, cutmix=1.0
    )
    lines: list[str] = []
    train(data[0], data[1], tmp_path, cfg, log=lines.append)
    assert any(line.startswith("epoch 1 ") for line in lines)
    model = load_model(str(tmp_path), device="cpu", backend="torch")
    assert model.input_size == 32  # type: ignore[attr-defined]
    probs = model.predict([np.zeros((48, 48), np.uint8), np.full((60, 50, 3), 200, np.uint8)])
    assert probs.shape == (2, 7)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
