"""`emostream eval classifier` end to end on small folders (a tiny local Swin; FER2013 when present)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.cli import SUBCOMMANDS, main
from tests.support.labelled_images import image_folder

FER2013 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fer2013"
PUBLICTEST = FER2013 / "publictest"


@pytest.fixture(scope="module")
def swin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.unit.classifier.test_classifier_hf import SWIN_LABELS, save_tiny_swin

    return save_tiny_swin(tmp_path_factory.mktemp("swin"), SWIN_LABELS)


def test_eval_is_registered() -> None:
    assert SUBCOMMANDS["eval"]["classifier"] == "services.cli.eval_classifier"
    assert SUBCOMMANDS["train"]["classifier"] == "services.cli.train_classifier"


def test_eval_swin_prints_json_and_plot(
    swin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = image_folder(tmp_path / "data", ["anger", "happiness", "Neutral"])
    png = tmp_path / "plots" / "confusion.png"
    argv = ["eval", "classifier", "--data", str(data), "--model", str(swin_dir), "--json", "--plot", str(png)]
    rc = main([*argv, "--timing-faces", "32"])
    out = capsys.readouterr().out
    assert rc == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == 9
    confusion = np.array(result["confusion"])
    assert confusion.shape == (7, 7)
    assert confusion.sum(axis=1).tolist() == [3, 0, 0, 3, 0, 0, 3]
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / 9, abs=1e-6)
    assert set(result["per_class_recall"]) == {"angry", "happy", "neutral"}
    assert set(result["ms_per_face"]) == {"batch_1", "batch_32"}
    assert all(v > 0 for v in result["ms_per_face"].values())
    assert "accuracy" in out and "confusion" in out
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 100


@pytest.mark.parametrize(
    ("folders", "message"),
    [
        (None, "does not exist"),
        (["happy", "bored"], "bored"),
        ([], "no images"),
    ],
)
def test_eval_bad_data_folder_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folders: list[str] | None, message: str
) -> None:
    data = tmp_path / "data"
    if folders is not None:
        data.mkdir()
        image_folder(data, folders)
    rc = main(["eval", "classifier", "--data", str(data), "--model", "mini-xception"])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_eval_missing_checkpoint_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = image_folder(tmp_path / "data", ["happy"])
    rc = main(["eval", "classifier", "--data", str(data), "--model", str(tmp_path / "absent")])
    assert rc == 2
    assert "absent" in capsys.readouterr().err


@pytest.mark.skipif(not PUBLICTEST.is_dir(), reason=f"{FER2013} is absent (a fresh clone has none)")
def test_eval_default_model_on_publictest(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("h5py")
    rc = main(
        ["eval", "classifier", "--data", str(PUBLICTEST), "--limit", "350", "--json", "--timing-faces", "32"]
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0
    assert result["n"] == 350
    assert result["accuracy"] >= 0.6
