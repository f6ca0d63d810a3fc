"""torchrun support: process group set-up, gathering and broadcasting.

The engine creates the process group on the first ``fit`` of a process launched
with WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU) and destroys it when the process
exits. Re-creating the default group inside one torchrun process would reuse the
launcher's store keys, so a second ``fit`` (the runner trains several methods in
one process) could read the first group's stale addresses and fail to connect.
Test-time embedding runs on every rank without collectives, so a rank that
evaluates longer than the others can never leave them hanging.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from reidbench.device import torch_device


@dataclass
class DistInfo:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> DistInfo:
    """Join (or create) the process group when launched by torchrun with WORLD_SIZE > 1."""
    dev = torch_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        atexit.register(_destroy)
    return DistInfo(dist.get_rank(), dist.get_world_size(), dev)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def finish(info: DistInfo) -> None:
    """End of a clean ``fit``: every rank leaves training together."""
    if info.active:
        dist.barrier()


def all_reduce_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def gather_rows(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's rows in rank order (ranks may hold different counts)."""
    if not info.active:
        return x
    n = torch.tensor([len(x)], device=x.device)
    counts = [torch.zeros_like(n) for _ in range(info.world_size)]
    dist.all_gather(counts, n)
    most = int(max(c.item() for c in counts))
    padded = torch.zeros((most, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[:len(x)] = x
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(c.item())] for p, c in zip(parts, counts)])


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Rank 0's buffers everywhere: BN running statistics drift apart under DDP,
    since each rank's last forward updates them with its own batch."""
    if info.active:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank (checkpoints: the file may exist on rank 0 only)."""
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=info.device if info.device.type == "cuda" else None)
    return box[0]


def shard_range(n: int, info: DistInfo) -> range:
    """This rank's contiguous share of n items."""
    per = -(-n // info.world_size)
    return range(min(n, info.rank * per), min(n, (info.rank + 1) * per))
