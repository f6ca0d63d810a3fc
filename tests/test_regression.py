"""Golden values: hog_euclidean on the tiny replica (seed 0, generator v2), from a reference run.

A change here means the data generator, HOG, resizing, the protocol or the
metrics changed behaviour; update the values only on purpose.
"""
from __future__ import annotations

import pytest

from reidbench.runner import RunOptions, run
from reidbench.store import load_results

GOLDEN = {
    "all-single": {"r1": 26.71875, "r5": 83.125, "r10": 100.0, "mAP": 35.7713164378, "mINP": 28.5187024067},
    "all-multi": {"r1": 51.5625, "r5": 84.375, "r10": 100.0, "mAP": 26.6865348329, "mINP": 16.6763327904},
    "indoor-single": {"r1": 33.75, "r5": 100.0, "mAP": 52.5394345238, "mINP": 49.3978174603},
    "indoor-multi": {"r1": 40.0, "r5": 100.0, "mAP": 37.5714190401, "mINP": 24.0039530055},
}


def test_hog_euclidean_golden_values(tiny_root, tmp_path):
    run(RunOptions(methods=["hog_euclidean"], data=tiny_root, results=tmp_path / "r",
                   cache=tmp_path / "c", progress=False))
    (result,) = load_results(tmp_path / "r")
    for setting, expected in GOLDEN.items():
        got = result["settings"][setting]["mean"]
        for metric, value in expected.items():
            assert got[metric] == pytest.approx(value, abs=1e-8), (setting, metric)
