"""Same numbers on every machine: the replica's bytes and the golden values under several
BLAS kernels, thread counts and CPU SIMD levels.

Each environment runs ``portability_probe.py`` in a fresh process (these switches are read
when numpy, OpenBLAS and libjpeg-turbo load). Only core types this CPU can execute are
forced: OpenBLAS would die of an illegal instruction on the others.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from golden import HOG_EUCLIDEAN_TINY, LLCM_TINY_DIGEST, REGDB_TINY_DIGEST, SMALL_SLICE_DIGEST, TINY_DIGEST

PROBE = Path(__file__).with_name("portability_probe.py")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def numpy_dispatch_targets() -> list[str]:
    """numpy's run-time SIMD targets this CPU supports (disabling them leaves the baseline)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]


def environments() -> dict[str, dict[str, str]]:
    envs: dict[str, dict[str, str]] = {"default": {}}
    if platform.machine() in ("x86_64", "AMD64"):
        flags = cpu_flags()
        envs["openblas-prescott"] = {"OPENBLAS_CORETYPE": "Prescott"}  # SSE3: every x86-64
        if "avx2" in flags:
            envs["openblas-haswell"] = {"OPENBLAS_CORETYPE": "Haswell"}
        if {"avx512f", "avx512bw", "avx512vl"} <= flags:
            envs["openblas-skylakex"] = {"OPENBLAS_CORETYPE": "SkylakeX"}
        envs["jpeg-no-simd"] = {"JSIMD_FORCENONE": "1"}
    envs["one-thread"] = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    targets = numpy_dispatch_targets()
    if targets:
        envs["numpy-baseline-simd"] = {"NPY_DISABLE_CPU_FEATURES": " ".join(targets)}
    return envs


def probe(extra: dict[str, str], home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENBLAS_", "NPY_", "JSIMD_", "OMP_", "MKL_"))}
    env.update(extra, REIDBENCH_HOME=str(home), PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, str(PROBE)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{extra}: {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, dict]:
    envs = environments()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(probe, extra, tmp_path_factory.mktemp(name)) for name, extra in envs.items()}
        return {name: f.result() for name, f in futures.items()}


def test_environments_cover_kernels_and_simd_levels() -> None:
    envs = environments()
    assert "one-thread" in envs
    if platform.machine() == "x86_64":
        assert "openblas-prescott" in envs and "numpy-baseline-simd" in envs and "jpeg-no-simd" in envs


def test_replica_bytes_are_identical_everywhere(probes) -> None:
    for name, out in probes.items():
        assert out["tiny"] == TINY_DIGEST, name
        assert out["regdb_tiny"] == REGDB_TINY_DIGEST, name
        assert out["llcm_tiny"] == LLCM_TINY_DIGEST, name
        assert out["small_slice"] == SMALL_SLICE_DIGEST, name


def test_golden_values_hold_everywhere(probes) -> None:
    for name, out in probes.items():
        for setting, expected in HOG_EUCLIDEAN_TINY.items():
            got = out["hog_euclidean"][setting]
            for metric, value in expected.items():
                assert got[metric] == pytest.approx(value, abs=1e-8), (name, setting, metric)
