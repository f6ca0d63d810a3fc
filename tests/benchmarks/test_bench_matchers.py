"""Fit times of the hand-crafted matchers on SYSU-sized LOMO-like features (34,167 x 26,960 float32).

Run with ``pytest tests/benchmarks/test_bench_matchers.py --benchmark-enable -p no:cacheprovider``
(or ``--benchmark-only``); without one of those flags the module is skipped, because it
takes minutes and about 5 GB. The matrix is built once per module (not timed). CCA and
LFDA must fit, PCA included, in <= 60 s; CRAFT and CDFE must stay feasible; the whole
process must peak under 8 GiB.
"""
from __future__ import annotations

import resource
from typing import Callable

import numpy as np
import pytest

from reidbench.methods.handcrafted.cca import CCA
from reidbench.methods.handcrafted.cdfe import CDFE
from reidbench.methods.handcrafted.craft import CRAFT
from reidbench.methods.handcrafted.lfda import LFDA

N_RGB, N_IR, N_IDS, DIM = 22_258, 11_909, 395, 26_960
PEAK_RSS_LIMIT_GIB = 8.0


@pytest.fixture(scope="module", autouse=True)
def _only_when_benchmarking(request: pytest.FixtureRequest) -> None:
    if not (request.config.getoption("benchmark_enable") or request.config.getoption("benchmark_only")):
        pytest.skip("SYSU-sized matcher fits take minutes: pass --benchmark-enable or --benchmark-only")


@pytest.fixture(scope="module")
def sysu_features() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded non-negative float32 features: identity factors, per-modality maps, decaying nuisance, noise."""
    rng = np.random.default_rng(0)
    modality = np.repeat([0, 1], [N_RGB, N_IR])
    pids = np.concatenate([np.sort(rng.integers(0, N_IDS, N_RGB)), np.sort(rng.integers(0, N_IDS, N_IR))])
    identity = rng.standard_normal((N_IDS, 32)).astype(np.float32)
    maps = rng.standard_normal((2, 32, DIM)).astype(np.float32) * 2e-3
    nuisance = rng.standard_normal((64, DIM)).astype(np.float32) * (2e-3 / np.arange(1, 65, dtype=np.float32))[:, None]
    X = np.empty((N_RGB + N_IR, DIM), dtype=np.float32)
    for start in range(0, X.shape[0], 4096):
        rows = slice(start, min(start + 4096, X.shape[0]))
        n = X[rows].shape[0]
        block = rng.random((n, DIM), dtype=np.float32)
        block *= 4e-3
        block += identity[pids[rows]] @ maps[modality[rows][0]]
        block += rng.standard_normal((n, 64), dtype=np.float32) @ nuisance
        np.abs(block, out=block)
        X[rows] = block
    return X, pids, modality


def _fit_once(benchmark, make: Callable[[], object], data: tuple[np.ndarray, np.ndarray, np.ndarray],
              limit_s: float) -> None:
    benchmark.pedantic(lambda: make().fit(*data), rounds=1, iterations=1)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    benchmark.extra_info["process_peak_rss_gib"] = round(peak_gib, 2)
    assert benchmark.stats.stats.max <= limit_s
    assert peak_gib <= PEAK_RSS_LIMIT_GIB


def test_cca_fit_sysu_size(benchmark, sysu_features) -> None:
    _fit_once(benchmark, CCA, sysu_features, 60.0)


def test_lfda_fit_sysu_size(benchmark, sysu_features) -> None:
    _fit_once(benchmark, LFDA, sysu_features, 60.0)


def test_craft_fit_sysu_size(benchmark, sysu_features) -> None:
    _fit_once(benchmark, CRAFT, sysu_features, 300.0)


def test_cdfe_fit_sysu_size(benchmark, sysu_features) -> None:
    _fit_once(benchmark, CDFE, sysu_features, 300.0)
