"""Golden values: hog_euclidean on the tiny replica (seed 0), from a reference run.

A change here means the data generator, HOG, resizing, the protocol or the
metrics changed behaviour; update the values only on purpose.
"""
from __future__ import annotations

import pytest

from reidbench.runner import RunOptions, run
from reidbench.store import load_results

GOLDEN = {
    "all-single": {"r1": 20.46875, "r5": 78.28125, "r10": 100.0, "mAP": 32.4722533286, "mINP": 26.3648103532},
    "all-multi": {"r1": 34.375, "r5": 82.8125, "r10": 100.0, "mAP": 23.2903914901, "mINP": 14.7035963833},
    "indoor-single": {"r1": 30.25, "r5": 100.0, "mAP": 50.3808035714, "mINP": 48.2386904762},
    "indoor-multi": {"r1": 32.5, "r5": 100.0, "mAP": 35.7787785651, "mINP": 23.4174380823},
}


def test_hog_euclidean_golden_values(tiny_root, tmp_path):
    run(RunOptions(methods=["hog_euclidean"], data=tiny_root, results=tmp_path / "r",
                   cache=tmp_path / "c", progress=False))
    (result,) = load_results(tmp_path / "r")
    for setting, expected in GOLDEN.items():
        got = result["settings"][setting]["mean"]
        for metric, value in expected.items():
            assert got[metric] == pytest.approx(value, abs=1e-8), (setting, metric)
