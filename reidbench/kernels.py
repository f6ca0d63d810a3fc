"""The CPU kernels that decide a run's numbers, pinned so that every x86-64 machine computes the same bits.

torch's ATen ops, oneDNN's convolutions and MKL's GEMMs (both inside torch), and OpenBLAS (inside
numpy and scipy) each pick SIMD kernels for the CPU they load on, and their thread counts change the
order of reductions. The last bits differ, and training amplifies them: the same 60-step cmGAN run
on ``synthetic-tiny`` scored mAP 39.89 under ATen's avx512 kernels and 37.21 under its default ones.

Each library reads its choice from the environment once, when it loads. So the kernels can only be
pinned before numpy and torch are imported: the command line pins them right after parsing its
arguments (re-starting itself when something loaded them first), scripts call :func:`pin` before
importing numpy, and every result records what was in effect (:func:`record`). The pinned level is
x86-64-v3 (AVX2 and FMA, every x86-64 server CPU since 2013), the level of the machines that made
the reference results, with two threads everywhere.
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reidbench.errors import ReidbenchError

LEVEL = "x86-64-v3"
THREADS = "2"
PINNED_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised CPU kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (torch's CPU convolutions)
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility (torch's CPU BLAS)
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's BLAS and LAPACK
    "OMP_NUM_THREADS": THREADS,  # torch's intra-op threads
    "MKL_NUM_THREADS": THREADS,
    "OPENBLAS_NUM_THREADS": THREADS,
}
MODES = ("auto", "pinned", "native")
LIBRARIES = ("numpy", "scipy", "torch")  # modules whose loading fixes their kernels


@dataclass(frozen=True)
class Pinning:
    """What :func:`pin` decided for this process."""

    mode: str
    pinned: bool
    reason: str  # why not pinned, or "" when pinned


_state: Pinning | None = None


def is_pinned_env() -> bool:
    return all(os.environ.get(k) == v for k, v in PINNED_ENV.items())


def why_not(mode: str, device: str) -> str:
    """Why this process cannot or should not pin its kernels ("" when it should)."""
    if mode not in MODES:
        raise ReidbenchError(f"unknown --kernels '{mode}' (known: {', '.join(MODES)})")
    if mode == "native":
        return "native kernels requested (--kernels native)"
    if device.startswith("cuda"):
        return "a CUDA run: its numbers come from GPU kernels"
    if mode == "auto" and device == "auto" and _gpu_driver_present():
        return "a GPU driver is present, so --device auto may train on it (use --device cpu to pin)"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"not an x86-64 CPU ({platform.machine()}): the reference kernels do not exist here"
    missing = {"avx2", "fma"} - _cpu_flags()
    if missing:
        return f"the CPU lacks {', '.join(sorted(missing)).upper()} ({LEVEL}): numbers may differ from the reference"
    return ""


def pin(mode: str = "auto", device: str = "cpu", restart: list[str] | None = None) -> Pinning:
    """Pin the CPU kernels for this process where ``mode`` and ``device`` ask for it (first call decides).

    When numpy, scipy or torch is already loaded the environment comes too late for them: with
    ``restart`` (the command's arguments) the process re-executes itself with the pinned
    environment; without it (an in-process call) the kernels stay as they are and the result
    says so.
    """
    global _state
    if _state is not None:  # the first call decides: the libraries load only once
        return _state
    reason = why_not(mode, device)
    pinned = _started_pinned
    if not reason and not pinned:
        loaded = [name for name in LIBRARIES if name in sys.modules]
        if loaded and restart is None:
            reason = (f"{', '.join(loaded)} loaded before the kernels could be pinned (an in-process call; "
                      "the reidbench command, or reidbench.kernels.pin() before importing numpy, pins them)")
        else:
            os.environ.update(PINNED_ENV)
            if loaded:
                _restart(restart or [])
            pinned = True
    _state = Pinning(mode, pinned, "" if pinned else reason)
    return _state


def _restart(args: list[str]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    script = sys.argv[0]
    if script.endswith("__main__.py") or not Path(script).is_file():
        argv = [sys.executable, "-m", "reidbench", *args]
    else:
        argv = [sys.executable, script, *args]
    os.execv(sys.executable, argv)


def state() -> Pinning:
    """This process's pinning; without a :func:`pin` call, pinned only if the process started so."""
    return _state or Pinning("auto", _started_pinned, "" if _started_pinned else
                             "the kernels were not pinned before numpy and torch loaded")


def signature() -> str:
    """What cached embeddings are keyed by, so a model fitted under other kernels is fitted again.

    Unpinned, it names what picks the kernels (the host's SIMD level, its cores and any kernel
    variables set by hand), so it stays the same however many libraries have loaded.
    """
    if record()["pinned"]:
        return f"pinned-{LEVEL}"
    env = ",".join(f"{k}={os.environ[k]}" for k in PINNED_ENV if k in os.environ)
    return f"native-{host_simd()}-{os.cpu_count()}-{env}"


def record() -> dict[str, Any]:
    """The kernels that decided this process's numbers, as a result stores them."""
    s = state()
    out: dict[str, Any] = {"mode": s.mode, "pinned": s.pinned, "level": LEVEL if s.pinned else None,
                           "reason": s.reason or None, "host_simd": host_simd(),
                           "env": {k: os.environ.get(k) for k in PINNED_ENV}}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["aten"] = torch.backends.cpu.get_cpu_capability()
        out["torch_threads"] = torch.get_num_threads()
        out["onednn"] = torch.backends.mkldnn.is_available() and (os.environ.get("ONEDNN_MAX_CPU_ISA") or "native")
        out["mkl"] = torch.backends.mkl.is_available() and (os.environ.get("MKL_CBWR") or "native")
    from threadpoolctl import threadpool_info

    out["blas"] = [{"library": f"{i['internal_api']} {i.get('version')} ({i['prefix']})",
                    "core": i.get("architecture"), "threads": i["num_threads"]}
                   for i in threadpool_info() if i["user_api"] == "blas"]
    observed = [out.get("aten", "AVX2") == "AVX2", out.get("torch_threads", int(THREADS)) == int(THREADS)]
    observed += [b["core"] in (None, "Haswell") for b in out["blas"]]
    if s.pinned and not all(observed):  # pinned in name only: say what loaded otherwise
        out.update(pinned=False, level=None, reason=f"pinned environment, but ATen runs {out.get('aten')} on "
                   f"{out.get('torch_threads')} threads and BLAS {[b['core'] for b in out['blas']]}")
    return out


def describe() -> str:
    """One line for the console: which kernels this run's numbers come from."""
    info = record()
    if info["pinned"]:
        return (f"CPU kernels pinned ({LEVEL}, {THREADS} threads): the same numbers on every x86-64 machine "
                "(`reidbench verify` compares with the reference results)")
    return f"CPU kernels not pinned: {info['reason']}"


def host_simd() -> str:
    """The widest SIMD level of the host CPU (what unpinned kernels would use)."""
    flags = _cpu_flags()
    for level, needed in (("avx512", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}), ("avx2", {"avx2", "fma"}),
                          ("sse4.2", {"sse4_2"})):
        if needed <= flags:
            return level
    return platform.machine() or "unknown"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _gpu_driver_present() -> bool:
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg"))


_started_pinned = is_pinned_env()
