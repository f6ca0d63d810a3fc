"""Same numbers on every machine, deep rows too: pinned CPU kernels make a training run's embeddings
bit-identical whatever SIMD level ATen, oneDNN, MKL and OpenBLAS would pick on their own.

Each run is a fresh ``python -m reidbench run`` process (these switches are read when the libraries
load), under outer environments that force other kernels, as another machine's CPU would. The
native runs beside them show that the same switches do change the numbers when nothing pins them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reidbench import kernels

pytestmark = pytest.mark.skipif(kernels.why_not("pinned", "cpu") != "", reason="no x86-64-v3 CPU here")

RUN = ["run", "--methods", "cmgan,hog_cca", "--dataset", "synthetic-tiny", "--set", "cmgan:steps=16",
       "--set", "cmgan:eval_every=16", "--set", "cmgan:log_every=8", "--modes", "all", "--shots", "single",
       "--trials", "2", "--device", "cpu", "--quiet"]
OTHER_MACHINES = {  # what other CPUs would pick unpinned (only kernels this CPU can execute)
    "aten-default, OpenBLAS Prescott, 1 thread": {"ATEN_CPU_CAPABILITY": "default", "OPENBLAS_CORETYPE": "Prescott",
                                                  "OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "aten-avx2, OpenBLAS Haswell, 3 threads": {"ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell",
                                               "OMP_NUM_THREADS": "3"},
}


def run_in_fresh_process(tmp: Path, name: str, env: dict[str, str], *extra: str) -> dict[str, dict]:
    """The results of one ``reidbench run`` in its own process and cache, by method."""
    full = {k: v for k, v in os.environ.items() if k not in kernels.PINNED_ENV}
    full.update(env)
    out, cache = tmp / name, tmp / f"cache-{name}"
    proc = subprocess.run([sys.executable, "-m", "reidbench", *RUN, *extra, "--results", str(out), "--cache",
                           str(cache)], env=full, cwd=tmp, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(p.read_text()) for p in out.glob("*.json")]
    return {r["method"]["name"]: r for r in results}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, dict]]:
    tmp = tmp_path_factory.mktemp("kernels")
    os.environ.setdefault("REIDBENCH_HOME", str(tmp / "home"))
    out = {}
    for i, (label, env) in enumerate(OTHER_MACHINES.items()):
        out[f"pinned {label}"] = run_in_fresh_process(tmp, f"pinned{i}", env)
        out[f"native {label}"] = run_in_fresh_process(tmp, f"native{i}", env, "--kernels", "native")
    return out


def digest(result: dict) -> str:
    return result["settings"]["all-single"]["embeddings_digest"]


def test_pinned_kernels_give_identical_embeddings_under_other_cpus_kernels(runs):
    pinned = [r for label, r in runs.items() if label.startswith("pinned")]
    for method in ("cmgan", "hog_cca"):
        assert len({digest(r[method]) for r in pinned}) == 1, method
        assert len({json.dumps(r[method]["settings"]["all-single"]["trials"]) for r in pinned}) == 1, method
    for r in pinned:
        record = r["cmgan"]["kernels"]
        assert record["pinned"] and record["level"] == kernels.LEVEL and record["aten"] == "AVX2"
        assert record["torch_threads"] == int(kernels.THREADS)
        assert {b["core"] for b in record["blas"]} == {"Haswell"}


def test_unpinned_kernels_differ_so_the_pinned_check_can_fail(runs):
    native = [r for label, r in runs.items() if label.startswith("native")]
    assert len({digest(r["cmgan"]) for r in native}) == len(native)
    assert {r["cmgan"]["kernels"]["aten"] for r in native} == {"DEFAULT", "AVX2"}
    assert not any(r["cmgan"]["kernels"]["pinned"] for r in native)


def test_an_in_process_run_says_its_kernels_were_not_pinned(tmp_path):
    from reidbench.cli import main

    assert main(["run", "--methods", "hog_euclidean", "--dataset", "synthetic-tiny", "--trials", "1", "--modes",
                 "all", "--shots", "single", "--quiet", "--results", str(tmp_path)]) == 0
    record = json.loads(next(tmp_path.glob("*.json")).read_text())["kernels"]
    assert record["pinned"] is False and "loaded before the kernels could be pinned" in record["reason"]


def test_native_and_cuda_runs_are_not_pinned():
    assert kernels.why_not("native", "cpu").startswith("native kernels requested")
    assert kernels.why_not("auto", "cuda:0").startswith("a CUDA run")
    with pytest.raises(Exception, match="unknown --kernels"):
        kernels.why_not("fast", "cpu")
