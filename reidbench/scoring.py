"""From embeddings to what a result file stores: per-setting metrics and top-k retrievals.

Shared by the runner and ``reidbench eval``, so a method's run and the same
features evaluated from a file give identical numbers.
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from reidbench.data.imageset import ImageSet
from reidbench.evaluation import SYSU_LOCATIONS, Metrics, distance_matrix, evaluate_galleries
from reidbench.protocols import Galleries

RANKS = (1, 5, 10, 20)
TOP_K = 10  # retrievals stored per probe, for `reidbench show` and reports
RETRIEVAL_TRIAL = 0  # the trial (0-based) whose gallery the stored retrievals search


def evaluate_settings(q: np.ndarray, g: np.ndarray, probes: ImageSet, pool: ImageSet,
                      galleries: dict[str, Galleries], metric: str) -> dict[str, dict[str, Any]]:
    """Every trial of every setting in one call (pool distances computed once), summarised per setting."""
    flat = [idx for gal in galleries.values() for idx in gal.indices]
    metrics = iter(evaluate_galleries(q, g, probes.pids, probes.cams, pool.pids, pool.cams, flat, metric=metric))
    return {key: summarise([next(metrics) for _ in gal.indices], gal) for key, gal in galleries.items()}


def summarise(trials: list[Metrics], galleries: Galleries) -> dict[str, Any]:
    """Per-trial metrics and their mean and standard deviation, in percent."""
    rows = [metrics_row(m) for m in trials]
    keys = list(rows[0])
    table = np.array([[r[k] for k in keys] for r in rows], dtype=np.float64)
    return {
        "mean": dict(zip(keys, table.mean(0).tolist())),
        "std": dict(zip(keys, table.std(0, ddof=1).tolist() if len(rows) > 1 else [0.0] * len(keys))),
        "trials": rows,
        "num_valid_probes": trials[0].num_valid,
        "gallery_size": [int(len(g)) for g in galleries.indices],
        "gallery_source": galleries.source,
        "gallery_note": galleries.note,
        "cmc_mean": (np.mean([m.cmc for m in trials], axis=0) * 100).tolist(),
        "cmc_trials": [(m.cmc * 100).tolist() for m in trials],  # for spread bands in figures
    }


def metrics_row(m: Metrics) -> dict[str, float]:
    row = {f"r{k}": 100 * m.rank(k) for k in RANKS}
    row.update(mAP=100 * m.mAP, mINP=100 * m.mINP)
    return row


def allowed(q_cam: int, g_cams: np.ndarray) -> np.ndarray:
    """Gallery images not at the query camera's location (cam 3 skips cam 2), as scored."""
    g_locs = np.array([SYSU_LOCATIONS[int(c)] for c in g_cams])
    return g_locs != SYSU_LOCATIONS[int(q_cam)]


def top_matches(q: np.ndarray, g: np.ndarray, probes: ImageSet, pool: ImageSet, gallery: np.ndarray,
                metric: str, k: int = TOP_K) -> np.ndarray:
    """Probes x k pool rows, best first, of one trial's gallery; -1 past its allowed images.

    Same location rule and stable order of distances (ties keep gallery order) as the scores.
    """
    gallery = np.asarray(gallery, np.int64)
    dist = distance_matrix(q, g[gallery], metric)
    out = np.full((len(probes), k), -1, np.int64)
    for cam in np.unique(probes.cams):
        rows = np.flatnonzero(probes.cams == cam)
        keep = np.flatnonzero(allowed(cam, pool.cams[gallery]))
        order = keep[np.argsort(dist[np.ix_(rows, keep)], axis=1, kind="stable")[:, :k]]
        out[rows, : order.shape[1]] = gallery[order]
    return out


def encode_ranks(ranks: np.ndarray) -> dict[str, Any]:
    """A compact JSON form of a rank matrix: shape, dtype and base64 little-endian bytes."""
    dtype = "<i2" if ranks.size == 0 or ranks.max() < 2**15 else "<i4"
    return {"shape": list(ranks.shape), "dtype": dtype,
            "data": base64.b64encode(ranks.astype(dtype).tobytes()).decode("ascii")}


def decode_ranks(blob: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(blob["data"])
    return np.frombuffer(raw, dtype=blob["dtype"]).reshape(blob["shape"]).astype(np.int64)
