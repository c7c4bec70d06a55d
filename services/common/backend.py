"""How the model services run their nets: PyTorch eager (fp32, or bf16 autocast) or OpenVINO.

On this project's CPUs (AMD EPYC with AVX-512 bf16) PyTorch's fp32 matmul goes through an MKL without an
AVX-512 path; OpenVINO with its bf16 inference hint runs a full-size Swin-T 2.6x faster per face at batch 8
with the same argmax on 99.4% of FER2013 publictest (``python -m benchmarks.backends``,
docs/performance.md). The detector runs MTCNN's three nets on OpenVINO in f32 when the backend resolves
to ``openvino`` (its score thresholds were fitted in fp32), else on PyTorch fp32.

Only the model services import this module (it imports torch).

- ``torch``: eager PyTorch as loaded (fp32 on CPU; the model's own dtype on CUDA).
- ``torch-bf16``: eager PyTorch under ``torch.autocast("cpu", bfloat16)``; CPU only.
- ``openvino``: the net converted once with ``openvino.convert_model`` (dynamic batch) and compiled for
  the CPU with the bf16 precision hint where the CPU has bf16, else f32; ``torch.get_num_threads()``
  inference threads. Needs the ``openvino`` package (in the detector and classifier extras); CPU only.
- ``auto``: ``openvino`` on CPU when it is installed, else ``torch``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast, get_args

import numpy as np
import torch
from torch import nn

from services.common.settings import Backend

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = get_args(Backend)

#: A compiled forward pass: float32 NCHW input batch -> float32 logits ``(n, classes)``.
Forward = Callable[[torch.Tensor], torch.Tensor]


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve(backend: str, device: torch.device) -> Backend:
    """The backend ``backend`` means on ``device``: ``auto`` made concrete.

    Raises ValueError for an unknown name, a CPU-only backend on another device, and ``openvino`` when
    the package is not installed (naming the pip command)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "openvino" if device.type == "cpu" and openvino_available() else "torch"
    if backend != "torch" and device.type != "cpu":
        raise ValueError(f"backend {backend!r} runs on the CPU only, not on {device}")
    if backend == "openvino" and not openvino_available():
        raise ValueError("backend 'openvino' needs the openvino package (pip install openvino)")
    return cast(Backend, backend)


def compile_forward(net: nn.Module, example: torch.Tensor, backend: Backend) -> Forward:
    """``net``'s forward pass (a module whose output is the logits tensor) on ``backend``.

    ``example`` is one input batch of the right shape and dtype; ``openvino`` traces with it once, and
    its compiled net takes any batch size of inputs of the example's other dimensions."""
    net = net.eval()
    if backend == "torch":
        return cast(Forward, net)
    if backend == "torch-bf16":

        def bf16(x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return cast(torch.Tensor, net(x)).float()

        return bf16
    if backend == "openvino":
        return _openvino(net, example)
    raise ValueError(f"backend {backend!r} is not concrete; resolve() it first")


def _openvino(net: nn.Module, example: torch.Tensor) -> Forward:
    run = openvino_compile(net, example)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(run(x)[0])

    return forward


@contextmanager
def _no_telemetry() -> Iterator[None]:
    """No usage telemetry from OpenVINO's model converter (ovc): on import and on each conversion it sends
    an event to Google Analytics from a forked process, and in a process with threads that fork
    deadlocked here and hung the service for good.
    ovc sends nothing when ``CI=true`` (its own opt-out for unattended runs), so the conversion sees
    that; the variable is put back as it was afterwards."""
    before = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = before


def openvino_compile(
    net: nn.Module, example: torch.Tensor, dynamic_spatial: bool = False, precision: str | None = None
) -> Callable[[torch.Tensor], list[np.ndarray]]:
    """``net`` converted with ``openvino.convert_model`` and compiled for the CPU: a callable from an
    input batch to the list of the net's outputs as float32 arrays.

    The batch dimension is dynamic, and with ``dynamic_spatial`` the height and width too (fully
    convolutional nets); otherwise they stay the example's: nets with "same" padding computed in Python
    (mini-Xception) trace their spatial sizes as constants. ``precision``: ``bf16`` or ``f32`` (None:
    bf16 where the CPU has it). Inference threads: ``torch.get_num_threads()``."""
    with _no_telemetry():  # importing ovc sends an event too
        import openvino as ov
        from openvino.tools import ovc  # noqa: F401 -- imported here, inside the opt-out

    core = ov.Core()
    if precision is None:
        precision = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
    threads = torch.get_num_threads()
    dims = [-1, *example.shape[1:]]
    if dynamic_spatial:
        dims[2:] = [-1] * (len(dims) - 2)
    with torch.inference_mode(), warnings.catch_warnings(), _no_telemetry():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]  # torch.jit does not export TracerWarning in its stubs
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.trace is deprecated": openvino's own use
        converted = ov.convert_model(net.eval(), example_input=example, input=[ov.PartialShape(dims)])
    compiled = core.compile_model(
        converted,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            # no pinning: the detector and the classifier are separate processes, and each would pin its
            # threads to the same first cores (1.26 of 2 cores busy with pinning on, `emostream bench`)
            "ENABLE_CPU_PINNING": False,
        },
    )
    log.info("openvino compiled net=%s precision=%s threads=%d", type(net).__name__, precision, threads)

    def run(x: torch.Tensor) -> list[np.ndarray]:
        outputs = compiled(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32))
        return [np.asarray(outputs[i], dtype=np.float32) for i in range(len(outputs))]

    return run
