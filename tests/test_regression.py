"""Golden values: the replica's content digests and hog_euclidean on the tiny replica.

A change here means the data generator, HOG, resizing, the protocol or the metrics
changed behaviour; update ``golden.py`` only on purpose. ``test_portability.py``
checks the same values under other BLAS kernels and SIMD levels.
"""
from __future__ import annotations

import pytest

from golden import HOG_EUCLIDEAN_TINY, TINY_DIGEST
from reidbench.data import synth
from reidbench.runner import RunOptions, run
from reidbench.store import load_results


def test_tiny_replica_content_digest(tiny_root) -> None:
    assert synth.content_digest(tiny_root) == TINY_DIGEST


def test_hog_euclidean_golden_values(tiny_root, tmp_path):
    run(RunOptions(methods=["hog_euclidean"], data=tiny_root, results=tmp_path / "r",
                   cache=tmp_path / "c", progress=False))
    (result,) = load_results(tmp_path / "r")
    for setting, expected in HOG_EUCLIDEAN_TINY.items():
        got = result["settings"][setting]["mean"]
        for metric, value in expected.items():
            assert got[metric] == pytest.approx(value, abs=1e-8), (setting, metric)
