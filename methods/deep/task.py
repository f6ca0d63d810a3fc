"""What a deep method hands the engine: its networks, optimisers and one training step.

The engine owns the loop, data, devices, DDP, logging, checkpoints and model
selection; a :class:`Task` only says how one batch updates its sub-networks, so
cmGAN's two alternating optimisers and Wu et al.'s single one share the engine.
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



@dataclass
class Batch:
    """One rank's share of a training batch, on the training device."""

    images: torch.Tensor  # B x 3 x H x W float in [0, 1]
    labels: torch.Tensor  # class index of each image's identity
    modalities: torch.Tensor  # 0 RGB, 1 IR


class Amp:
    """Mixed precision: autocast on CUDA (bf16, or fp16 with a GradScaler per optimiser)."""

    def __init__(self, mode: str, device: torch.device, optimizer_names: list[str]):
        if mode not in AMP_MODES:
            raise ReidbenchError(f"unknown amp mode '{mode}' (known: {', '.join(AMP_MODES)})")
        if device.type != "cuda":
            mode = "off"  # CPU autocast is slower than float32 for these convolutions
        elif mode == "auto":
            mode = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        self.mode = mode
        self.device = device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        # fp16 gradients underflow without loss scaling; each optimiser keeps its own scale.
        self.scalers = {n: torch.amp.GradScaler("cuda") for n in optimizer_names} if mode == "fp16" else {}

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            yield

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, name: str) -> None:
        """Backward ``loss`` and step ``optimizer`` (zeroing its gradients first)."""
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
        forward; ``self.networks`` are the plain modules (for frozen calls).
        """

    @abc.abstractmethod
    def embed(self, images: torch.Tensor, modalities: torch.Tensor) -> torch.Tensor:
        """Test features of a [0, 1] image batch (networks already in eval mode)."""

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
