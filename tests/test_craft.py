"""CRAFT's augmentation has to matter: ω, β and the cross-modal MFA edges must shape the learned maps.

MFA's generalised eigenproblem is invariant to an invertible re-parametrisation of the
features, and c_v ⊗ s is one as soon as both views have many samples. So ω and β can only act
through the S_w ridge (``reg``), and RGB and IR only share output dimensions when the
within-class graph links them. The property tests also show the configuration in which they
fail, so that they cannot pass vacuously.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted import craft
from reidbench.methods.handcrafted.craft import (CRAFT, WITHIN_MODES, CrossModalCRAFT, augmented_form, camera_correlation,
                                                 craft_coefficients, mfa_graphs, mfa_view_maps,
                                                 view_laplacian_blocks, within_class_edges)
from reidbench.methods.handcrafted.linalg import l2_normalise, laplacian_form
from reidbench.methods.handcrafted.methods import MATCHER_RULES
from test_matchers import planted, rank1

SMALL = dict(n_components=20, pca_dim=60)


@pytest.fixture(scope="module")
def toy() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    X, pids, modality = planted(n_ids=50)
    train = pids < 30
    return (X[train], pids[train], modality[train]), (X[~train], pids[~train], modality[~train])


def cross_distances(E: np.ndarray, modality: np.ndarray) -> np.ndarray:
    """IR-probe x RGB-gallery squared distances scaled to mean 1: free of column signs and overall scale."""
    D = ((E[modality == 1][:, None, :] - E[modality == 0][None, :, :]) ** 2).sum(-1)
    return D / D.mean()


def relative_change(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(A))


def fitted_distances(toy, **params) -> np.ndarray:
    train, (X, _, modality) = toy
    return cross_distances(CrossModalCRAFT(**SMALL, **params).fit(*train).transform(X, modality), modality)


def shared_fraction(view_maps: np.ndarray) -> np.ndarray:
    """Per output dimension: the smaller of the RGB and IR map's column norms over the larger."""
    norms = np.linalg.norm(view_maps, axis=1)  # V x d
    return norms.min(axis=0) / norms.max(axis=0)


def drop_cross_view_edges(W: sp.spmatrix, views: np.ndarray) -> sp.csr_matrix:
    W = W.tocoo()
    keep = views[W.row] == views[W.col]
    return sp.csr_matrix((W.data[keep], (W.row[keep], W.col[keep])), shape=W.shape)


# ---------------------------------------------------------------- ω and β


def test_beta_changes_the_projection_through_the_ridge(toy) -> None:
    change = relative_change(fitted_distances(toy, beta=0.0), fitted_distances(toy, beta=0.6))
    assert change > 1e-3  # measured 7e-3 at the default reg
    # With a negligible ridge (the former a = 1e-8) β is absorbed by the re-parametrisation.
    inert = relative_change(fitted_distances(toy, beta=0.0, reg=1e-10), fitted_distances(toy, beta=0.6, reg=1e-10))
    assert inert < 1e-5


def test_camera_correlation_changes_the_projection(toy, monkeypatch) -> None:
    measured, measured_inert = fitted_distances(toy), fitted_distances(toy, reg=1e-10)
    monkeypatch.setattr(craft, "camera_correlation", lambda X, views, n_views, *args: np.eye(n_views))
    assert relative_change(measured, fitted_distances(toy)) > 1e-2  # measured 8.6e-2
    assert relative_change(measured_inert, fitted_distances(toy, reg=1e-10)) < 1e-5


def test_omega_gram_route_equals_exact_principal_angles() -> None:
    rng = np.random.default_rng(15)
    views = np.repeat([0, 1], [40, 30])
    X = rng.random((70, 300)) + np.repeat(rng.random((2, 300)), [40, 30], axis=0)
    raw = camera_correlation(X, views, 2, n_samples=25, seed=1, normalise=False)
    members = [np.flatnonzero(views == v) for v in (0, 1)]

    def exact(u: int, v: int) -> float:
        draw = np.random.default_rng(1)
        A, B = (X[draw.permutation(members[w])[:25]] for w in (u, v))
        return float(np.cos(scipy.linalg.subspace_angles((A - A.mean(0)).T, (B - B.mean(0)).T)).mean())

    assert raw[0, 1] == pytest.approx((exact(0, 1) + exact(1, 0)) / 2, rel=1e-9)


# ---------------------------------------------------------------- MFA graphs and the cross-modal link


