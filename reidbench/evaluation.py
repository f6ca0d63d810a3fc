"""Exact, vectorised re-identification metrics: CMC (identity-deduplicated or image-level), mAP, mINP.

The maths is that of the official MATLAB code (``get_cmc_multi_cam.m``,
``get_map_multi_cam.m``) plus mINP (Ye et al., TPAMI 2021):

* gallery images at the probe's location are removed (camera -> location map, so
  cam-3 probes ignore cam-2 images), or, under LLCM's rule, only the probe's own
  identity's images there (:class:`MatchRule`);
* the ranking is a *stable* sort of distances, ties keeping gallery order;
* CMC ranks the first (best-ranked) image of every identity; it runs to the number
  of gallery identities (``cmc="image"``, as AGW's RegDB code: the rank of the first
  true match among all gallery images, up to the gallery's size);
* AP = mean_k k / rank_k over the true matches, INP = |G| / rank of the last one;
* probes without a true match after the filter are invalid and skipped.

Speed: a probe's CMC rank is the number of identities whose best distance beats
the true identity's (one ``minimum.reduceat``); the rank of a true match is one
plus the number of gallery images below it. Only values up to a probe's last
true match can count, so just those are sorted, all probes at once, as exact
int64 keys (row, float32 bits) in one sort, read with one ``searchsorted``.
float32 keeps every strict order of float64; rows in which an order that matters
is a float32 tie are re-ranked on float64 (for Euclidean features, rows within
rounding noise on distances recomputed from differences, as MATLAB's
``pdist2`` does) and true ties are ranked literally with a stable sort, so
results equal the reference code's.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from reidbench.data.sysu import SYSU_CAMERAS

#: SYSU-MM01 camera -> location (the default of the public functions; owned by reidbench.data.sysu).
SYSU_LOCATIONS: Mapping[int, int] = SYSU_CAMERAS.location
METRICS = ("euclidean", "cosine", "neg_dot")
# CMC definitions: "identity" counts each gallery identity once, at its best image (the SYSU and
# LLCM code); "image" ranks the first true match among all gallery images (AGW's RegDB code).
CMC_KINDS = ("identity", "image")
BLOCK_ROWS = 256  # probe rows per block of distances
BLOCK_BYTES = 64 * 2**20  # float64 distances above this are never held whole (see _euclidean_stages)
# Which gallery images a probe never meets: every one at its place (SYSU-MM01's rule), or only
# those of its own identity there (LLCM's eval_llcm).
EXCLUDE_KINDS = ("place", "identity_at_place")


@dataclass(frozen=True)
class MatchRule:
    """How a protocol scores a ranking: the same-place rule and the CMC definition.

    ``locations`` maps raw camera numbers to places (cameras it lacks are their own place).
    """

    locations: Mapping[int, int] = field(default_factory=lambda: dict(SYSU_LOCATIONS))
    exclude: str = "place"  # one of EXCLUDE_KINDS
    cmc: str = "identity"  # one of CMC_KINDS

    def __post_init__(self) -> None:
        if self.cmc not in CMC_KINDS:
            raise ValueError(f"unknown CMC definition '{self.cmc}' (known: {', '.join(CMC_KINDS)})")
        if self.exclude not in EXCLUDE_KINDS:
            raise ValueError(f"unknown exclusion rule '{self.exclude}' (known: {', '.join(EXCLUDE_KINDS)})")

    def places(self, cams: np.ndarray) -> np.ndarray:
        cams = np.asarray(cams, dtype=np.int64)
        lut = np.arange(int(cams.max(initial=0)) + 1)
        for cam, place in self.locations.items():
            if cam < len(lut):
                lut[cam] = place
        return lut[cams]

    def allowed(self, q_cam: int, q_pid: int, g_cams: np.ndarray, g_pids: np.ndarray) -> np.ndarray:
        """Mask of the gallery images a probe (camera, identity) is ranked against."""
        places = self.places(np.append(np.asarray(g_cams, np.int64), q_cam))
        hidden = places[:-1] == places[-1]
        if self.exclude == "identity_at_place":
            hidden &= np.asarray(g_pids) == q_pid
        return ~hidden


SYSU_RULE = MatchRule()


@dataclass(frozen=True)
class Metrics:
    """Metrics of one ranking; ``cmc[k-1]`` is the CMC at rank k (fractions)."""

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_valid: int

    def rank(self, k: int) -> float:
        """CMC at rank ``k``; past the last gallery identity the curve is flat."""
        if len(self.cmc) == 0:
            return float("nan")
        return float(self.cmc[min(k, len(self.cmc)) - 1])


def distance_matrix(query: np.ndarray, gallery: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Probe x gallery distances in float64 (smaller is more similar)."""
    if metric not in METRICS:
        raise ValueError(f"unknown distance '{metric}' (known: {', '.join(METRICS)})")
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    if metric == "euclidean":
        return np.sqrt(squared_euclidean(q, g))
    if metric == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        return 1.0 - qn @ gn.T
    return -(q @ g.T)


