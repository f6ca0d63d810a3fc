"""RNG state capture (so a resumed run replays the uninterrupted one) and determinism.

Every source of randomness a training run touches is listed here: Python
``random``, numpy's global RNG, torch's CPU generator and the CUDA generator of the
run's device. The sampler and the augmenter own their own generators and save them separately.
"""
from __future__ import annotations

import contextlib
import os
import random
from typing import Any, Iterator

import numpy as np
import torch

# cuBLAS reads its workspace size once per process, at its first GEMM: a
# deterministic method trained after another one in the same process (a
# multi-method run) would find the default workspace already chosen. So the fixed
# workspace cuBLAS needs for deterministic GEMMs is set before any deep method runs.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@contextlib.contextmanager
def determinism(enabled: bool) -> Iterator[None]:
    """Deterministic kernels and no cuDNN autotuning when ``enabled``, autotuning otherwise.

    The previous global settings come back afterwards: the runner trains several
    methods in one process.
    """
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    if enabled:
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1:]


def capture_rng_state(device: torch.device) -> dict[str, Any]:
    """The global RNG states (``device``'s CUDA generator included), storable with ``weights_only`` loading."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        # numpy's MT19937 key as a list: checkpoints load with ``weights_only=True``
        "numpy": (name, keys.tolist(), pos, has_gauss, gauss),
        "torch_cpu": torch.get_rng_state(),
    }
    if device.type == "cuda":
        # The run's device only: under DDP every rank draws the same stream on its
        # own device, so rank 0's state is every rank's state.
        state["torch_cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Put back what :func:`capture_rng_state` returned."""
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch_cpu"])
    cuda = state.get("torch_cuda")
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)
