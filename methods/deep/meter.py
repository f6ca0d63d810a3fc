"""Logged values kept on the device between log flushes, so a training step never waits for the GPU.

Reading a loss on the host (``.item()``) blocks until the GPU has finished every
queued kernel, which starves it of work each step. The engine instead keeps each
step's values on the device and fetches all pending steps every ``log_every``
steps (and before every validation, checkpoint and stop) in one transfer, with
one all-reduce under DDP; ``losses.csv`` still gets one row per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reidbench.methods.deep import distributed


@dataclass
class LogRow:
    """One training step's logged values on the host (averaged over ranks)."""

    step: int
    epoch: int
    phase: str
    values: dict[str, float]


@dataclass
class _Pending:
    step: int
    epoch: int
    phase: str
    keys: tuple[str, ...]  # the columns held in ``vector``, in order
    vector: torch.Tensor | None
    host: dict[str, float]  # values that were host numbers already (learning rates)


class StepMeter:
    """Collects each step's values on the device until :meth:`fetch`."""

    def __init__(self, columns: tuple[str, ...]):
        self.columns = columns
        self.pending: list[_Pending] = []

    def add(self, step: int, epoch: int, phase: str, values: dict[str, torch.Tensor | float]) -> None:
        """Keep a step's values (tensors stay where they are: no sync)."""
        keys = tuple(c for c in self.columns if c in values and torch.is_tensor(values[c]))
        vector = torch.stack([values[k].detach().float().reshape(()) for k in keys]) if keys else None
        host = {c: float(values[c]) for c in self.columns if c in values and not torch.is_tensor(values[c])}
        self.pending.append(_Pending(step, epoch, phase, keys, vector, host))

    def fetch(self, info: distributed.DistInfo, stop: bool) -> tuple[list[LogRow], bool]:
        """Every pending step on the host, averaged over ranks, and whether any rank asked to stop.

        All ranks call it at the same steps (a collective under DDP).
        """
        vectors = [p.vector for p in self.pending if p.vector is not None]
        device = vectors[0].device if vectors else info.device
        flat = torch.cat([*vectors, torch.tensor([float(stop)], device=device)])
        if info.active:
            distributed.all_reduce_sum(flat, info)
            flat[:-1] /= info.world_size
        numbers = flat.tolist()  # the one host sync for all pending steps
        rows, at = [], 0
        for p in self.pending:
            values = dict(zip(p.keys, numbers[at:at + len(p.keys)]))
            at += len(p.keys)
            values.update(p.host)
            rows.append(LogRow(p.step, p.epoch, p.phase, {c: values[c] for c in self.columns if c in values}))
        self.pending.clear()
        return rows, numbers[-1] > 0