def squared_euclidean(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """|q - g|^2 through one GEMM, clamped at 0."""
    return _squared_from_norms(q, g, squared_norms(q), squared_norms(g))


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Row sums of x * x, a block of rows at a time (no temporary the size of ``x``; each row's
    sum is the same as over the whole array)."""
    out = np.empty(len(x))
    for lo in range(0, len(x), BLOCK_ROWS):
        part = np.asarray(x[lo:lo + BLOCK_ROWS], dtype=np.float64)
        out[lo:lo + BLOCK_ROWS] = (part * part).sum(1)
    return out


def _squared_from_norms(q: np.ndarray, g: np.ndarray, qq: np.ndarray, gg: np.ndarray) -> np.ndarray:
    """(|q|^2 + |g|^2) - 2 q.g, clamped at 0, built in the GEMM's own output: the same operations
    in the same order as the plain expression, without its three temporaries of the output's size."""
    d = q @ g.T
    d *= 2.0  # exact
    for lo in range(0, len(d), BLOCK_ROWS):
        block = d[lo:lo + BLOCK_ROWS]
        np.subtract(qq[lo:lo + BLOCK_ROWS, None] + gg[None, :], block, out=block)
    return np.maximum(d, 0.0, out=d)


def _euclidean_stages(q: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, list[_Stage]]:
    """The float32 ranking matrix and the refinement stages of Euclidean features.

    Distances are computed in float64 (``q`` and ``g`` may be float32: converting is exact).
    Squared distances rank like distances; their GEMM rounding error is a few ulps of
    |q|^2 + |g|^2, far inside the near-tie tolerance of the first stage. Up to
    ``BLOCK_BYTES`` of float64 distances, one GEMM is kept for that stage; above it
    (a SYSU-sized eval of 2048-d features) the float32 matrix is filled a block of
    probes at a time, no float64 copy of the features outlives it, and that stage
    recomputes the few rows it needs: a recomputed value can differ from the whole
    GEMM's in the last bits only, which the tolerance covers, and rows it leaves tied
    are decided on exact distances, so the metrics are the same.
    """
    qq, gg = squared_norms(q), squared_norms(g)
    noise = 1e-12 * (qq + float(gg.max(initial=0.0)))
    exact = _Stage(lambda rows, cols: exact_euclidean(q[rows], g[cols]))
    f64 = functools.partial(np.asarray, dtype=np.float64)
    if len(q) * len(g) * 8 <= BLOCK_BYTES:
        dist = _squared_from_norms(f64(q), f64(g), qq, gg)
        return (_ranking_matrix(dist),
                [_Stage(lambda rows, cols: dist[np.ix_(rows, cols)], lambda rows: noise[rows]), exact])
    fast = np.empty((len(q), len(g)), dtype=np.float32)
    g64 = f64(g)
    for lo, hi in _blocks(len(q), BLOCK_ROWS):  # float64 -> float32 rounds each value as the whole would
        fast[lo:hi] = _squared_from_norms(f64(q[lo:hi]), g64, qq[lo:hi], gg)
    del g64
    if np.isnan(fast).any():
        raise ValueError("distance matrix contains NaN")
    rows_again = _Stage(lambda rows, cols: _squared_from_norms(f64(q[rows]), f64(g[cols]), qq[rows], gg[cols]),
                        lambda rows: noise[rows])
    return fast, [rows_again, exact]


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    """[lo, hi) blocks of ``size`` rows; a last block of one row joins the one before (BLAS takes
    another path for a single row)."""
    edges = list(range(0, n, size)) + [n]
    if len(edges) > 2 and edges[-1] - edges[-2] == 1:
        del edges[-2]
    return list(zip(edges[:-1], edges[1:]))


def exact_euclidean(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Euclidean distances from explicit differences, as MATLAB's ``pdist2`` computes them."""
    q = np.asarray(q, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    out = np.empty((len(q), len(g)))
    for i, row in enumerate(q):
        out[i] = np.sqrt(((g - row) ** 2).sum(axis=1))
    return out


def _labels_by_keyword(func: Callable) -> Callable:
    """Refuse labels given by position, naming the order other libraries use.

    AGW's ``eval_sysu``, torchreid's and fast-reid's ``evaluate_rank`` take
    ``(distmat, q_pids, g_pids, q_camids, g_camids)``; reidbench used to take
    ``(distmat, q_pids, q_cams, g_pids, g_cams)``. Code ported positionally would fail
    only when query and gallery sizes differ and silently score wrong numbers when
    they are equal (RegDB), so labels are keyword-only and this says why.
    """
    positional = sum(1 for p in inspect.signature(func).parameters.values()
                     if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is p.empty)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > positional:
            raise TypeError(f"{func.__name__}() takes the labels as keywords only: "
                            f"{func.__name__}(..., q_pids=..., g_pids=..., q_cams=..., g_cams=...); "
                            f"got {len(args) - positional} positional label argument(s) (AGW/torchreid order "
                            "is (distmat, q_pids, g_pids, q_camids, g_camids), reidbench's was "
                            "(distmat, q_pids, q_cams, g_pids, g_cams): positional labels are ambiguous)")
        return func(*args, **kwargs)

    return wrapper


@_labels_by_keyword
def evaluate_features(query: np.ndarray, gallery: np.ndarray, *, q_pids: np.ndarray, g_pids: np.ndarray,
                      q_cams: np.ndarray, g_cams: np.ndarray, metric: str = "euclidean",
                      rule: MatchRule = SYSU_RULE) -> Metrics:
    """Metrics from query x D and gallery x D features (one gallery); see :func:`evaluate`.

    Labels are keyword-only (see :func:`evaluate` for why); every shape is checked.
    """
    query, gallery = np.asarray(query), np.asarray(gallery)
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f"features must be query N x D and gallery M x D with the same D, got "
                         f"{query.shape} and {gallery.shape}")
    return evaluate_galleries(query, gallery, q_pids, q_cams, g_pids, g_cams,
                              [np.arange(len(gallery))], metric, rule)[0]


def evaluate_galleries(query: np.ndarray, pool: np.ndarray, q_pids: np.ndarray, q_cams: np.ndarray,
                       pool_pids: np.ndarray, pool_cams: np.ndarray, galleries: list[np.ndarray],
                       metric: str = "euclidean", rule: MatchRule = SYSU_RULE) -> list[Metrics]:
    """Metrics of every trial; each gallery is an array of row indices into ``pool``.

    Distances to the whole pool are computed once and each trial only selects its
    columns, so ten trials cost little more than one. Rows decided by a float32
    tie are re-ranked on float64 distances; for Euclidean features, rows whose
    float64 order lies within rounding noise are recomputed from differences, as
    MATLAB's ``pdist2`` does, and ranked literally.
    """
    q, g = np.asarray(query), np.asarray(pool)  # float64 where computed (exact for float32 input)
    labels = _labels(q_pids, q_cams, pool_pids, pool_cams)
    if (len(q), len(g)) != (len(labels[0]), len(labels[2])):
        raise ValueError(f"{len(q)} query and {len(g)} gallery feature rows, but labels for "
                         f"{len(labels[0])} and {len(labels[2])}")
    if metric == "euclidean":
        fast, stages = _euclidean_stages(q, g)
    else:
        dist = distance_matrix(q, g, metric)
        stages = [_Stage(lambda rows, cols: dist[np.ix_(rows, cols)])]
        fast = _ranking_matrix(dist)
    return [_evaluate(fast, np.asarray(gal, dtype=np.int64), *labels, rule, stages) for gal in galleries]


@_labels_by_keyword
def evaluate(distmat: np.ndarray, *, q_pids: np.ndarray, g_pids: np.ndarray, q_cams: np.ndarray,
             g_cams: np.ndarray, rule: MatchRule = SYSU_RULE) -> Metrics:
    """CMC, mAP and mINP of a probe x gallery distance matrix (smaller is more similar).

    The labels are **keyword-only**: ``evaluate(distmat, q_pids=..., g_pids=..., q_cams=...,
    g_cams=...)``. AGW's ``eval_sysu`` and torchreid's / fast-reid's ``evaluate_rank`` take
    them positionally as ``(distmat, q_pids, g_pids, q_camids, g_camids)``; reidbench's
    positional order used to be ``(q_pids, q_cams, g_pids, g_cams)``, and on equal query and
    gallery sizes (RegDB) a call ported positionally scored wrong numbers without an error.
    Positional labels now raise ``TypeError``; wrong lengths raise ``ValueError``.

    Cameras are raw camera numbers; ``rule`` maps them to places and says which gallery
    images at the probe's place it never meets.
    """
    dist = np.asarray(distmat, dtype=np.float64)
    labels = _labels(q_pids, q_cams, g_pids, g_cams)
    if dist.ndim != 2 or dist.shape != (len(labels[0]), len(labels[2])):
        raise ValueError(f"distance matrix is {dist.shape}, expected query x gallery = "
                         f"{(len(labels[0]), len(labels[2]))} from the labels")
    return _evaluate(_ranking_matrix(dist), np.arange(dist.shape[1]), *labels, rule,
                     [_Stage(lambda rows, cols: dist[np.ix_(rows, cols)])])


@dataclass(frozen=True)
class _Stage:
    """A more precise look at rows the previous stage found tied.

    ``fetch(rows, cols)`` gives float64 distances; ``tolerance(rows)`` widens ties
    to near-ties that rounding could have decided (default: exact ties only).
    """

    fetch: Callable[[np.ndarray, np.ndarray], np.ndarray]
    tolerance: Callable[[np.ndarray], np.ndarray] | None = None


def _labels(q_pids: np.ndarray, q_cams: np.ndarray, g_pids: np.ndarray, g_cams: np.ndarray) -> list[np.ndarray]:
    """The four label arrays as int64 vectors; each identity array as long as its camera array."""
    out = [np.asarray(a).astype(np.int64).ravel() for a in (q_pids, q_cams, g_pids, g_cams)]
    for side, (pids, cams) in (("query", out[:2]), ("gallery", out[2:])):
        if len(pids) != len(cams):
            raise ValueError(f"{side} labels differ in length: {len(pids)} identities, {len(cams)} cameras")
    return out


def _ranking_matrix(dist: np.ndarray) -> np.ndarray:
    """float32 copy, shifted to be non-negative; float32 keeps every strict order
    of float64 (rounding is monotone) and halves the memory traffic."""
    fast = dist.astype(np.float32)
    low = fast.min(initial=0.0)
    if np.isnan(low):
        raise ValueError("distance matrix contains NaN")
    if low < 0:
        fast -= low
    return fast


def _evaluate(fast: np.ndarray, gal: np.ndarray, q_pids: np.ndarray, q_cams: np.ndarray,
              pool_pids: np.ndarray, pool_cams: np.ndarray, rule: MatchRule, stages: list[_Stage]) -> Metrics:
    """Metrics of the gallery ``gal`` (columns of the probe x pool matrix ``fast``)."""
    places = rule.places(np.concatenate([q_cams, pool_cams[gal]]))
    q_loc, g_loc = places[:len(q_cams)], places[len(q_cams):]
    n_ranks = len(np.unique(pool_pids[gal])) if rule.cmc == "identity" else len(gal)
    ranks = np.full((2, len(q_pids)), -1, dtype=np.int64)  # 0-based identity and image ranks, -1 = invalid
    ap = np.zeros(len(q_pids))
    inp = np.zeros(len(q_pids))
    for place in np.unique(q_loc):
        rows = np.flatnonzero(q_loc == place)
        first = _Stage(lambda r, c: _take(fast, r, c))
        if rule.exclude == "place":
            cols, at_place = gal[g_loc != place], None
        else:
            cols, at_place = gal, g_loc == place
        ranks[:, rows], ap[rows], inp[rows] = _rank_rows(rows, cols, q_pids, pool_pids, [first, *stages], at_place)

    rank = ranks[0] if rule.cmc == "identity" else ranks[1]
    valid = rank >= 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        return Metrics(np.zeros(n_ranks), float("nan"), float("nan"), 0)
    curve = np.cumsum(np.bincount(rank[valid], minlength=n_ranks)[:n_ranks]) / num_valid
    return Metrics(curve.astype(np.float64), float(ap[valid].sum() / num_valid),
                   float(inp[valid].sum() / num_valid), num_valid)


def _rank_rows(rows: np.ndarray, cols: np.ndarray, q_pids: np.ndarray, pool_pids: np.ndarray,
               stages: list[_Stage], at_place: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank probes ``rows`` against gallery ``cols``, refining tied rows stage by stage.

    ``at_place`` (per column) marks images at the probes' place: those of a probe's own
    identity are hidden from it (distance +inf, which the ranking treats as absent).
    Returns (2 x rows: identity rank and image rank of the first true match), AP, INP.
    """
    rank = np.empty((2, len(rows)), dtype=np.int64)
    ap, inp = np.empty(len(rows)), np.empty(len(rows))
    todo = np.arange(len(rows))
    # Vectorised stages depend on the gallery as a set: group it by identity once.
    perm = np.argsort(pool_pids[cols], kind="stable")
    by_id = cols[perm]
    for stage in stages:
        sub = stage.fetch(rows[todo], by_id)
        if at_place is not None:
            hide = at_place[perm][None, :] & (pool_pids[by_id][None, :] == q_pids[rows[todo]][:, None])
            sub = np.where(hide, sub.dtype.type(np.inf), sub)
        tol = stage.tolerance(rows[todo]) if stage.tolerance else None
        rank[:, todo], ap[todo], inp[todo], tied = _rank_block(sub, q_pids[rows[todo]], pool_pids[by_id], tol)
        todo = todo[tied]
        if len(todo) == 0:
            return rank, ap, inp
    exact = stages[-1].fetch(rows[todo], cols)  # genuine ties: gallery order decides
    for i, j in enumerate(todo):
        q_pid = q_pids[rows[j]]
        keep = slice(None) if at_place is None else ~(at_place & (pool_pids[cols] == q_pid))
        rank[:, j], ap[j], inp[j] = _rank_row_literal(np.asarray(exact[i], np.float64)[keep], q_pid,
                                                      pool_pids[cols][keep])
    return rank, ap, inp


def _take(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows][:, cols]``, slicing instead of copying when the rows are contiguous."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return np.take(matrix[rows[0]:rows[-1] + 1], cols, axis=1)
    return matrix[np.ix_(rows, cols)]


def _rank_block(dist: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, tol: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised ranks of probes sharing one (filtered) gallery.

    Returns (2 x n_q: 0-based identity rank and image rank of the first true match, or -1;
    AP; INP; rows whose order hinges on a tie). With ``tol`` (one value per row), values
    closer than it count as tied.
    """
    n_q, n_g = dist.shape
    rank = np.full((2, n_q), -1, dtype=np.int64)
    ap, inp, tied = np.zeros(n_q), np.zeros(n_q), np.zeros(n_q, dtype=bool)
    ids, g_idx, counts = np.unique(g_pids, return_inverse=True, return_counts=True)
    if len(ids) == 0:
        return rank, ap, inp, tied
    q_idx = np.minimum(np.searchsorted(ids, q_pids), len(ids) - 1)
    valid_rows = np.flatnonzero(ids[q_idx] == q_pids)
    if len(valid_rows) == 0:
        return rank, ap, inp, tied

    # True-match distances, sorted; +inf pads rows to the largest identity, and a hidden
    # image (+inf, see _rank_rows) is absent: a probe whose matches are all hidden is invalid.
    order = np.argsort(g_idx, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    t_max = int(counts.max())
    members = np.full((len(ids), t_max), n_g, dtype=np.int64)  # n_g -> +inf pad column
    members[g_idx[order], np.arange(n_g) - starts[g_idx[order]]] = order
    padded = np.concatenate([dist[valid_rows], np.full((len(valid_rows), 1), np.inf, dtype=dist.dtype)], axis=1)
    true_d = np.sort(np.take_along_axis(padded, members[q_idx[valid_rows]], axis=1), axis=1)
    n_true = np.isfinite(true_d).sum(1)
    if not n_true.all():
        valid_rows, true_d, n_true = valid_rows[n_true > 0], true_d[n_true > 0], n_true[n_true > 0]
        if len(valid_rows) == 0:
            return rank, ap, inp, tied
    d = dist[valid_rows]
    qi = q_idx[valid_rows]
    n = len(d)
    t = np.zeros((n, 1)) if tol is None else np.asarray(tol, dtype=np.float64)[valid_rows, None]

    # Identity level: the best distance of each gallery identity.
    grouped = np.all(g_idx[1:] >= g_idx[:-1])
    best = np.minimum.reduceat(d if grouped else d[:, order], starts, axis=1)
    true_best = best[np.arange(n), qi][:, None]
    rank[0, valid_rows] = (best < true_best).sum(1)
    id_tie = (np.abs(best - true_best) <= t).sum(1) > 1

    # Image level: rank of each true match = 1 + number of gallery images below it.
    t_row = t[:, 0]
    below_all, upto_all = _count_below(d, true_d, n_true, t_row)
    k = np.arange(1, t_max + 1)[None, :]
    in_range = k <= n_true[:, None]
    first_equal = _true_matches_below(true_d)
    rank_k = k + (below_all - first_equal)
    rank[1, valid_rows] = rank_k[:, 0] - 1
    ap[valid_rows] = np.where(in_range, k / rank_k, 0.0).sum(1) / n_true
    inp[valid_rows] = n_true / rank_k[np.arange(n), n_true - 1]
    # A negative within the tolerance of a true match: more values in its window
    # than true matches are.
    lo, hi = true_d - t_row[:, None], true_d + t_row[:, None]
    trues_in_window = ((true_d[:, None, :] >= lo[:, :, None]) & (true_d[:, None, :] <= hi[:, :, None])
                       & in_range[:, None, :]).sum(2)
    img_tie = ((upto_all - below_all > trues_in_window) & in_range).any(1)
    tied[valid_rows] = id_tie | img_tie
    return rank, ap, inp, tied


def _true_matches_below(true_d: np.ndarray) -> np.ndarray:
    """Per sorted true-match distance, how many true matches are strictly smaller."""
    k0 = np.arange(true_d.shape[1])
    new_value = np.ones(true_d.shape, dtype=bool)
    new_value[:, 1:] = true_d[:, 1:] != true_d[:, :-1]
    return np.maximum.accumulate(np.where(new_value, k0, 0), axis=1)


def _count_below(d: np.ndarray, true_d: np.ndarray, n_true: np.ndarray, tol: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per true-match distance t_k: how many gallery values lie below t_k - tol,
    and how many lie at or below t_k + tol (true matches included).

    Only values up to the row's largest true match can matter, so only those
    are sorted.
    """
    last = true_d[np.arange(len(d)), n_true - 1] + tol
    if d.dtype == np.float32:
        return _count_below_packed(d, true_d, last, tol)
    below = np.zeros(true_d.shape, dtype=np.int64)
    upto = np.zeros(true_d.shape, dtype=np.int64)
    for i in range(len(d)):  # float64 refinement: few rows
        t = true_d[i, :n_true[i]]
        row = d[i]
        cand = np.sort(row[row <= last[i]])
        below[i, :len(t)] = np.searchsorted(cand, t - tol[i], "left")
        upto[i, :len(t)] = np.searchsorted(cand, t + tol[i], "right")
    return below, upto


def _count_below_packed(d: np.ndarray, true_d: np.ndarray, last: np.ndarray, tol: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The float32 case without a per-row loop: candidates become int64 keys
    ``row * 2**32 + bits`` (a non-negative float's bits sort like the float), so
    one sort and one ``searchsorted`` serve every row at once."""
    mask = d <= last[:, None].astype(np.float32)
    lengths = mask.sum(1)
    keys = _packed_keys(d[mask], np.repeat(np.arange(len(d), dtype=np.int64), lengths))
    keys.sort()
    start = (np.cumsum(lengths) - lengths)[:, None]
    rows = np.repeat(np.arange(len(d), dtype=np.int64)[:, None], true_d.shape[1], axis=1)
    lo = (true_d - tol[:, None]).astype(np.float32)
    hi = (true_d + tol[:, None]).astype(np.float32)
    # +inf pads (missing true matches) pack to the largest key of their row.
    below = np.searchsorted(keys, _packed_keys(lo, rows), "left") - start
    upto = np.searchsorted(keys, _packed_keys(hi, rows), "right") - start
    return below, upto


def _packed_keys(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """int64 keys ordering (row, value) for non-negative float32 values (+inf allowed).

    Masking the sign bit maps -0.0 onto +0.0.
    """
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.int32) & 0x7FFFFFFF
    return (rows << 32) | bits.astype(np.int64)


def _rank_row_literal(dist_row: np.ndarray, q_pid: int, g_pids: np.ndarray
                      ) -> tuple[tuple[int, int], float, float]:
    """One probe ranked exactly as the reference code does: stable sort, then walk."""
    ranked = g_pids[np.argsort(dist_row, kind="stable")]
    match = ranked == q_pid
    if not match.any():
        return (-1, -1), 0.0, 0.0
    _, first = np.unique(ranked, return_index=True)
    unique_in_order = ranked[np.sort(first)]
    id_rank = int(np.flatnonzero(unique_in_order == q_pid)[0])
    hits = np.flatnonzero(match) + 1
    k = np.arange(1, len(hits) + 1)
    return (id_rank, int(hits[0]) - 1), float(np.mean(k / hits)), float(len(hits) / hits[-1])

