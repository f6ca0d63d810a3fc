"""CRAFT: camera-correlation-aware feature augmentation + MFA (Chen et al., TPAMI 2018), linear form.

The official code is kernel CRAFT with the Bhattacharyya kernel k(x, y) = √xᵀ√y. Its
explicit feature map is x -> √x, so this linear version applies √x (``sqrt_features``)
before a shared PCA and runs everything on the PCA scores: the n x n kernel (9 GB for
SYSU) is never formed. A sample of view v is augmented to [ω_1v x; ...; ω_Vv x] and
mapped through Λ^(-1/2)Pᵀ of the view-discrepancy matrix C; with K = I the whole map is
x -> c_v ⊗ x for a per-view coefficient vector c_v, which is what is stored.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.linalg import (check_training, check_transform_input, fix_signs,
                                                  knn_chunked, knn_within_classes, l2_normalise, laplacian_form, shrink,
                                                  single_threaded, symmetric_graph, top_eigh)
from reidbench.methods.handcrafted.pca import PCA


def _view_subspace(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Orthonormal basis (r x p, rows) of the centred span of the sampled rows: their full PCA."""
    sample = X[rows].astype(np.float64)
    sample -= sample.mean(axis=0)
    with single_threaded():
        _, s, Vt = np.linalg.svd(sample, full_matrices=False)
    rank = int(np.count_nonzero(s > s[0] * max(sample.shape) * np.finfo(np.float64).eps)) if s[0] > 0 else 0
    return Vt[:rank]


def _principal_angle_mean(X: np.ndarray, rows_u: np.ndarray, rows_v: np.ndarray, n_samples: int,
                          seed: int) -> float:
    """Mean cosine of the principal angles between the PCA subspaces of two seeded samples."""
    rng = np.random.default_rng(seed)
    G_u = _view_subspace(X, rng.permutation(rows_u)[:n_samples])
    G_v = _view_subspace(X, rng.permutation(rows_v)[:n_samples])
    if G_u.shape[0] == 0 or G_v.shape[0] == 0:
        return 1.0  # a view without variation carries no correlation estimate, like a view of < 2 samples
    return float(np.linalg.svd(G_u @ G_v.T, compute_uv=False).mean())


def camera_correlation(X: np.ndarray, views: np.ndarray, n_views: int, n_samples: int = 100, seed: int = 1,
                       normalise: bool = True) -> np.ndarray:
    """ω (V x V): symmetrised principal-angle correlations, ω_vv = 2 - mean_{u≠v} ω_uv, unit columns.

    Every ordered pair (u, v) draws its samples from a fresh generator seeded with ``seed``
    (the official code calls rng(1) per pair). A view with < 2 samples gets ω = 1.
    """
    members = [np.flatnonzero(views == v) for v in range(n_views)]
    omega = np.ones((n_views, n_views))
    for u in range(n_views):
        for v in range(n_views):
            if u != v and members[u].size >= 2 and members[v].size >= 2:
                omega[u, v] = _principal_angle_mean(X, members[u], members[v], n_samples, seed)
    omega = (omega + omega.T) / 2.0
    off_diagonal = ~np.eye(n_views, dtype=bool)
    omega[np.diag_indices(n_views)] = 2.0 - (omega * off_diagonal).sum(axis=0) / (n_views - 1)
    return omega / np.linalg.norm(omega, axis=0) if normalise else omega


def check_beta(beta: float, n_views: int) -> None:
    """C is positive definite only for 0 <= β < 1/(V - 1) (eigenvalues 1 + β and 1 - (V - 1)β)."""
    if not 0 <= beta < 1.0 / (n_views - 1):
        raise ReidbenchError(f"CRAFT beta={beta} is invalid for {n_views} views: it must satisfy "
                             f"0 <= beta < 1/(V-1) = {1.0 / (n_views - 1):.4g}")


def craft_coefficients(omega: np.ndarray, beta: float) -> np.ndarray:
    """Column v is c_v = Λ^(-1/2) Pᵀ ω[:, v], with P Λ Pᵀ the V x V pattern (1 on, -β off the diagonal).

    With K = I, C = pattern ⊗ I, so augmentation + Λ^(-1/2)Pᵀ maps x of view v to c_v ⊗ x.
    """
    n_views = omega.shape[0]
    check_beta(beta, n_views)
    pattern = (1.0 + beta) * np.eye(n_views) - beta
    lam, P = np.linalg.eigh(pattern)
    return (fix_signs(P) / np.sqrt(lam)).T @ omega


