"""``hog_craft`` is CRAFT-MFA as its authors released it, rebuilt here step by step.

Every quantity is formed the way spec section 7 states it, without the module's helpers:
ω from principal angles of per-view sample PCAs, the explicit augmentation
[ω_1v x; ω_2v x] mapped through Λ^(-1/2)Pᵀ of C = [[I, -βI], [-βI, I]], the binary
symmetrised kNN graphs (Nw = 10 same-identity of any view, Nb = 30), MFA with the 1e-8
ridge, and the squared Mahalanobis distance with M = TTᵀ. The shared PCA keeps every
direction here, so it is only a rotation, which none of these quantities sees.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from reidbench.methods.handcrafted.craft import CRAFT, CrossModalCRAFT, mfa_graphs
from reidbench.methods.handcrafted.methods import matcher_defaults
from reidbench.registry import all_methods

RELEASED = {"within": "any", "n_within": 10, "n_between": 30, "reg": 1e-8, "normalise": False, "beta": 0.6,
            "n_components": 100, "sqrt_features": True}
P, IDS, PER_VIEW = 12, 12, 6
SIZES = {"pca_dim": P, "n_components": 6, "omega_samples": 8}  # a small input; the algorithm keys stay


def fixed_input(n_ids: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-negative features: an identity pattern, seen through a per-modality gain, plus noise."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(n_ids), 2 * PER_VIEW)
    modality = np.tile(np.repeat([0, 1], PER_VIEW), n_ids)
    gain = np.stack([np.ones(P), rng.uniform(0.3, 2.0, P)])
    X = rng.random((n_ids, P))[pids] * gain[modality] + 0.4 * rng.random((pids.size, P))
    return X, pids, modality


def hog_craft_matcher() -> CRAFT:
    config = {k: v for k, v in all_methods()["hog_craft"].config.items() if k != "resize"}
    assert {k: config[k] for k in RELEASED} == RELEASED
    return CRAFT(**{**config, **SIZES})


def sample_basis(A: np.ndarray) -> np.ndarray:
    """Orthonormal basis (p x r) of a sample's centred PCA, directions above 1e-10 of the top variance."""
    _, s, Vt = np.linalg.svd(A - A.mean(axis=0), full_matrices=False)
    return Vt[s ** 2 > 1e-10 * s[0] ** 2].T


def reference_omega(X: np.ndarray, modality: np.ndarray, n: int, seed: int) -> np.ndarray:
    omega = np.ones((2, 2))
    for u, v in ((0, 1), (1, 0)):
        rng = np.random.default_rng(seed)  # a fresh generator per ordered pair
        G_u = sample_basis(X[rng.permutation(np.flatnonzero(modality == u))[:n]])
        G_v = sample_basis(X[rng.permutation(np.flatnonzero(modality == v))[:n]])
        omega[u, v] = np.minimum(np.linalg.svd(G_u.T @ G_v, compute_uv=False), 1.0).mean()
    omega = (omega + omega.T) / 2
    np.fill_diagonal(omega, 2 - omega[0, 1])
    return omega / np.linalg.norm(omega, axis=0)


def reference_augmented(S: np.ndarray, modality: np.ndarray, omega: np.ndarray, beta: float) -> np.ndarray:
    """Rows Λ^(-1/2)Pᵀ [ω_0v s; ω_1v s] with C = PΛPᵀ built explicitly."""
    q = S.shape[1]
    C = np.block([[np.eye(q), -beta * np.eye(q)], [-beta * np.eye(q), np.eye(q)]])
    lam, Pc = np.linalg.eigh(C)
    Z = np.hstack([omega[0, modality][:, None] * S, omega[1, modality][:, None] * S])
    return Z @ Pc / np.sqrt(lam)


