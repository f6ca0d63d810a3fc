"""CDFE, Common Discriminant Feature Extraction (Lin and Tang, ECCV 2006), linear version.

Two maps, U for RGB and V for IR, minimise tr(Wᵀ M W) under WᵀW = I (W = [U; V]), with
M = [[Xᵀ(D_r + 2βL_x)X, -XᵀΩZ], [-ZᵀΩᵀX, Zᵀ(D_c + 2βL_z)Z]]. Ω (1/N_s for same identity,
-α/N_d otherwise) is never formed: XᵀΩZ and the diagonals D_r, D_c follow from class sums
and counts. L_x, L_z are Laplacians of heat-kernel kNN graphs inside each modality.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.linalg import (IR, RGB, bottom_eigh, check_training, check_transform_input,
                                                  class_sums, knn_chunked, l2_normalise, laplacian_form,
                                                  symmetric_graph)
from reidbench.methods.handcrafted.pca import embed_per_modality, fit_modality_pcas


def _pair_counts(labels_x: np.ndarray, labels_z: np.ndarray,
                 n_classes: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    n_x = np.bincount(labels_x, minlength=n_classes).astype(np.float64)
    n_z = np.bincount(labels_z, minlength=n_classes).astype(np.float64)
    n_same = float(n_x @ n_z)
    n_diff = float(n_x.sum() * n_z.sum()) - n_same
    if n_same == 0 or n_diff == 0:
        raise ReidbenchError("CDFE needs RGB–IR pairs of the same and of different identities")
    return n_x, n_z, n_same, n_diff


def cross_degrees(labels_x: np.ndarray, labels_z: np.ndarray, n_classes: int,
                  alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """diag(Ω1) and diag(Ωᵀ1): RGB row i gets n^z_c/N_s - α(n_z - n^z_c)/N_d, IR rows likewise."""
    n_x, n_z, n_same, n_diff = _pair_counts(labels_x, labels_z, n_classes)
    rows = n_z / n_same - alpha * (n_z.sum() - n_z) / n_diff
    cols = n_x / n_same - alpha * (n_x.sum() - n_x) / n_diff
    return rows[labels_x], cols[labels_z]


def cross_term(X: np.ndarray, labels_x: np.ndarray, Z: np.ndarray, labels_z: np.ndarray, n_classes: int,
               alpha: float) -> np.ndarray:
    """XᵀΩZ = (1/N_s + α/N_d) Σ_c S^x_c (S^z_c)ᵀ - (α/N_d) S^x (S^z)ᵀ from class sums S_c and totals S."""
    _, _, n_same, n_diff = _pair_counts(labels_x, labels_z, n_classes)
    sums_x, _ = class_sums(X, labels_x, n_classes)
    sums_z, _ = class_sums(Z, labels_z, n_classes)
    return ((1.0 / n_same + alpha / n_diff) * (sums_x.T @ sums_z)
            - (alpha / n_diff) * np.outer(sums_x.sum(axis=0), sums_z.sum(axis=0)))


def heat_kernel_graph(S: np.ndarray, k: int) -> sp.csr_matrix:
    """kNN graph with weights exp(-d²/t), t = mean kNN d², symmetrised by max, scaled to total weight 1.

    The unit total makes β scale-free: Xᵀ L X is then a weighted mean of local squared
    differences, the same order as the Ω terms.
    """
    rows, cols, d2 = knn_chunked(S, k)
    t = d2.mean() if d2.size else 0.0
    weights = np.exp(-d2 / t) if t > 0 else np.ones_like(d2)
    W = symmetric_graph(rows, cols, weights, S.shape[0])
    total = W.sum()
    return W / total if total > 0 else W


def cdfe_matrix(X: np.ndarray, labels_x: np.ndarray, Z: np.ndarray, labels_z: np.ndarray, n_classes: int,
                alpha: float, beta: float, k: int) -> np.ndarray:
    """M such that tr(Wᵀ M W) is the CDFE objective of W = [U; V] (rows of X, Z are samples)."""
    r, c = cross_degrees(labels_x, labels_z, n_classes, alpha)
    kx = X.shape[1]
    M = np.zeros((kx + Z.shape[1],) * 2)
    M[:kx, :kx] = (X * r[:, None]).T @ X + 2 * beta * laplacian_form(X, heat_kernel_graph(X, k))
    M[kx:, kx:] = (Z * c[:, None]).T @ Z + 2 * beta * laplacian_form(Z, heat_kernel_graph(Z, k))
    M[:kx, kx:] = -cross_term(X, labels_x, Z, labels_z, n_classes, alpha)
    M[kx:, :kx] = M[:kx, kx:].T
    return M


class CDFE:
    """Linear CDFE after per-modality PCA: gallery (RGB) Uᵀx, probe (IR) Vᵀz, Euclidean distance.

    Parameters:
        n_components: d, eigenvectors of M with the smallest eigenvalues; capped at
            (#identities with both modalities) - 1, since rank(XᵀΩZ) <= #classes - 1 and the
            directions past it carry only the within-modality diagonal terms.
        alpha: weight α of the different-identity term.
        beta: weight β of the local-consistency term (graph weights sum to 1 per modality).
        k: neighbours of the heat-kernel graph inside each modality.
        normalise: L2-normalise embeddings.
        pca_dim, pca_fit_rows, seed: the per-modality PCA stage.
    """

    def __init__(self, n_components: int = 128, alpha: float = 0.5, beta: float = 0.1, k: int = 5,
                 normalise: bool = False, pca_dim: int = 600, pca_fit_rows: int = 3000, seed: int = 0):
        if n_components < 1 or k < 1 or alpha < 0 or beta < 0:
            raise ReidbenchError("CDFE needs n_components >= 1, k >= 1, alpha >= 0 and beta >= 0")
        self.n_components = n_components
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.normalise = normalise
        self.pca_args = dict(n_components=pca_dim, max_fit_rows=pca_fit_rows, seed=seed)
        self.n_features_: int | None = None

    def fit(self, X: np.ndarray, pids: np.ndarray, modality: np.ndarray) -> "CDFE":
        """Per-modality PCA, the blocks of M from class sums and sparse graphs, bottom-d eigh (d capped)."""
        data = check_training(X, pids, modality)
        rows = {m: np.flatnonzero(data.modality == m) for m in (RGB, IR)}
        paired = np.intersect1d(data.labels[rows[RGB]], data.labels[rows[IR]]).size
        if paired < 2:
            raise ReidbenchError("CDFE needs at least 2 identities with both RGB and IR samples "
                                 "(same-identity pairs)")
        self.pca_ = fit_modality_pcas(data.X, data.modality, **self.pca_args)
        Xs, Zs = (self.pca_[m].transform(data.X, rows[m]) for m in (RGB, IR))
        M = cdfe_matrix(Xs, data.labels[rows[RGB]], Zs, data.labels[rows[IR]], data.n_classes,
                        self.alpha, self.beta, self.k)
        self.n_components_ = min(self.n_components, paired - 1, M.shape[0])
        self.eigenvalues_, W = bottom_eigh(M, self.n_components_)
        kx = Xs.shape[1]
        self.maps_ = {RGB: W[:kx], IR: W[kx:]}
        self.n_features_ = data.X.shape[1]
        return self

    def transform(self, X: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """Embed each row with its own modality's PCA and map; float64, n x d."""
        X, modality = check_transform_input(X, modality, self.n_features_)
        out = embed_per_modality(X, modality, self.pca_, self.maps_)
        return l2_normalise(out) if self.normalise else out
