"""CRAFT: camera-correlation-aware feature augmentation + MFA (Chen et al., TPAMI 2018), linear form.

The official code is kernel CRAFT with the Bhattacharyya kernel k(x, y) = √xᵀ√y. Its
explicit feature map is x -> √x, so this linear version applies √x (``sqrt_features``)
before a shared PCA and runs everything on the PCA scores: the n x n kernel (9 GB for
SYSU) is never formed. A sample of view v is augmented to [ω_1v x; ...; ω_Vv x] and
mapped through Λ^(-1/2)Pᵀ of the view-discrepancy matrix C; with K = I the whole map is
x -> c_v ⊗ x for a per-view coefficient vector c_v, which is what is stored.

With many samples per view the augmented scores span the whole V·q space, so an
invertible re-parametrisation absorbs (c_1, ..., c_V) and MFA's generalised eigenproblem
cannot see ω or β. Only the S_w shrinkage is not invariant: for the projection U in the
un-mapped coordinates [ω_1v x; ...], it is exactly the regulariser C,
Σ_v ‖U_v‖² − β Σ_{u≠v} ⟨U_u, U_v⟩. So with the released ridge of 1e-8 ω and β barely act;
the modification's real ridge is what lets them shape the projection.

``CRAFT`` is CRAFT-MFA as the authors released it: the Nw = 10 nearest same-identity
samples of any view, the S_w ridge 1e-8, the squared Mahalanobis distance on the raw
projections (here its square root, which ranks the same). ``CrossModalCRAFT`` is
reidbench's modification, a different method: Nw own-view plus Nw cross-view neighbours,
a real ridge and L2-normalised embeddings.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.linalg import (check_training, check_transform_input, class_members, fix_signs,
                                                  knn_chunked, l2_normalise, shrink, single_threaded,
                                                  sq_distances, symmetric_graph, top_eigh)
from reidbench.methods.handcrafted.pca import PCA

# Which same-identity samples MFA's within-class graph may link: any view, other views only,
# or Nw of the own view plus Nw of the other views.
WITHIN_MODES = ("any", "cross", "both")


def _view_sample(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centred float64 sample A (m x p) and W (m x r) such that WᵀA is an orthonormal basis of its span.

    This is the sample's full PCA through its m x m Gram (m <= 100 here, p up to 26,960):
    ω on LOMO took 0.4 s this way and 1.7 s with exact SVDs of A. Directions with an
    eigenvalue below 1e-10 of the largest are dropped, PCA's float64 rank rule.
    """
    sample = X[rows].astype(np.float64)
    sample -= sample.mean(axis=0)
    with single_threaded():
        lam, U = np.linalg.eigh(sample @ sample.T)
    keep = lam > 1e-10 * lam[-1] if lam[-1] > 0 else np.zeros(lam.size, dtype=bool)
    return sample, U[:, keep] / np.sqrt(lam[keep])


def _principal_angle_mean(X: np.ndarray, rows_u: np.ndarray, rows_v: np.ndarray, n_samples: int,
                          seed: int) -> float:
    """Mean cosine of the principal angles between the PCA subspaces of two seeded samples."""
    rng = np.random.default_rng(seed)
    A_u, W_u = _view_sample(X, rng.permutation(rows_u)[:n_samples])
    A_v, W_v = _view_sample(X, rng.permutation(rows_v)[:n_samples])
    if W_u.shape[1] == 0 or W_v.shape[1] == 0:
        return 1.0  # a view without variation carries no correlation estimate, like a view of < 2 samples
    cosines = np.linalg.svd(W_u.T @ (A_u @ A_v.T) @ W_v, compute_uv=False)
    return float(np.minimum(cosines, 1.0).mean())


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


