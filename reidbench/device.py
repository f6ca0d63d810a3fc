"""Which device a run uses: the one owner of that decision for the runner, sweeps, tuning and the engine.

A device is spelled ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; the spelling is checked
without torch (so argument errors stay fast), availability with it. Under torchrun
(``WORLD_SIZE`` > 1) each rank takes the GPU of its ``LOCAL_RANK``. Nothing here
touches a GPU other than the run's, so parallel sweep points on several GPUs never
create contexts on each other's devices.
"""
from __future__ import annotations

import os
import platform
import re
import sys
from typing import Any

from reidbench.errors import ReidbenchError


def check_device_name(device: str) -> str:
    """The spelling of a device (auto, cpu, cuda, cuda:N), checked without torch."""
    if device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ReidbenchError(f"unknown device '{device}' (use auto, cpu, cuda or cuda:N)")
    return device


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; a CUDA device must exist; torchrun ranks get their local GPU.

    ``cpu`` never imports torch.
    """
    if check_device_name(device) == "cpu":
        return device
    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        device = "cuda"
    if not torch.cuda.is_available():
        raise ReidbenchError(f"--device {device} requested but no CUDA GPU is available")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ReidbenchError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return f"cuda:{index}"


def torch_device(device: str) -> Any:
    """The ``torch.device`` of a resolved device, made current for CUDA (so stray allocations land there)."""
    import torch

    dev = torch.device(resolve_device(device))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def device_info(device: str) -> dict[str, Any]:
    """The device and the host CPU; torch's thread count and the GPU when torch was used."""
    info: dict[str, Any] = {"device": device, "cpu": platform.processor() or platform.machine(),
                            "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
            info["cuda"] = torch.version.cuda
    return info
