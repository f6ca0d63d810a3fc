"""PCA for 26,960-d LOMO on ~34k rows, and the no-learning Euclidean matcher.

The covariance of LOMO would be a 26,960² matrix (2.9 GB in float32, 34k·p² flops) and
the full Gram 34k² (9 GB), so the basis is fitted on a seeded row subsample (default
4,000 rows): top eigenpairs of its m x m Gram matrix when m < p, of its p x p covariance
otherwise, in the input's own float precision (randomised subspace iteration when the
matrix is much larger than the number of components, see ``top_psd_eigh``). All rows
are then projected in chunks of ``chunk_rows``, so the only large extra allocations are
the subsample and one chunk.
"""
from __future__ import annotations

import numpy as np

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.linalg import (IR, RGB, check_transform_input, check_training, fix_signs,
                                                  top_psd_eigh)

_RANK_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


class PCA:
    """Centred PCA fitted on at most ``max_fit_rows`` seeded rows; scores are float64.

    ``sqrt_features`` applies the Bhattacharyya feature map x -> √x chunk by chunk
    (non-negative input only) so that it never needs a full-size copy of X. Components
    whose eigenvalue is below a dtype-dependent fraction of the largest are dropped, so
    ``n_components_`` can be smaller than asked (rank-deficient or tiny training sets).
    Input is assumed validated by the caller (finite, 2-D float).
    """

    def __init__(self, n_components: int = 600, max_fit_rows: int = 4000, seed: int = 0,
                 sqrt_features: bool = False, chunk_rows: int = 2048):
        if n_components < 1 or max_fit_rows < 2 or chunk_rows < 1:
            raise ReidbenchError("PCA needs n_components >= 1, max_fit_rows >= 2 and chunk_rows >= 1")
        self.n_components = n_components
        self.max_fit_rows = max_fit_rows
        self.seed = seed
        self.sqrt_features = sqrt_features
        self.chunk_rows = chunk_rows

    def fit(self, X: np.ndarray, rows: np.ndarray | None = None) -> "PCA":
        """Fit mean and basis on a seeded subsample of ``rows`` (default: all rows of X)."""
        rows = np.arange(X.shape[0]) if rows is None else np.asarray(rows)
        if rows.size > self.max_fit_rows:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(rows, self.max_fit_rows, replace=False))
        self.fit_rows_ = rows
        sample = self._load(X, rows, X.dtype)
        mean = sample.mean(axis=0, dtype=np.float64)
        sample -= mean.astype(sample.dtype)
        eigval, basis = _principal_axes(sample, min(self.n_components, *sample.shape), self.seed)
        keep = eigval > _RANK_RTOL[sample.dtype] * max(eigval[0], 0.0)
        if not keep.any():
            raise ReidbenchError("features are constant on the PCA sample; there is nothing to learn from")
        self.mean_ = mean
        self.components_ = fix_signs(np.ascontiguousarray(basis[:, keep]))
        self.explained_variance_ = eigval[keep].astype(np.float64) / max(rows.size - 1, 1)
        self.n_components_ = int(keep.sum())
        return self

    def transform(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Centred scores of ``rows`` of X (default all), float64, computed chunk by chunk."""
        rows = np.arange(X.shape[0]) if rows is None else np.asarray(rows)
        out = np.empty((rows.size, self.n_components_), dtype=np.float64)
        U = self.components_
        mean = self.mean_.astype(U.dtype)
        buffer = np.empty((min(self.chunk_rows, rows.size), X.shape[1]), dtype=U.dtype)
        for start in range(0, rows.size, self.chunk_rows):
            block = self._load(X, rows[start:start + self.chunk_rows], U.dtype, buffer)
            block -= mean
            out[start:start + block.shape[0]] = block @ U
        return out

    def _load(self, X: np.ndarray, rows: np.ndarray, dtype: np.dtype, buffer: np.ndarray | None = None) -> np.ndarray:
        """An owned copy of X[rows] in ``dtype`` (into ``buffer`` when it fits), √-mapped if asked."""
        if buffer is not None and X.dtype == dtype:
            block = np.take(X, rows, axis=0, out=buffer[:rows.size], mode="clip")
        else:
            block = X[rows].astype(dtype, copy=False)
        if self.sqrt_features:
            if block.min() < 0:
                raise ReidbenchError("sqrt_features=True (Bhattacharyya map) needs non-negative features; "
                                     "pass sqrt_features=False")
            np.sqrt(block, out=block)
        return block


def _principal_axes(centred: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenvalues (descending) of CᵀC and the matching unit axes (p x k), via the Gram when m < p."""
    m, p = centred.shape
    if m < p:
        w, V = top_psd_eigh(centred @ centred.T, k, seed)
        scale = np.where(w > 0, 1.0 / np.sqrt(np.maximum(w, np.finfo(w.dtype).tiny)), 0.0)
        return w, centred.T @ (V * scale.astype(V.dtype))
    return top_psd_eigh(centred.T @ centred, k, seed)


def fit_modality_pcas(X: np.ndarray, modality: np.ndarray, **pca_args) -> dict[int, PCA]:
    """One PCA per modality (keys RGB, IR), each on its own rows of X (no copy of X)."""
    return {m: PCA(**pca_args).fit(X, np.flatnonzero(modality == m)) for m in (RGB, IR)}


def embed_per_modality(X: np.ndarray, modality: np.ndarray, pcas: dict[int, PCA], maps: dict[int, np.ndarray],
                       centres: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Each row through its own modality's PCA, minus ``centres[m]`` if given, times ``maps[m]``."""
    out = np.empty((X.shape[0], maps[RGB].shape[1]))
    for m in (RGB, IR):
        rows = np.flatnonzero(modality == m)
        if rows.size:
            scores = pcas[m].transform(X, rows)
            out[rows] = (scores if centres is None else scores - centres[m]) @ maps[m]
    return out


class Euclidean:
    """The no-learning baseline: identity map, so ranking is ||probe - gallery||₂ on raw features."""

    def __init__(self) -> None:
        self.n_features_: int | None = None

    def fit(self, X: np.ndarray, pids: np.ndarray, modality: np.ndarray) -> "Euclidean":
        """Only validate and remember the feature count; there is nothing to learn."""
        self.n_features_ = check_training(X, pids, modality).X.shape[1]
        return self

    def transform(self, X: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """Return X itself (float32/float64 as given, no copy)."""
        X, _ = check_transform_input(X, modality, self.n_features_)
        return X