def knn_graph(D: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    W = np.zeros_like(D)
    for i in range(D.shape[0]):
        candidates = np.flatnonzero(allowed[i])
        W[i, candidates[np.argsort(D[i, candidates])[:k]]] = 1
    return ((W + W.T) > 0).astype(float)


def reference_graphs(S: np.ndarray, pids: np.ndarray, n_within: int, n_between: int) -> tuple[np.ndarray, ...]:
    D = ((S[:, None, :] - S[None, :, :]) ** 2).sum(-1)
    same = pids[:, None] == pids[None, :]
    return knn_graph(D, same & ~np.eye(len(pids), dtype=bool), n_within), knn_graph(D, ~same, n_between)


def laplacian(W: np.ndarray) -> np.ndarray:
    return np.diag(W.sum(axis=1)) - W


def reference_projection(Z: np.ndarray, W_w: np.ndarray, W_b: np.ndarray, reg: float, d: int) -> np.ndarray:
    S_w = Z.T @ laplacian(W_w) @ Z
    S_w = (1 - reg) * S_w + reg * np.trace(S_w) / S_w.shape[0] * np.eye(S_w.shape[0])
    _, T = scipy.linalg.eigh(Z.T @ laplacian(W_b) @ Z, S_w)
    return T[:, ::-1][:, :d]


def test_hog_craft_is_the_released_craft_step_by_step() -> None:
    X, pids, modality = fixed_input(IDS, seed=0)
    X_test, _, modality_test = fixed_input(4, seed=1)
    craft = hog_craft_matcher().fit(X, pids, modality)

    omega = reference_omega(X, modality, SIZES["omega_samples"], craft.omega_seed)
    np.testing.assert_allclose(craft.omega_, omega, rtol=0, atol=1e-12)
    assert 0.05 < omega[0, 1] < omega[0, 0]  # a real, not a trivial, camera correlation

    mean = np.sqrt(X).mean(axis=0)
    S, S_test = np.sqrt(X) - mean, np.sqrt(X_test) - mean  # the full PCA is a rotation of these
    Z = reference_augmented(S, modality, omega, RELEASED["beta"])
    S_module = craft.pca_.transform(X)
    coeff_gram = craft.coefficients_.T @ craft.coefficients_  # <c_u ⊗ s_i, c_v ⊗ s_j> = c_u·c_v s_i·s_j
    np.testing.assert_allclose(Z @ Z.T, coeff_gram[np.ix_(modality, modality)] * (S_module @ S_module.T),
                               rtol=0, atol=1e-10)

    W_w, W_b = reference_graphs(S, pids, RELEASED["n_within"], RELEASED["n_between"])
    graphs = mfa_graphs(S_module, pids, modality, craft.n_within, craft.n_between, craft.within)
    np.testing.assert_array_equal(graphs[0].toarray(), W_w)
    np.testing.assert_array_equal(graphs[1].toarray(), W_b)
    assert (W_w[np.ix_(modality == 0, modality == 1)] > 0).any()  # "any view": cross-modal links may occur
    assert ((W_w.sum(axis=1) >= 10) & (W_w.sum(axis=1) <= 2 * PER_VIEW - 1)).all()

    T = reference_projection(Z, W_w, W_b, RELEASED["reg"], SIZES["n_components"])
    Z_test = reference_augmented(S_test, modality_test, omega, RELEASED["beta"])
    diff = (Z_test[modality_test == 1][:, None, :] - Z_test[modality_test == 0][None, :, :]) @ T
    expected = (diff ** 2).sum(-1)  # squared Mahalanobis distance, M = TTᵀ
    E = craft.transform(X_test, modality_test)
    got = ((E[modality_test == 1][:, None, :] - E[modality_test == 0][None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0)


def test_the_modified_craft_is_its_own_method_with_its_own_defaults() -> None:
    methods = all_methods()
    for feature in ("hog", "lomo"):
        released, modified = methods[f"{feature}_craft"], methods[f"{feature}_craft_xm"]
        assert released.label == f"{feature.upper()}+CRAFT" and "cross-modal graph" in modified.label
        assert modified.family == released.family == "handcrafted"
        assert {k: released.config[k] for k in RELEASED} == RELEASED
    changed = {k: v for k, v in matcher_defaults(CrossModalCRAFT).items() if matcher_defaults(CRAFT)[k] != v}
    assert changed == {"within": "both", "n_within": 5, "reg": 0.1, "normalise": True}
