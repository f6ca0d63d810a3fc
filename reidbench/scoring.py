"""From embeddings to what a result file stores: per-setting metrics and top-k retrievals.

:func:`score_trials` is the one route from features to metrics, shared by the runner and
``reidbench eval``, so a method's run and the same features evaluated from a file give
identical numbers. A protocol's plan says, per setting and trial, which rows of the
evaluation set are probes and which form the gallery; settings and trials that share
their probes share one distance matrix.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from reidbench.data.dataset import Dataset
from reidbench.data.imageset import ImageSet
from reidbench.evaluation import MatchRule, Metrics, distance_matrix, evaluate_galleries
from reidbench.protocols import Galleries, Protocol, Setting
from reidbench.store import SettingSummary

RANKS = (1, 5, 10, 20)
TOP_K = 10  # retrievals stored per probe, for `reidbench show` and reports
RETRIEVAL_TRIAL = 0  # the trial (0-based) whose gallery the stored retrievals search
STORED_CMC_RANKS = 100  # CMC curves kept in a result (image-level curves run to the gallery's size)

# setting -> (probe rows, gallery rows) per trial
Plan = Mapping[str, tuple[Sequence[np.ndarray], Sequence[np.ndarray]]]


# (trials of one scoring group, their evaluation set) -> features; None stops scoring (non-zero ranks)
FeaturesOf = Callable[[list[int], ImageSet], "np.ndarray | None"]


@dataclass
class Scores:
    """Every setting's per-trial metrics, and the stored retrievals when asked for."""

    metrics: dict[str, list[Metrics]]
    ranks: dict[str, dict[str, Any]] = field(default_factory=dict)  # setting -> encoded top-k of RETRIEVAL_TRIAL
    eval_s: float = 0.0  # time spent scoring (not in ``features_of``)


def trial_groups(data: Dataset, trials: int) -> list[list[int]]:
    """Trials scored on the same features: each trial alone where trials are splits (one model each), else all."""
    return [[t] for t in range(trials)] if data.splits_per_trial else [list(range(trials))]


def score_trials(protocol: Protocol, data: Dataset, settings: Sequence[Setting], galleries: dict[str, Galleries],
                 trials: int, distance: str, features_of: FeaturesOf, *, retrievals: bool = False) -> Scores | None:
    """Score every trial of every setting on the features ``features_of`` gives per scoring group."""
    rule = protocol.match_rule(data)
    scores = Scores({s.key: [] for s in settings})
    for group in trial_groups(data, trials):
        images = protocol.evaluation_set(data, group[0])
        feats = features_of(group, images)
        if feats is None:
            return None
        t0 = time.perf_counter()
        plan = {s.key: ([protocol.probes(data, s, t) for t in group], [galleries[s.key].indices[t] for t in group])
                for s in settings}
        for key, ms in evaluate_plan(feats, images, plan, distance, rule).items():
            scores.metrics[key] += ms
        if retrievals and RETRIEVAL_TRIAL in group:
            scores.ranks = {s.key: encode_ranks(top_matches(feats, images, protocol.probes(data, s, RETRIEVAL_TRIAL),
                                                            galleries[s.key].indices[RETRIEVAL_TRIAL], distance,
                                                            rule)) for s in settings}
        scores.eval_s += time.perf_counter() - t0
    return scores


def evaluate_plan(feats: np.ndarray, images: ImageSet, plan: Plan, metric: str,
                  rule: MatchRule) -> dict[str, list[Metrics]]:
    """Metrics of every trial of every setting; each probe set's distances are computed once."""
    groups: dict[bytes, list[tuple[str, int, np.ndarray]]] = {}
    probe_rows: dict[bytes, np.ndarray] = {}
    for key, (probes, galleries) in plan.items():
        for t, (rows, gallery) in enumerate(zip(probes, galleries)):
            tag = np.asarray(rows, np.int64).tobytes()
            probe_rows[tag] = np.asarray(rows, np.int64)
            groups.setdefault(tag, []).append((key, t, np.asarray(gallery, np.int64)))
    out: dict[str, dict[int, Metrics]] = {key: {} for key in plan}
    for tag, members in groups.items():
        rows = probe_rows[tag]
        union, inverse = np.unique(np.concatenate([g for _, _, g in members]), return_inverse=True)
        starts = np.cumsum([0] + [len(g) for _, _, g in members])
        galleries = [inverse[starts[i]:starts[i + 1]] for i in range(len(members))]
        metrics = evaluate_galleries(feats[rows], feats[union], images.pids[rows], images.cams[rows],
                                     images.pids[union], images.cams[union], galleries, metric, rule)
        for (key, t, _), m in zip(members, metrics):
            out[key][t] = m
    return {key: [by_trial[t] for t in sorted(by_trial)] for key, by_trial in out.items()}


def summarise(trials: list[Metrics], galleries: Galleries) -> SettingSummary:
    """Per-trial metrics and their mean and standard deviation, in percent."""
    rows = [metrics_row(m) for m in trials]
    keys = list(rows[0])
    table = np.array([[r[k] for k in keys] for r in rows], dtype=np.float64)
    curves = [m.cmc[:STORED_CMC_RANKS] for m in trials]
    length = min(len(c) for c in curves)
    return {
        "mean": dict(zip(keys, table.mean(0).tolist())),
        "std": dict(zip(keys, table.std(0, ddof=1).tolist() if len(rows) > 1 else [0.0] * len(keys))),
        "trials": rows,
        "num_valid_probes": trials[0].num_valid,
        "gallery_size": [int(len(g)) for g in galleries.indices[:len(trials)]],
        "gallery_source": galleries.source,
        "gallery_note": galleries.note,
        "cmc_mean": (np.mean([c[:length] for c in curves], axis=0) * 100).tolist(),
        "cmc_trials": [(c * 100).tolist() for c in curves],  # for spread bands in figures
    }


def metrics_row(m: Metrics) -> dict[str, float]:
    row = {f"r{k}": 100 * m.rank(k) for k in RANKS}
    row.update(mAP=100 * m.mAP, mINP=100 * m.mINP)
    return row


def top_matches(feats: np.ndarray, images: ImageSet, probes: np.ndarray, gallery: np.ndarray, metric: str,
                rule: MatchRule, k: int = TOP_K) -> np.ndarray:
    """Probes x k rows of ``images``, best first, of one gallery; -1 past its allowed images.

    Same matching rule and stable order of distances (ties keep gallery order) as the scores.
    """
    gallery = np.asarray(gallery, np.int64)
    probes = np.asarray(probes, np.int64)
    dist = distance_matrix(feats[probes], feats[gallery], metric)
    out = np.full((len(probes), k), -1, np.int64)
    keys = np.stack([images.cams[probes], images.pids[probes]], axis=1)
    for cam, pid in np.unique(keys, axis=0):
        rows = np.flatnonzero((keys[:, 0] == cam) & (keys[:, 1] == pid))
        keep = np.flatnonzero(rule.allowed(cam, pid, images.cams[gallery], images.pids[gallery]))
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
