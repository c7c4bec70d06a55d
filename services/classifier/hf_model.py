"""Any Hugging Face image-classification checkpoint (e.g. a fine-tuned Swin) as an :class:`EmotionModel`.

``AutoModelForImageClassification`` and ``AutoImageProcessor`` load a checkpoint directory or a hub id.
The checkpoint's ``id2label`` is mapped onto the canonical labels; a checkpoint with a label that has no
canonical name is refused. Probabilities always come out over ``CANONICAL_LABELS`` (the seven labels the
tracker, the CSV and the UI use): a ``contempt`` output is dropped and the rest renormalised to sum to 1,
and a canonical label the checkpoint lacks gets probability 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch

from services.classifier.model import to_rgb
from services.common.backend import compile_forward, resolve
from services.common.labels import CANONICAL_LABELS, UnknownLabelError, canonical_label

logger = logging.getLogger(__name__)

#: Crops per forward pass; larger inputs are split.
MAX_BATCH = 64


def label_matrix(id2label: dict[int, str], source: str) -> np.ndarray:
    """``(num_outputs, 7)`` 0/1 matrix that sums each model output into its canonical label.

    Outputs named ``contempt`` map to no column (dropped). Raises UnknownLabelError, naming ``source`` and
    the label, for a label with no canonical name, and ValueError when no output maps to a canonical label.
    """
    matrix = np.zeros((len(id2label), len(CANONICAL_LABELS)), dtype=np.float32)
    for index, name in id2label.items():
        try:
            label = canonical_label(str(name))
        except UnknownLabelError as err:
            raise UnknownLabelError(f"checkpoint {source}: output {index} {name!r}: {err}") from None
        if label in CANONICAL_LABELS:
            matrix[int(index), CANONICAL_LABELS.index(label)] = 1.0
    if not matrix.any():
        raise ValueError(f"checkpoint {source}: none of its labels {sorted(id2label.values())} is an emotion")
    return matrix


class HfEmotionModel:
    """:class:`EmotionModel` over a transformers image classifier; labels are the canonical seven.

    Args:
        source: checkpoint directory or hub id.
        device: torch device string; None picks CUDA when available, else CPU. On CUDA the model runs fp16.
        backend: how the forward pass runs (:mod:`services.common.backend`; ``auto``: OpenVINO on CPU
            when installed).

    Raises:
        FileNotFoundError: ``source`` looks like a path (or is an existing file) but is no directory.
        OSError: transformers cannot load ``source`` (message says why, e.g. offline hub).
        UnknownLabelError: a label of the checkpoint cannot be mapped (see :func:`label_matrix`).
        ValueError: ``backend`` is unknown or cannot run on ``device`` (see :func:`backend.resolve`).
    """

    labels: tuple[str, ...] = CANONICAL_LABELS

    def __init__(self, source: str, device: str | None = None, backend: str = "auto") -> None:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        path = Path(source).expanduser()
        if looks_like_path(source) and not path.is_dir():
            raise FileNotFoundError(f"checkpoint directory {source} does not exist")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.backend = resolve(backend, self.device)
        location = str(path) if path.is_dir() else source
        try:
            self.processor = AutoImageProcessor.from_pretrained(location)
            net = AutoModelForImageClassification.from_pretrained(location)
        except (OSError, ValueError) as err:
            where = "directory" if path.is_dir() else "hub id (set HF_HUB_OFFLINE=0 and have network access)"
            raise OSError(
                f"cannot load the image-classification checkpoint {source} as a {where}: {err}"
            ) from err
        self.matrix = torch.from_numpy(label_matrix(dict(net.config.id2label), source)).to(self.device)
        self.net = net.eval().to(self.device, self.dtype)
        size = self.processor(images=[np.zeros((8, 8, 3), np.uint8)], return_tensors="pt")["pixel_values"]
        self.forward = compile_forward(_Logits(self.net), size.to(self.device, self.dtype), self.backend)
        logger.info(
            "loaded hf model=%s device=%s dtype=%s backend=%s labels=%s",
            source,
            self.device,
            self.dtype,
            self.backend,
            list(net.config.id2label.values()),
        )

    def predict(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities ``(n, 7)`` float32 for uint8 BGR or gray crops of any size, in batches of 64.

        Crops go to the processor as RGB. Raises ValueError for an empty or malformed crop.
        """
        rgb = [to_rgb(np.asarray(crop)) for crop in crops_bgr]
        out = np.zeros((len(rgb), len(self.labels)), dtype=np.float32)
        for start in range(0, len(rgb), MAX_BATCH):
            chunk = rgb[start : start + MAX_BATCH]
            pixels = self.processor(images=chunk, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                logits = self.forward(pixels.to(self.device, self.dtype)).to(self.device)
                probs = torch.softmax(logits.float(), dim=1) @ self.matrix
                probs = probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-12)
            out[start : start + len(chunk)] = probs.cpu().numpy()
        return out


class _Logits(torch.nn.Module):
    """A transformers image classifier as a module whose output is its logits tensor (for tracing)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.net(pixel_values=pixel_values).logits)


def looks_like_path(source: str) -> bool:
    """True when ``source`` is meant as a local path rather than a hub id ``owner/name``."""
    return (
        source.startswith(("/", ".", "~"))
        or Path(source).expanduser().exists()
        or source.count("/") > 1
        or "\\" in source
    )
