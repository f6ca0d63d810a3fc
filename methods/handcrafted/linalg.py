"""Shared helpers of the hand-crafted matchers: input checks, eigensolvers, class sums, kNN.

Every matcher validates its input here so that the degenerate cases (NaN, one identity,
one modality, ...) fail with the same one-line :class:`ReidbenchError` messages, and
solves its eigenproblem here so that eigenvector signs are fixed the same way everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reidbench.errors import ReidbenchError

RGB, IR = 0, 1


def check_features(X: np.ndarray, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float array (float32 kept as is, never copied) or raise.

    NaN/inf are found through ``min``/``max`` (which propagate NaN) so that a 3.7 GB
    float32 matrix needs no boolean temporary of its own size.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ReidbenchError(f"{name} must be a non-empty 2-D array (samples x features), got shape {X.shape}")
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ReidbenchError(f"{name} must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float32 if X.dtype.itemsize <= 2 else np.float64)
    if not (np.isfinite(X.min()) and np.isfinite(X.max())):
        raise ReidbenchError(f"{name} contains NaN or infinite values; clean the features first")
    return X


def check_modality(modality: np.ndarray, n: int) -> np.ndarray:
    """Return the modality vector as int64 (0 = RGB, 1 = IR) or raise."""
    modality = np.asarray(modality).ravel()
    if modality.shape[0] != n:
        raise ReidbenchError(f"modality has {modality.shape[0]} entries but X has {n} rows")
    if not np.isin(modality, (RGB, IR)).all():
        raise ReidbenchError("modality must contain only 0 (RGB) and 1 (IR)")
    return modality.astype(np.int64)


@dataclass(frozen=True)
class TrainingSet:
    """Validated training input; ``labels`` are the identities re-coded as 0..C-1."""

    X: np.ndarray
    labels: np.ndarray
    modality: np.ndarray
    n_classes: int


def check_training(X: np.ndarray, pids: np.ndarray, modality: np.ndarray) -> TrainingSet:
    """Validate a matcher's training input; every learner needs >= 2 identities and both modalities."""
    X = check_features(X)
    pids = np.asarray(pids).ravel()
    if pids.shape[0] != X.shape[0]:
        raise ReidbenchError(f"pids has {pids.shape[0]} entries but X has {X.shape[0]} rows")
    if not np.issubdtype(pids.dtype, np.integer):
        raise ReidbenchError(f"pids must be integer identity labels, got dtype {pids.dtype}")
    modality = check_modality(modality, X.shape[0])
    classes, labels = np.unique(pids, return_inverse=True)
    if classes.size < 2:
        raise ReidbenchError(f"training set has {classes.size} identity; a matcher needs at least 2")
    missing = [name for m, name in ((RGB, "RGB"), (IR, "IR")) if not (modality == m).any()]
    if missing:
        raise ReidbenchError(f"training set has no {missing[0]} samples; cross-modality matchers need both modalities")
    return TrainingSet(X, labels.astype(np.int64), modality, int(classes.size))


