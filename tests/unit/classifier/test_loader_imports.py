"""Loading a native checkpoint needs the checkpoint module, not the training code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bundled_native_checkpoint_loads_without_the_training_module() -> None:
    code = (
        "import sys; sys.modules['services.classifier.train'] = None\n"
        "from services.classifier.loader import load_model\n"
        "model = load_model('emo-vgg', device='cpu')\n"
        "assert type(model).__name__ == 'TorchEmotionModel', type(model)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_checkpoint_names_stay_importable_from_train() -> None:
    from services.classifier import checkpoint, train

    assert train.load_native is checkpoint.load_native and train.save_native is checkpoint.save_native
    assert (train.NATIVE_CONFIG, train.NATIVE_WEIGHTS) == ("emostream.json", "model.safetensors")
