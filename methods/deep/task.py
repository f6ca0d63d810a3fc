"""What a deep method hands the engine: its networks, optimisers and one training step.

The engine owns the loop, data, devices, DDP, logging, checkpoints and model
selection; a :class:`Task` only says how one batch updates its sub-networks, so
cmGAN's two alternating optimisers, Wu et al.'s single one and AGW share the engine.
"""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

import torch
from torch import nn

from reidbench.errors import ReidbenchError
from reidbench.methods.deep.config import AMP_MODES

# Native bf16 tensor cores start with Ampere; older GPUs emulate bf16 slowly.
BF16_CAPABILITY = (8, 0)
# fp16 tensor cores start with Volta; Pascal (the paper's 1080 Ti) gains nothing from autocast.
FP16_CAPABILITY = (7, 0)


@dataclass
class Batch:
    """One rank's share of a training batch, on the training device, modality-major.

    The first ``n_rgb`` rows are RGB and the rest IR: the count is known on the host,
    so a two-stream network splits the batch by slicing, without a device sync.
    """

    images: torch.Tensor  # B x 3 x H x W float in [0, 1]
    labels: torch.Tensor  # class index of each image's identity
    modalities: torch.Tensor  # 0 RGB, 1 IR
    n_rgb: int


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``mode`` on ``device`` (None: float32).

    ``auto`` takes bf16 only where *this* device has native bf16 (compute capability
    8.0+, asked of this device alone, so no context opens on another GPU), fp16 where
    it has fp16 tensor cores (7.x) and float32 below; CPU autocast is slower than
    float32 for these convolutions, so CPU runs stay in float32.
    """
    if mode not in AMP_MODES:
        raise ReidbenchError(f"unknown amp mode '{mode}' (known: {', '.join(AMP_MODES)})")
    if device.type != "cuda" or mode == "off":
        return None
    capability = torch.cuda.get_device_capability(device)
    if mode == "auto":
        if capability < FP16_CAPABILITY:
            return None
        mode = "bf16" if capability >= BF16_CAPABILITY else "fp16"
    elif mode == "bf16" and capability < BF16_CAPABILITY:
        raise ReidbenchError(f"amp=bf16 needs compute capability {BF16_CAPABILITY[0]}.{BF16_CAPABILITY[1]} or "
                             f"newer; {device} has {capability[0]}.{capability[1]} (use amp=fp16 or auto)")
    return torch.bfloat16 if mode == "bf16" else torch.float16


class Amp:
    """Mixed precision: the autocast dtype and, for fp16, one GradScaler per optimiser."""

    def __init__(self, mode: str, device: torch.device, optimizer_names: list[str]):
        self.dtype = amp_dtype(mode, device)
        self.mode = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "off")
        self.device = device
        # fp16 gradients underflow without loss scaling; each optimiser keeps its own scale.
        self.scalers = {n: torch.amp.GradScaler(device.type) for n in optimizer_names} \
            if self.dtype == torch.float16 else {}

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            yield

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, name: str) -> None:
        """Backward ``loss`` and step ``optimizer`` (zeroing its gradients first).

        With fp16 the scaler's inf check stays on the device: the engine builds fused
        optimisers on CUDA, which take the scale and the found-inf flag as tensors.
        """
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {n: s.state_dict() for n, s in self.scalers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, s in self.scalers.items():
            if n in state:
                s.load_state_dict(state[n])


class Task(abc.ABC):
    """A deep method's trainable state and its training step.

    ``networks`` are the sub-networks (saved, moved to the device, wrapped in DDP);
    ``optimizers``/``schedulers`` are keyed by name. ``columns`` are the values
    ``train_step`` may report, in ``losses.csv`` order.
    """

    columns: ClassVar[tuple[str, ...]]
    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]

    @abc.abstractmethod
    def train_step(self, step: int, batch: Batch, nets: Mapping[str, nn.Module],
                   amp: Amp) -> tuple[str, dict[str, torch.Tensor | float]]:
        """Update on ``batch``; return the phase name and the logged values.

        ``nets`` holds the (possibly DDP-wrapped) networks to call for a training
        forward; ``self.networks`` are the plain modules (for frozen calls). Logged
        tensors stay on the device: reading them here would stall the GPU every step.
        """

    @abc.abstractmethod
    def embed(self, images: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        """Test features of a modality-major [0, 1] image batch (networks already in eval mode)."""

    def check(self, step: int, values: dict[str, float]) -> None:
        """Stop a run going wrong (raise ReidbenchError); values are averaged over ranks."""

    def extra_state(self) -> dict[str, Any]:
        """Task state beyond networks and optimisers that a resume must restore."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def describe(self) -> dict[str, Any]:
        """Decisions worth recording in the result file."""
        return {}

    def train(self, mode: bool = True) -> None:
        for net in self.networks.values():
            net.train(mode)
