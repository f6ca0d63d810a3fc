"""Local Fisher Discriminant Analysis (Sugiyama, JMLR 2007), written in-house.

RGB and IR samples are pooled by identity (modality ignored) after one shared PCA.
Affinities exist only inside a class, so S_w comes from per-class blocks, and S_b from
the total scatter minus per-class terms (W^b is 1/n between classes), never from an
n x n matrix.
"""
from __future__ import annotations

import numpy as np

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.linalg import (check_training, check_transform_input, class_members, class_sums,
                                                  fix_signs,
                                                  l2_normalise, shrink, single_threaded, sq_distances,
                                                  top_eigh)
from reidbench.methods.handcrafted.pca import PCA

EMBEDDINGS = ("weighted", "orthonormalised", "plain")


def local_affinity(D2: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """A_ij = exp(-d²_ij / (σ_i σ_j)); with σ = 0 (duplicates) A is 1 for identical points, else 0."""
    denom = np.outer(sigma, sigma)
    ratio = np.divide(D2, denom, out=np.where(D2 > 0, np.inf, 0.0), where=denom > 0)
    return np.exp(-ratio)


def _in_class_sq_distances(Xc: np.ndarray) -> np.ndarray:
    D2 = sq_distances(Xc, Xc)
    np.fill_diagonal(D2, 0.0)
    return D2


def _sigma(D2: np.ndarray, k: int) -> np.ndarray:
    """Row i of D2 sorted is [0 (itself), 1st, 2nd, ...]: entry min(k, n_c - 1) is σ_i."""
    kk = min(k, D2.shape[0] - 1)
    return np.sqrt(np.partition(D2, kk, axis=1)[:, kk]) if kk >= 1 else np.ones(D2.shape[0])


def local_scaling(X: np.ndarray, labels: np.ndarray, k: int = 7) -> np.ndarray:
    """σ_i: distance from x_i to its min(k, n_c - 1)-th nearest neighbour inside its own class."""
    sigma = np.ones(X.shape[0])
    for idx in class_members(labels):
        sigma[idx] = _sigma(_in_class_sq_distances(X[idx]), k)
    return sigma


def lfda_scatters(X: np.ndarray, labels: np.ndarray, k: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Unregularised (S_w, S_b) of LFDA without any n x n matrix.

    S(W) = Xᵀ(D - W)X is linear in W. With L_c = diag(A_c 1) - A_c, P = rows L_c X_c,
    W^w = blockdiag(A_c/n_c) and W^b = J/n - blockdiag(J_c)/n + blockdiag(A_c (1/n - 1/n_c)):
      S_w = Xᵀ P/n_c
      S_b = S_t - Σ_c X_cᵀ(n_c I - J_c)X_c / n - Xᵀ P (1/n_c - 1/n)
          = Xᵀ[(1 - n_c/n) X - (1/n_c - 1/n) P] + Σ_c s_c s_cᵀ / n     (X centred, s_c class sums)
    so the only per-class work is the n_c x n_c affinity and L_c X_c; the rest is two GEMMs.
    """
    n = X.shape[0]
    Xc = X - X.mean(axis=0)
    P = np.empty_like(Xc)
    with single_threaded():  # hundreds of small products: thread start-up would dominate
        for idx in class_members(labels):
            block = Xc[idx]
            D2 = _in_class_sq_distances(block)
            A = local_affinity(D2, _sigma(D2, k))
            P[idx] = A.sum(axis=1)[:, None] * block - A @ block
    sums, counts = class_sums(Xc, labels, int(labels.max()) + 1)
    n_c = counts[labels]
    S_w = Xc.T @ (P / n_c[:, None])
    S_b = Xc.T @ ((1.0 - n_c / n)[:, None] * Xc - (1.0 / n_c - 1.0 / n)[:, None] * P) + sums.T @ sums / n
    return (S_w + S_w.T) / 2.0, (S_b + S_b.T) / 2.0


def embedding_matrix(phi: np.ndarray, lam: np.ndarray, embedding: str) -> np.ndarray:
    """Sugiyama's "weighted" (unit φ_k times √λ_k), "orthonormalised" (QR) or "plain" φ."""
    if embedding == "plain":
        return phi
    if embedding == "orthonormalised":
        return fix_signs(np.linalg.qr(phi)[0])
    return phi / np.linalg.norm(phi, axis=0) * np.sqrt(np.maximum(lam, 0.0))


class LFDA:
    """LFDA on pooled RGB+IR samples; transform is Tᵀx after the shared PCA.

    Parameters:
        n_components: d, the number of generalised eigenvectors kept (capped at the PCA dim).
        k: local-scaling neighbour rank (capped at n_c - 1 per class).
        beta: S_w <- (1 - β) S_w + β trace(S_w)/dim I.
        embedding: "weighted" (default), "orthonormalised" or "plain".
        normalise: L2-normalise embeddings (off: the LFDA distance is ||Tᵀ(x - y)||).
        pca_dim, pca_fit_rows, seed: the shared PCA stage.
    """

    def __init__(self, n_components: int = 128, k: int = 7, beta: float = 1e-3, embedding: str = "weighted",
                 normalise: bool = False, pca_dim: int = 600, pca_fit_rows: int = 4000, seed: int = 0):
        if embedding not in EMBEDDINGS:
            raise ReidbenchError(f"LFDA embedding must be one of {EMBEDDINGS}, got {embedding!r}")
        if n_components < 1 or k < 1 or not 0 <= beta < 1:
            raise ReidbenchError("LFDA needs n_components >= 1, k >= 1 and 0 <= beta < 1")
        self.n_components = n_components
        self.k = k
        self.beta = beta
        self.embedding = embedding
        self.normalise = normalise
        self.pca_args = dict(n_components=pca_dim, max_fit_rows=pca_fit_rows, seed=seed)
        self.n_features_: int | None = None

    def fit(self, X: np.ndarray, pids: np.ndarray, modality: np.ndarray) -> "LFDA":
        """Shared PCA, per-class scatters, regularised S_w, top-d generalised eigenvectors."""
        data = check_training(X, pids, modality)
        self.pca_ = PCA(**self.pca_args).fit(data.X)
        S_w, S_b = lfda_scatters(self.pca_.transform(data.X), data.labels, self.k)
        if np.trace(S_w) <= 0:
            raise ReidbenchError("LFDA within-class scatter is zero: every identity has one sample "
                                 "or identical samples")
        lam, phi = top_eigh(S_b, shrink(S_w, self.beta), self.n_components)
        self.eigenvalues_ = lam
        self.projection_ = embedding_matrix(phi, lam, self.embedding)
        self.n_features_ = data.X.shape[1]
        return self

    def transform(self, X: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """Same map for both modalities; float64, n x d."""
        X, _ = check_transform_input(X, modality, self.n_features_)
        out = self.pca_.transform(X) @ self.projection_
        return l2_normalise(out) if self.normalise else out
