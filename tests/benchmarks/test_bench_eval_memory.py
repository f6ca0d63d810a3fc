"""`reidbench eval`'s peak memory on a whole-dataset file: every SYSU-MM01 image, 2048-d float32."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

PEAK_LIMIT_BYTES = 0.6e9  # 0.6 GB; the file alone is 0.38 GB
DIM = 2048

# Runs the command in a fresh interpreter and reports its peak RSS: VmHWM, which exec resets (ru_maxrss
# would carry over the forking pytest process's own peak).
CHILD = """
import json, sys, time
from reidbench.cli import main
start = time.perf_counter()
code = main(sys.argv[2:])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "seconds": time.perf_counter() - start, "peak_bytes": hwm * 1024}),
      file=open(sys.argv[1], "w"))
"""


@pytest.fixture(scope="module")
def whole_dataset_file(tmp_path_factory) -> Path:
    """Features of all 45,863 images of SYSU-MM01's layout, with identity structure."""
    with resources.files("reidbench.data").joinpath("sysu_official", "image_counts.csv").open() as fh:
        counts = list(csv.DictReader(fh))
    paths = [f"cam{r['cam']}/{int(r['pid']):04d}/{k:04d}.jpg" for r in counts for k in range(1, int(r["n_images"]) + 1)]
    pids = np.array([int(p.split("/")[1]) for p in paths])
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((pids.max() + 1, DIM), dtype=np.float32)
    feats = centres[pids]
    feats += 1.5 * rng.standard_normal(feats.shape, dtype=np.float32)
    path = tmp_path_factory.mktemp("eval_memory") / "whole.npz"
    np.savez(path, features=feats, paths=np.array(paths))
    return path


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from Linux's /proc")
def test_eval_peak_memory_on_a_whole_dataset_file(benchmark, whole_dataset_file, tmp_path):
    report = tmp_path / "peak.json"

    def evaluate() -> dict:
        done = subprocess.run([sys.executable, "-c", CHILD, str(report), "eval", "--features", str(whole_dataset_file),
                               "--json"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return {**json.loads(report.read_text()), "result": json.loads(done.stdout)}

    measured = benchmark.pedantic(evaluate, rounds=1, iterations=1)
    assert measured["code"] == 0 and measured["result"]["all-single"]["num_valid_probes"] == 3803
    benchmark.extra_info["peak_bytes"] = measured["peak_bytes"]
    benchmark.extra_info["eval_seconds"] = round(measured["seconds"], 2)
    assert measured["peak_bytes"] <= PEAK_LIMIT_BYTES, f"peak RSS {measured['peak_bytes'] / 1e9:.3f} GB"