def augment(S: np.ndarray, views: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Row i becomes c_{v_i} ⊗ s_i (n x V·q)."""
    return np.hstack([coeffs[j, views][:, None] * S for j in range(coeffs.shape[0])])


def mfa_graphs(S: np.ndarray, labels: np.ndarray, n_within: int,
               n_between: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Binary, symmetrised kNN graphs of MFA: Nw same-identity and Nb other-identity neighbours."""
    n = S.shape[0]
    W_w = symmetric_graph(*knn_within_classes(S, labels, n_within), None, n)
    rows, cols, _ = knn_chunked(S, n_between, labels)
    return W_w, symmetric_graph(rows, cols, None, n)


class CRAFT:
    """Linear CRAFT-MFA after a shared PCA; views default to the modality (V = 2).

    Parameters:
        n_components: MFA dimensions kept (official rank 100).
        beta: view-discrepancy β, 0 <= β < 1/(V - 1) (demo 0.6, valid for V = 2).
        n_within, n_between: MFA kNN graph sizes Nw, Nb.
        reg: MFA's S_w shrinkage a (official 1e-8).
        omega_samples, omega_seed: samples per view and seed of the camera correlation.
        sqrt_features: Bhattacharyya map √x before PCA (needs non-negative features).
        normalise: L2-normalise embeddings (off: the squared Mahalanobis distance with M = TTᵀ).
        pca_dim, pca_fit_rows, seed: the shared PCA stage.
    ``fit``/``transform`` take optional ``views`` (e.g. camera ids) instead of the modality.
    """

    def __init__(self, n_components: int = 100, beta: float = 0.6, n_within: int = 10, n_between: int = 30,
                 reg: float = 1e-8, omega_samples: int = 100, omega_seed: int = 1, sqrt_features: bool = True,
                 normalise: bool = False, pca_dim: int = 600, pca_fit_rows: int = 4000, seed: int = 0):
        if n_components < 1 or n_within < 1 or n_between < 1 or omega_samples < 2 or not 0 <= reg < 1:
            raise ReidbenchError("CRAFT needs n_components, n_within, n_between >= 1, omega_samples >= 2 "
                                 "and 0 <= reg < 1")
        check_beta(beta, 2)
        self.n_components = n_components
        self.beta = beta
        self.n_within = n_within
        self.n_between = n_between
        self.reg = reg
        self.omega_samples = omega_samples
        self.omega_seed = omega_seed
        self.normalise = normalise
        self.pca_args = dict(n_components=pca_dim, max_fit_rows=pca_fit_rows, seed=seed,
                             sqrt_features=sqrt_features)
        self.n_features_: int | None = None

    def fit(self, X: np.ndarray, pids: np.ndarray, modality: np.ndarray,
            views: np.ndarray | None = None) -> "CRAFT":
        """ω on the raw features, PCA, kNN graphs on the non-augmented scores, MFA on the augmented ones."""
        data = check_training(X, pids, modality)
        view_values, codes = np.unique(self._views(views, data.modality), return_inverse=True)
        if view_values.size < 2:
            raise ReidbenchError("CRAFT needs at least 2 views")
        check_beta(self.beta, view_values.size)
        self.omega_ = camera_correlation(data.X, codes, view_values.size, self.omega_samples, self.omega_seed)
        self.coefficients_ = craft_coefficients(self.omega_, self.beta)
        self.pca_ = PCA(**self.pca_args).fit(data.X)
        S = self.pca_.transform(data.X)
        W_w, W_b = mfa_graphs(S, data.labels, self.n_within, self.n_between)
        Z = augment(S, codes, self.coefficients_)
        S_w = laplacian_form(Z, W_w)
        if np.trace(S_w) <= 0:
            raise ReidbenchError("MFA within-class scatter is zero: every identity has one sample "
                                 "or identical samples")
        _, T = top_eigh(laplacian_form(Z, W_b), shrink(S_w, self.reg), self.n_components)
        q = S.shape[1]
        # c_v ⊗ s projected by T equals s projected by Σ_j c_v[j] T_j (T_j = j-th q-row block of T).
        self.view_maps_ = np.einsum("jv,jqd->vqd", self.coefficients_, T.reshape(-1, q, T.shape[1]))
        self.view_values_ = view_values
        self.n_features_ = data.X.shape[1]
        return self

    def transform(self, X: np.ndarray, modality: np.ndarray, views: np.ndarray | None = None) -> np.ndarray:
        """Augment every row with its own view's ω column (not the training layout), then project."""
        X, modality = check_transform_input(X, modality, self.n_features_)
        views = self._views(views, modality)
        unseen = np.setdiff1d(views, self.view_values_)
        if unseen.size:
            raise ReidbenchError(f"views {unseen.tolist()} were not seen in training")
        codes = np.searchsorted(self.view_values_, views)
        S = self.pca_.transform(X)
        out = np.empty((X.shape[0], self.view_maps_.shape[2]))
        for v in range(self.view_values_.size):
            rows = codes == v
            out[rows] = S[rows] @ self.view_maps_[v]
        return l2_normalise(out) if self.normalise else out

    @staticmethod
    def _views(views: np.ndarray | None, modality: np.ndarray) -> np.ndarray:
        if views is None:
            return modality
        views = np.asarray(views).ravel()
        if views.shape[0] != modality.shape[0] or not np.issubdtype(views.dtype, np.integer):
            raise ReidbenchError("views must be one integer label per row of X")
        return views