def check_transform_input(X: np.ndarray, modality: np.ndarray, n_features: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``transform`` input against the fitted feature count (None: not fitted)."""
    if n_features is None:
        raise ReidbenchError("the matcher is not fitted; call fit() before transform()")
    X = check_features(X)
    if X.shape[1] != n_features:
        raise ReidbenchError(f"X has {X.shape[1]} features but the matcher was fitted on {n_features}")
    return X, check_modality(modality, X.shape[0])


def fix_signs(V: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-magnitude entry is positive (in place, returned)."""
    if V.size == 0:
        return V
    rows = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[rows, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    V *= signs
    return V


def single_threaded() -> threadpool_limits:
    """Run LAPACK factorisations on one BLAS thread.

    On the 2-core machine, with the other core busy, two OpenBLAS threads made a
    1,200² generalised ``eigh`` take 15 s instead of 0.2 s and a 4,000 x 700 QR 1.6 s
    instead of 0.13 s; one thread is never much slower for these memory-bound steps.
    GEMMs stay multi-threaded.
    """
    return threadpool_limits(1, user_api="blas")


def _eigh(A: np.ndarray, B: np.ndarray | None, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with single_threaded():
            return scipy.linalg.eigh(A, B, subset_by_index=[lo, hi])
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError) as exc:
        raise ReidbenchError(f"eigensolver failed ({exc}); increase the regulariser") from exc


def top_eigh(A: np.ndarray, B: np.ndarray | None, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest ``d`` eigenpairs of ``A v = λ B v``, descending, signs fixed."""
    n = A.shape[0]
    d = min(d, n)
    w, V = _eigh(A, B, n - d, n - 1)
    return w[::-1].copy(), fix_signs(V[:, ::-1].copy())


def bottom_eigh(A: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest ``d`` eigenpairs of symmetric ``A``, ascending, signs fixed."""
    d = min(d, A.shape[0])
    w, V = _eigh(A, None, 0, d - 1)
    return w, fix_signs(V)


def top_psd_eigh(A: np.ndarray, k: int, seed: int, oversample: int = 100,
                  power_iters: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenpairs (descending) of a PSD matrix, in A's precision.

    Exact ``eigh`` when k + oversample covers the matrix; otherwise the randomised
    subspace iteration of Halko, Martinsson and Tropp (2011, Alg. 4.4 + 5.3) with a
    seeded Gaussian start: for the top 600 of a 4,000² float32 Gram, ``eigh(subset_by_index)``
    took 6 s on one thread (16 s on two contended ones), this about 3 s. Only PCA uses it.
    """
    n = A.shape[0]
    if k + oversample >= n:
        w, V = _eigh(A, None, n - k, n - 1)
        return w[::-1], V[:, ::-1]
    Q = np.random.default_rng(seed).standard_normal((n, k + oversample)).astype(A.dtype)
    for _ in range(power_iters + 1):
        Y = A @ Q
        with single_threaded():
            Q = scipy.linalg.qr(Y, mode="economic", overwrite_a=True, check_finite=False)[0]
    w, V = _eigh((Q.T @ A @ Q).astype(np.float64), None, 0, Q.shape[1] - 1)
    return w[::-1][:k].astype(A.dtype), Q @ V[:, ::-1][:, :k].astype(A.dtype)


def mean_diag(S: np.ndarray) -> float:
    """trace(S)/dim, the scale every regulariser is expressed in."""
    return float(np.trace(S)) / S.shape[0]


def shrink(S: np.ndarray, beta: float) -> np.ndarray:
    """(1 - β) S + β trace(S)/dim I: the LFDA/MFA regulariser of S_w."""
    out = (1.0 - beta) * S
    out[np.diag_indices_from(out)] += beta * mean_diag(S)
    return out


def ridge(S: np.ndarray, eps: float) -> np.ndarray:
    """S + ε trace(S)/dim I: the CCA regulariser."""
    out = S.copy()
    out[np.diag_indices_from(out)] += eps * mean_diag(S)
    return out


def class_sums(X: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class row sums (C x q) and counts (C,) through a sparse one-hot product."""
    n = labels.shape[0]
    onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_classes, n))
    return np.asarray(onehot @ X), np.bincount(labels, minlength=n_classes).astype(np.float64)


def class_members(labels: np.ndarray) -> list[np.ndarray]:
    """Row indices of every class, in class order (classes without rows are skipped)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, bounds)


def sq_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of A and B, clipped at 0."""
    D = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    np.maximum(D, 0.0, out=D)
    return D


def knn_chunked(X: np.ndarray, k: int, labels: np.ndarray | None = None,
                chunk_rows: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k nearest other rows of X (of another class when ``labels`` is given), in chunks.

    Each chunk is one float32 GEMM against all rows (``chunk_rows x n``, no n x n matrix),
    ranked by ||y||² - 2xᵀy (||x||² is constant per row). ``torch.topk`` selects the k
    smallest: on 1,024 x 34,000 it took 0.12 s where ``np.argpartition`` took 0.67 s.
    Returns the (rows, cols, squared distances) of the edges found.
    """
    import torch  # heavy import, needed only here

    Xf = np.ascontiguousarray(X, dtype=np.float32)
    minus_2xt = np.ascontiguousarray(-2.0 * Xf.T)
    n = Xf.shape[0]
    sq = (Xf * Xf).sum(1)
    kk = min(k, n - 1)
    rows, cols, dists = [], [], []
    for start in range(0, n, chunk_rows):
        r = np.arange(start, min(start + chunk_rows, n))
        D = Xf[r] @ minus_2xt
        D += sq
        D[np.arange(r.size), r] = np.inf
        if labels is not None:
            np.copyto(D, np.inf, where=labels[r][:, None] == labels[None, :])
        values, nn = torch.topk(torch.from_numpy(D), kk, dim=1, largest=False)
        d = values.numpy().astype(np.float64) + sq[r, None]
        ok = np.isfinite(d)
        rows.append(np.repeat(r, kk)[ok.ravel()])
        cols.append(nn.numpy()[ok])
        dists.append(np.maximum(d[ok], 0.0))
    return _concat(rows), _concat(cols), _concat(dists, np.float64)


def _concat(parts: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def symmetric_graph(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | None, n: int) -> sp.csr_matrix:
    """Symmetrised sparse graph: binary ``(W + Wᵀ) > 0`` or, with weights, ``max(W, Wᵀ)``."""
    w = np.ones(rows.size) if weights is None else weights
    W = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    return W.maximum(W.T).tocsr()


def laplacian_form(Z: np.ndarray, W: sp.spmatrix) -> np.ndarray:
    """Zᵀ (D - W) Z = ½ Σ_ij W_ij (z_i - z_j)(z_i - z_j)ᵀ without forming D - W densely."""
    degree = np.asarray(W.sum(axis=1)).ravel()
    S = Z.T @ (degree[:, None] * Z) - Z.T @ (W @ Z)
    return (S + S.T) / 2.0


def l2_normalise(E: np.ndarray) -> np.ndarray:
    """Row-wise unit L2 norm; an all-zero row stays zero instead of becoming NaN."""
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.where(norms > 0, norms, 1.0)