def _nearest(D: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of each row's k smallest finite entries; inf marks a pair that may not be linked."""
    kk = min(k, D.shape[1])
    nn = np.argpartition(D, kk - 1, axis=1)[:, :kk]
    rows = np.repeat(np.arange(D.shape[0]), kk).reshape(nn.shape)
    ok = np.isfinite(D[rows, nn])
    return rows[ok], nn[ok]


def _excluded_pairs(same_view: np.ndarray, within: str) -> list[np.ndarray]:
    """One mask of forbidden pairs per neighbour search that ``within`` asks for."""
    return {"any": [np.zeros_like(same_view)], "cross": [same_view], "both": [~same_view, same_view]}[within]


def within_class_edges(S: np.ndarray, labels: np.ndarray, views: np.ndarray, k: int,
                       within: str) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's k nearest same-identity samples, restricted by ``within`` (see WITHIN_MODES).

    "both" takes the k nearest of the own view and, separately, the k nearest of the other
    views, so an identity's RGB and IR samples are always linked even though same-modality
    samples are far closer (with "any", almost every edge stays inside one modality). The
    per-identity GEMMs are small, so they run on one BLAS thread: on 296 identities of a
    loaded 2-core machine that took 0.5 s instead of 4-14 s.
    """
    rows, cols = [], []
    with single_threaded():
        for idx in class_members(labels):
            if idx.size < 2:
                continue
            D = sq_distances(S[idx], S[idx])
            np.fill_diagonal(D, np.inf)
            for excluded in _excluded_pairs(views[idx][:, None] == views[idx][None, :], within):
                r, c = _nearest(np.where(excluded, np.inf, D), k)
                rows.append(idx[r])
                cols.append(idx[c])
    return (np.concatenate(rows), np.concatenate(cols)) if rows else (np.zeros(0, int), np.zeros(0, int))


def mfa_graphs(S: np.ndarray, labels: np.ndarray, views: np.ndarray, n_within: int, n_between: int,
               within: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Binary, symmetrised kNN graphs of MFA: Nw same-identity (per ``within``), Nb other-identity neighbours."""
    n = S.shape[0]
    W_w = symmetric_graph(*within_class_edges(S, labels, views, n_within, within), None, n)
    rows, cols, _ = knn_chunked(S, n_between, labels)
    return W_w, symmetric_graph(rows, cols, None, n)


def view_laplacian_blocks(S: np.ndarray, views: np.ndarray, n_views: int, W: sp.spmatrix) -> np.ndarray:
    """B[u, :, v, :] = S_uᵀ (D - W)_uv S_v (V x q x V x q): the graph form of zero-padded e_v ⊗ s.

    Every augmented form follows from B (``augmented_form``), in V·n·q² flops instead of
    the (V·q)²·n of forming c_v ⊗ s explicitly.
    """
    L = (sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W).tocsc()
    q = S.shape[1]
    members = [np.flatnonzero(views == v) for v in range(n_views)]
    parts = [S[rows] for rows in members]
    blocks = np.zeros((n_views, q, n_views, q))
    for v, cols in enumerate(members):
        LS = L[:, cols] @ parts[v]
        for u, rows in enumerate(members):
            blocks[u, :, v, :] = parts[u].T @ LS[rows]
    return blocks


def augmented_form(blocks: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Zᵀ(D - W)Z for rows z_i = c_{v_i} ⊗ s_i: block (j, k) is Σ_uv c_u[j] c_v[k] B[u, :, v, :]."""
    n_views, q = blocks.shape[:2]
    jabk = np.tensordot(np.tensordot(coeffs, blocks, axes=(1, 0)), coeffs, axes=(2, 1))
    out = jabk.transpose(0, 1, 3, 2).reshape(n_views * q, n_views * q)
    return (out + out.T) / 2.0


def mfa_view_maps(S: np.ndarray, views: np.ndarray, coeffs: np.ndarray, graphs: tuple[sp.spmatrix, sp.spmatrix],
                  reg: float, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """MFA on the augmented scores; returns the eigenvalues and the per-view maps (V x q x d).

    c_v ⊗ s projected by T equals s projected by Σ_j c_v[j] T_j (T_j = j-th q-row block of T).
    """
    n_views = coeffs.shape[0]
    W_w, W_b = graphs
    S_w = augmented_form(view_laplacian_blocks(S, views, n_views, W_w), coeffs)
    if np.trace(S_w) <= 0:
        raise ReidbenchError("MFA within-class scatter is zero: every identity has one sample "
                             "or identical samples")
    S_b = augmented_form(view_laplacian_blocks(S, views, n_views, W_b), coeffs)
    eigenvalues, T = top_eigh(S_b, shrink(S_w, reg), n_components)
    return eigenvalues, np.einsum("jv,jqd->vqd", coeffs, T.reshape(n_views, S.shape[1], -1))


class CRAFT:
    """Linear CRAFT-MFA after a shared PCA, as released; views default to the modality (V = 2).

    Parameters:
        n_components: MFA dimensions kept (official rank 100).
        beta: view-discrepancy β, 0 <= β < 1/(V - 1) (demo 0.6, valid for V = 2).
        n_within, n_between: MFA kNN graph sizes Nw, Nb (released: 10, 30).
        within: which same-identity samples the within-class graph links (``WITHIN_MODES``; released: any).
        reg: MFA's S_w shrinkage a (released: 1e-8); it is also the view-discrepancy regulariser.
        omega_samples, omega_seed: samples per view and seed of the camera correlation.
        sqrt_features: Bhattacharyya map √x before PCA (needs non-negative features).
        normalise: L2-normalise embeddings (off, as released: the squared Mahalanobis distance, M = TTᵀ).
        pca_dim, pca_fit_rows, seed: the shared PCA stage.
    ``fit``/``transform`` take optional ``views`` (e.g. camera ids) instead of the modality.
    """

    def __init__(self, n_components: int = 100, beta: float = 0.6, n_within: int = 10, n_between: int = 30,
                 within: str = "any", reg: float = 1e-8, omega_samples: int = 100, omega_seed: int = 1,
                 sqrt_features: bool = True, normalise: bool = False, pca_dim: int = 600, pca_fit_rows: int = 4000,
                 seed: int = 0):
        if n_components < 1 or n_within < 1 or n_between < 1 or omega_samples < 2 or not 0 <= reg < 1:
            raise ReidbenchError("CRAFT needs n_components, n_within, n_between >= 1, omega_samples >= 2 "
                                 "and 0 <= reg < 1")
        if within not in WITHIN_MODES:
            raise ReidbenchError(f"CRAFT within={within!r} is not one of {', '.join(WITHIN_MODES)}")
        check_beta(beta, 2)
        self.n_components = n_components
        self.beta = beta
        self.n_within = n_within
        self.n_between = n_between
        self.within = within
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
        graphs = mfa_graphs(S, data.labels, codes, self.n_within, self.n_between, self.within)
        self.eigenvalues_, self.view_maps_ = mfa_view_maps(S, codes, self.coefficients_, graphs, self.reg,
                                                           self.n_components)
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


class CrossModalCRAFT(CRAFT):
    """reidbench's modified CRAFT, not the released method: Nw own-view plus Nw cross-view
    same-identity neighbours, an S_w ridge of 0.1 and L2-normalised embeddings. The released
    graph links almost only same-modality samples, so its RGB and IR maps decouple."""

    def __init__(self, n_components: int = 100, beta: float = 0.6, n_within: int = 5, n_between: int = 30,
                 within: str = "both", reg: float = 0.1, omega_samples: int = 100, omega_seed: int = 1,
                 sqrt_features: bool = True, normalise: bool = True, pca_dim: int = 600, pca_fit_rows: int = 4000,
                 seed: int = 0):
        super().__init__(n_components=n_components, beta=beta, n_within=n_within, n_between=n_between,
                         within=within, reg=reg, omega_samples=omega_samples, omega_seed=omega_seed,
                         sqrt_features=sqrt_features, normalise=normalise, pca_dim=pca_dim,
                         pca_fit_rows=pca_fit_rows, seed=seed)
