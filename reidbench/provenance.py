"""Facts that make a result reproducible: versions, git commit, device, host."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("reidbench", "numpy", "scipy", "torch", "torchvision", "scikit-image", "scikit-learn",
            "pandas", "pillow")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit of the reidbench checkout (None when installed from a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


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


def check_device_name(device: str) -> str:
    """The spelling of a device (auto, cpu, cuda, cuda:N), checked without torch."""
    from reidbench.errors import ReidbenchError

    if device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ReidbenchError(f"unknown device '{device}' (use auto, cpu, cuda or cuda:N)")
    return device


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; a CUDA device must exist. ``cpu`` never imports torch."""
    from reidbench.errors import ReidbenchError

    if check_device_name(device) == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ReidbenchError(f"--device {device} requested but no CUDA GPU is available")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ReidbenchError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