@pytest.mark.parametrize("within", WITHIN_MODES)
def test_within_class_edges_are_the_nearest_allowed_same_identity_samples(within: str) -> None:
    rng = np.random.default_rng(16)
    labels = np.repeat(np.arange(4), [2, 7, 11, 16])
    views = rng.integers(0, 3, labels.size)
    S = rng.normal(size=(labels.size, 3))
    rows, cols = within_class_edges(S, labels, views, 4, within)
    D2 = ((S[:, None] - S[None]) ** 2).sum(-1)
    allowed = {"any": ("any",), "cross": ("other",), "both": ("own", "other")}[within]
    for i in range(labels.size):
        expected: set[int] = set()
        for kind in allowed:
            candidates = [j for j in range(labels.size) if j != i and labels[j] == labels[i]
                          and kind in ("any", "own" if views[j] == views[i] else "other")]
            expected |= set(sorted(candidates, key=lambda j: D2[i, j])[:4])
        assert sorted(cols[rows == i]) == sorted(expected)


def test_view_blocks_give_the_graph_form_of_the_explicitly_augmented_scores() -> None:
    rng = np.random.default_rng(17)
    S, views = rng.normal(size=(30, 4)), np.arange(30) % 3
    W = sp.random(30, 30, density=0.2, random_state=17, data_rvs=np.ones)
    W = ((W + W.T) > 0).astype(float).tocsr()
    omega = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.4], [0.2, 0.4, 1.0]])
    coeffs = craft_coefficients(omega, 0.3)
    Z = np.hstack([coeffs[j, views][:, None] * S for j in range(3)])  # rows c_v ⊗ s
    np.testing.assert_allclose(augmented_form(view_laplacian_blocks(S, views, 3, W), coeffs),
                               laplacian_form(Z, W), atol=1e-10)


def test_cross_modal_within_edges_change_the_maps_and_matter_for_retrieval(toy) -> None:
    train, (X_test, pids_test, modality_test) = toy
    X, pids, modality = train
    fitted = CrossModalCRAFT(**SMALL).fit(X, pids, modality)
    S = fitted.pca_.transform(X)
    W_w, W_b = mfa_graphs(S, np.unique(pids, return_inverse=True)[1], modality, fitted.n_within,
                          fitted.n_between, fitted.within)
    W_own = drop_cross_view_edges(W_w, modality)
    assert 0 < W_own.nnz < W_w.nnz
    _, maps = mfa_view_maps(S, modality, fitted.coefficients_, (W_w, W_b), fitted.reg, 20)
    np.testing.assert_allclose(maps, fitted.view_maps_, rtol=1e-10, atol=1e-12)
    _, own_maps = mfa_view_maps(S, modality, fitted.coefficients_, (W_own, W_b), fitted.reg, 20)
    S_test = fitted.pca_.transform(X_test)

    def embed(view_maps: np.ndarray) -> np.ndarray:
        return l2_normalise(np.where((modality_test == 0)[:, None], S_test @ view_maps[0], S_test @ view_maps[1]))

    assert relative_change(cross_distances(embed(maps), modality_test),
                           cross_distances(embed(own_maps), modality_test)) > 0.05  # measured 0.21
    assert rank1(embed(maps), pids_test, modality_test) >= 0.4  # measured 0.55; chance is 0.05
    assert rank1(embed(own_maps), pids_test, modality_test) < 0.2  # measured 0.01


def test_output_dimensions_are_shared_by_both_modalities() -> None:
    """A modality gap, as on SYSU: every kNN of the former graph (any view, Nw = 5 of 19) stays in its modality."""
    X, pids, modality = planted(n_ids=30, n_rgb=12, n_ir=8)
    X += 50 * np.random.default_rng(3).random(X.shape[1]).astype(np.float32) * modality[:, None]

    def shared(**params) -> float:
        return float((shared_fraction(CrossModalCRAFT(**SMALL, **params).fit(X, pids, modality).view_maps_)
                      > 0.5).mean())

    assert shared() >= 0.9  # measured 1.0
    assert shared(reg=1e-8) >= 0.9 and shared(within="any") >= 0.9  # cross edges or the ridge alone couple
    released = CRAFT(**SMALL, n_within=5).fit(X, pids, modality)  # the released graph (any view) and ridge 1e-8
    assert (shared_fraction(released.view_maps_) < 0.05).mean() >= 0.9  # measured 1.0: one modality each


# ---------------------------------------------------------------- configuration


def test_within_rule_lists_the_modes_and_other_values_are_rejected() -> None:
    rule = MATCHER_RULES["craft"]["within"]
    assert all(rule.accepts(mode) for mode in WITHIN_MODES) and not rule.accepts("own")
    assert set(rule.values) == set(WITHIN_MODES)
    with pytest.raises(ReidbenchError, match="within"):
        CRAFT(within="own")
