"""Regularised CCA between RGB and IR over all same-identity pairs (Hotelling 1936; Hardoon et al. 2004).

The modalities are not paired, so every same-identity RGB–IR pair counts once, with weight
1/|P|. All moments follow exactly from per-class sums (no pair is enumerated), then
``[[0, C_xz], [C_zx, 0]] w = ρ blockdiag(C_xx + r_x I, C_zz + r_z I) w`` is solved with
``eigh``. Each modality gets its own PCA, as the two maps are separate anyway.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.linalg import (IR, RGB, check_training, check_transform_input, class_sums,
                                                  l2_normalise, ridge, top_eigh)
from reidbench.methods.handcrafted.pca import embed_per_modality, fit_modality_pcas


@dataclass(frozen=True)
class PairMoments:
    """Means and covariances of the all-same-identity-pairs distribution."""

    mu_x: np.ndarray
    mu_z: np.ndarray
    C_xx: np.ndarray
    C_zz: np.ndarray
    C_xz: np.ndarray
    n_pairs: int
    n_paired_classes: int


def pair_moments(X: np.ndarray, labels_x: np.ndarray, Z: np.ndarray, labels_z: np.ndarray,
                 n_classes: int) -> PairMoments:
    """Moments over P = {(i, j): c_i = c_j} from class sums: RGB row i has weight n^z_{c_i}/|P|."""
    sums_x, n_x = class_sums(X, labels_x, n_classes)
    sums_z, n_z = class_sums(Z, labels_z, n_classes)
    n_pairs = float(n_x @ n_z)
    if n_pairs == 0:
        raise ReidbenchError("no identity has both RGB and IR training samples; CCA needs same-identity pairs")
    mu_x = n_z @ sums_x / n_pairs
    mu_z = n_x @ sums_z / n_pairs
    C_xx = _weighted_cov(X - mu_x, n_z[labels_x]) / n_pairs
    C_zz = _weighted_cov(Z - mu_z, n_x[labels_z]) / n_pairs
    s_x = sums_x - n_x[:, None] * mu_x
    s_z = sums_z - n_z[:, None] * mu_z
    return PairMoments(mu_x, mu_z, C_xx, C_zz, s_x.T @ s_z / n_pairs, int(n_pairs),
                       int(np.count_nonzero((n_x > 0) & (n_z > 0))))


def _weighted_cov(centred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return (centred * weights[:, None]).T @ centred


class CCA:
    """Cross-modal CCA: gallery (RGB) Wₓᵀ(x - μₓ), probe (IR) W_zᵀ(z - μ_z), one common space.

    Parameters:
        n_components: d, capped at (#identities with both modalities) - 1 and the PCA dims,
            since rank(C_xz) <= #classes - 1.
        eps: ridge ε; r = ε · trace(C)/dim for each modality.
        rho_scale: scale component k by its canonical correlation ρ_k.
        normalise: L2-normalise embeddings (then Euclidean ranks like cosine).
        pca_dim, pca_fit_rows, seed: the per-modality PCA stage (see ``PCA``).
    """

    def __init__(self, n_components: int = 128, eps: float = 1e-2, rho_scale: bool = True,
                 normalise: bool = True, pca_dim: int = 600, pca_fit_rows: int = 3000, seed: int = 0):
        if n_components < 1 or eps <= 0:
            raise ReidbenchError("CCA needs n_components >= 1 and eps > 0")
        self.n_components = n_components
        self.eps = eps
        self.rho_scale = rho_scale
        self.normalise = normalise
        self.pca_args = dict(n_components=pca_dim, max_fit_rows=pca_fit_rows, seed=seed)
        self.n_features_: int | None = None

    def fit(self, X: np.ndarray, pids: np.ndarray, modality: np.ndarray) -> "CCA":
        """Per-modality PCA, pair moments from class sums, then the regularised eigenproblem."""
        data = check_training(X, pids, modality)
        self.pca_ = fit_modality_pcas(data.X, data.modality, **self.pca_args)
        rows = {m: np.flatnonzero(data.modality == m) for m in (RGB, IR)}
        scores = {m: self.pca_[m].transform(data.X, rows[m]) for m in (RGB, IR)}
        mom = pair_moments(scores[RGB], data.labels[rows[RGB]], scores[IR], data.labels[rows[IR]], data.n_classes)
        if mom.n_paired_classes < 2:
            raise ReidbenchError("CCA needs at least 2 identities that have both RGB and IR samples")
        kx, kz = mom.C_xx.shape[0], mom.C_zz.shape[0]
        d = min(self.n_components, mom.n_paired_classes - 1, kx, kz)
        A = np.zeros((kx + kz, kx + kz))
        A[:kx, kx:] = mom.C_xz
        A[kx:, :kx] = mom.C_xz.T
        B = np.zeros_like(A)
        B[:kx, :kx] = ridge(mom.C_xx, self.eps)
        B[kx:, kx:] = ridge(mom.C_zz, self.eps)
        rho, W = top_eigh(A, B, d)
        W *= np.sqrt(2.0)  # wᵀBw = 1 splits evenly between the halves; this gives unit-variance variates
        self.rho_ = rho
        self.weights_ = {RGB: W[:kx], IR: W[kx:]}
        self.means_ = {RGB: mom.mu_x, IR: mom.mu_z}
        self.n_components_ = d
        self.n_features_ = data.X.shape[1]
        return self

    def transform(self, X: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """Embed each row with its own modality's map; float64, n x d."""
        X, modality = check_transform_input(X, modality, self.n_features_)
        out = embed_per_modality(X, modality, self.pca_, self.weights_, self.means_)
        if self.rho_scale:
            out *= self.rho_
        return l2_normalise(out) if self.normalise else out
