"""The hand-crafted cross-modality matchers: closed forms against brute force, planted signals, degenerate input."""
from __future__ import annotations

import numpy as np
import pytest

from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.cca import CCA, pair_moments
from reidbench.methods.handcrafted.cdfe import CDFE, cdfe_matrix, cross_degrees, cross_term, heat_kernel_graph
from reidbench.methods.handcrafted.craft import CRAFT, camera_correlation, craft_coefficients, mfa_graphs
from reidbench.methods.handcrafted.lfda import LFDA, lfda_scatters, local_scaling
from reidbench.methods.handcrafted.linalg import knn_chunked, top_psd_eigh
from reidbench.methods.handcrafted.pca import PCA, Euclidean

SMALL = dict(pca_dim=60)
MATCHERS = {
    "euclidean": Euclidean,
    "cca": lambda: CCA(n_components=20, **SMALL),
    "lfda": lambda: LFDA(n_components=20, **SMALL),
    "craft": lambda: CRAFT(n_components=20, **SMALL),
    "cdfe": lambda: CDFE(n_components=20, **SMALL),
}
LEARNERS = [name for name in MATCHERS if name != "euclidean"]


def planted(n_ids: int = 30, n_rgb: int = 5, n_ir: int = 4, p: int = 120, latent: int = 8,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identity latents seen through different linear maps per modality, plus strong per-modality nuisance.

    Raw Euclidean matching is near chance here; any working cross-modal learner is not.
    """
    rng = np.random.default_rng(seed)
    ids_latent = rng.normal(size=(n_ids, latent))
    X, pids, modality = [], [], []
    for m, per_id in ((0, n_rgb), (1, n_ir)):
        ids = np.repeat(np.arange(n_ids), per_id)
        signal = ids_latent[ids] @ rng.normal(size=(latent, p))
        nuisance = 4.0 * rng.normal(size=(ids.size, 6)) @ rng.normal(size=(6, p))
        X.append(signal + nuisance + 3.0 * rng.normal(size=(ids.size, p)) + 5.0 * m)
        pids.append(ids)
        modality.append(np.full(ids.size, m))
    return np.clip(np.vstack(X) + 40.0, 0, None).astype(np.float32), np.concatenate(pids), np.concatenate(modality)


def rank1(E: np.ndarray, pids: np.ndarray, modality: np.ndarray) -> float:
    """Fraction of IR probes whose nearest RGB gallery row has the same identity."""
    gallery, probe = modality == 0, modality == 1
    D = ((E[probe][:, None, :] - E[gallery][None, :, :]) ** 2).sum(-1)
    return float((pids[gallery][D.argmin(axis=1)] == pids[probe]).mean())


@pytest.fixture(scope="module")
def toy() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    X, pids, modality = planted(n_ids=50)
    train = pids < 30
    return {"train": (X[train], pids[train], modality[train]),
            "test": (X[~train], pids[~train], modality[~train])}


# ---------------------------------------------------------------- PCA


@pytest.mark.parametrize("n, p", [(80, 300), (300, 40)])  # Gram route (n < p) and covariance route
def test_pca_matches_exact_svd(n: int, p: int) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, p)) @ np.diag(np.linspace(3, 0.1, p))
    pca = PCA(n_components=20).fit(X)
    centred = X - X.mean(0)
    _, s, Vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance_, s[:20] ** 2 / (n - 1), rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.components_.T @ Vt[:20].T), np.eye(20), atol=1e-6)
    np.testing.assert_allclose(pca.transform(X), centred @ pca.components_, atol=1e-10)


def test_pca_randomised_route_captures_the_top_subspace() -> None:
    Q = np.linalg.qr(np.random.default_rng(2).normal(size=(400, 400)))[0]
    spectrum = 0.9 ** np.arange(400)
    w, V = top_psd_eigh((Q * spectrum) @ Q.T, 30, seed=0, oversample=20)  # 30 + 20 < 400: randomised
    np.testing.assert_allclose(w, spectrum[:30], rtol=1e-6)
    np.testing.assert_allclose(np.abs(V.T @ Q[:, :30]), np.eye(30), atol=1e-4)


def test_pca_subsample_float32_and_chunking() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((500, 200), dtype=np.float32)
    pca = PCA(n_components=30, max_fit_rows=150, chunk_rows=64).fit(X)
    assert pca.fit_rows_.size == 150 and pca.components_.dtype == np.float32
    whole = PCA(n_components=30, max_fit_rows=150, chunk_rows=10_000).fit(X).transform(X)
    np.testing.assert_allclose(pca.transform(X), whole, rtol=1e-5, atol=1e-5)
    rows = np.array([7, 3, 400])
    np.testing.assert_allclose(pca.transform(X, rows), pca.transform(X)[rows], rtol=1e-5, atol=1e-6)


def test_pca_sqrt_features_needs_non_negative_input() -> None:
    with pytest.raises(ReidbenchError, match="non-negative"):
        PCA(n_components=3, sqrt_features=True).fit(-np.ones((10, 5)) + np.eye(10, 5))


# ---------------------------------------------------------------- CCA


def test_cca_pair_moments_equal_brute_force_pair_enumeration() -> None:
    rng = np.random.default_rng(4)
    lx, lz = rng.integers(0, 5, 23), rng.integers(0, 6, 17)  # class 5 has IR samples only
    X, Z = rng.normal(size=(23, 4)), rng.normal(size=(17, 3))
    pairs = [(i, j) for i in range(23) for j in range(17) if lx[i] == lz[j]]
    Px, Pz = X[[i for i, _ in pairs]], Z[[j for _, j in pairs]]
    mom = pair_moments(X, lx, Z, lz, 6)
    assert mom.n_pairs == len(pairs)
    np.testing.assert_allclose(mom.mu_x, Px.mean(0), atol=1e-12)
    np.testing.assert_allclose(mom.mu_z, Pz.mean(0), atol=1e-12)
    np.testing.assert_allclose(mom.C_xx, np.cov(Px.T, bias=True), atol=1e-12)
    np.testing.assert_allclose(mom.C_zz, np.cov(Pz.T, bias=True), atol=1e-12)
    np.testing.assert_allclose(mom.C_xz, (Px - Px.mean(0)).T @ (Pz - Pz.mean(0)) / len(pairs), atol=1e-12)


def test_cca_recovers_a_planted_shared_signal() -> None:
    rng = np.random.default_rng(5)
    n_ids, per = 60, 4
    ids = np.repeat(np.arange(n_ids), per)
    shared = rng.normal(size=n_ids)
    X = np.outer(shared[ids], rng.normal(size=30)) + 0.05 * rng.normal(size=(ids.size, 30))
    Z = np.outer(shared[ids], rng.normal(size=20)) + 0.05 * rng.normal(size=(ids.size, 20))
    Z = np.hstack([Z, np.zeros((ids.size, 10))])
    cca = CCA(n_components=5, eps=1e-3, rho_scale=False, normalise=False, pca_dim=30)
    cca.fit(np.vstack([X, Z]), np.concatenate([ids, ids]), np.repeat([0, 1], ids.size))
    assert cca.rho_[0] > 0.99
    ex = cca.transform(X, np.zeros(ids.size, int))[:, 0]
    ez = cca.transform(Z, np.ones(ids.size, int))[:, 0]
    assert abs(np.corrcoef(ex, shared[ids])[0, 1]) > 0.99 and np.corrcoef(ex, ez)[0, 1] > 0.99


def test_cca_caps_components_at_classes_minus_one(toy) -> None:
    cca = CCA(n_components=500, pca_dim=60).fit(*toy["train"])
    assert cca.n_components_ == 29 and cca.transform(*toy["test"][::2]).shape[1] == 29


# ---------------------------------------------------------------- LFDA


def _class_sizes_case(seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), [1, 2, 5, 9, 14])  # n_c - 1 below, at and above k = 7
    return rng.normal(size=(labels.size, 4)), rng.permutation(labels)


def test_lfda_sigma_is_each_samples_kth_in_class_neighbour_distance() -> None:
    X, labels = _class_sizes_case()
    sigma = local_scaling(X, labels, k=7)
    for i in range(X.shape[0]):
        others = np.flatnonzero((labels == labels[i]) & (np.arange(X.shape[0]) != i))
        if others.size == 0:
            continue
        d = np.sort(np.linalg.norm(X[others] - X[i], axis=1))
        assert sigma[i] == pytest.approx(d[min(7, others.size) - 1], rel=1e-9)


def test_lfda_scatters_equal_pairwise_definitions() -> None:
    X, labels = _class_sizes_case(7)
    n = X.shape[0]
    sigma = local_scaling(X, labels, k=7)
    D2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    A = np.exp(-D2 / np.outer(sigma, sigma))
    same = labels[:, None] == labels[None, :]
    n_c = np.bincount(labels)[labels][:, None]
    W_w = np.where(same, A / n_c, 0.0)
    W_b = np.where(same, A * (1 / n - 1 / n_c), 1 / n)
    diff = X[:, None] - X[None]
    pairwise = lambda W: 0.5 * np.einsum("ij,ijk,ijl->kl", W, diff, diff)  # noqa: E731
    S_w, S_b = lfda_scatters(X, labels, k=7)
    np.testing.assert_allclose(S_w, pairwise(W_w), atol=1e-12)
    np.testing.assert_allclose(S_b, pairwise(W_b), atol=1e-12)


def test_lfda_duplicates_give_finite_scatters_and_weighted_embedding(toy) -> None:
    X, labels = _class_sizes_case(8)
    X[labels == 4] = X[labels == 4][0]  # 14 identical samples: σ = 0
    assert np.isfinite(lfda_scatters(X, labels)).all()
    lfda = LFDA(n_components=10, pca_dim=60).fit(*toy["train"])
    np.testing.assert_allclose(np.linalg.norm(lfda.projection_, axis=0), np.sqrt(lfda.eigenvalues_), rtol=1e-10)


def test_lfda_rejects_unknown_embedding() -> None:
    with pytest.raises(ReidbenchError, match="embedding"):
        LFDA(embedding="whitened")


# ---------------------------------------------------------------- CRAFT


def test_craft_omega_symmetric_before_scaling_and_unit_columns_after() -> None:
    rng = np.random.default_rng(9)
    views = np.repeat(np.arange(3), [40, 30, 1])  # view 2 has a single sample: ω = 1
    X = rng.random((71, 50)) + np.repeat(rng.random((3, 50)), [40, 30, 1], axis=0)
    raw = camera_correlation(X, views, 3, n_samples=25, seed=1, normalise=False)
    np.testing.assert_allclose(raw, raw.T)
    assert raw[0, 2] == raw[1, 2] == 1.0 and 0 < raw[0, 1] < 1
    np.testing.assert_allclose(np.diag(raw), 2 - (raw.sum(0) - np.diag(raw)) / 2)
    omega = camera_correlation(X, views, 3, n_samples=25, seed=1)
    np.testing.assert_allclose(np.linalg.norm(omega, axis=0), 1.0)
    np.testing.assert_allclose(omega, raw / np.linalg.norm(raw, axis=0))


def test_craft_beta_must_keep_the_regulariser_positive_definite() -> None:
    omega6 = np.full((6, 6), 0.5) + 0.5 * np.eye(6)
    with pytest.raises(ReidbenchError, match="1/\\(V-1\\)"):
        craft_coefficients(omega6, 0.6)
    craft_coefficients(omega6, 0.19)
    with pytest.raises(ReidbenchError, match="beta"):
        CRAFT(beta=1.0)
    X, pids, modality = planted(n_ids=8)
    cams = np.where(modality == 1, 5 + pids % 2, 1 + pids % 4)  # 6 views
    with pytest.raises(ReidbenchError, match="6 views"):
        CRAFT(beta=0.6, pca_dim=20).fit(X, pids, modality, views=cams)


def test_craft_v2_closed_form_matches_the_general_eigen_route() -> None:
    rng = np.random.default_rng(10)
    q, beta = 5, 0.6
    omega = np.array([[1.3, 0.4], [0.4, 1.3]])
    omega /= np.linalg.norm(omega, axis=0)
    S, views = rng.normal(size=(12, q)), rng.integers(0, 2, 12)
    augmented = np.stack([np.concatenate([omega[0, v] * s, omega[1, v] * s]) for s, v in zip(S, views)])
    C = np.kron(np.array([[1.0, -beta], [-beta, 1.0]]), np.eye(q))
    lam, P = np.linalg.eigh(C)
    general = augmented @ P / np.sqrt(lam)  # rows are Λ^(-1/2) Pᵀ a
    closed = np.stack([np.concatenate([(omega[0, v] + omega[1, v]) * s / np.sqrt(2 * (1 - beta)),
                                       (omega[0, v] - omega[1, v]) * s / np.sqrt(2 * (1 + beta))])
                       for s, v in zip(S, views)])
    coeffs = craft_coefficients(omega, beta)
    ours = np.hstack([coeffs[j, views][:, None] * S for j in range(2)])  # rows c_v ⊗ s
    # Eigenvectors inside the two q-fold eigenspaces are not unique: compare inner products.
    np.testing.assert_allclose(closed @ closed.T, general @ general.T, atol=1e-12)
    np.testing.assert_allclose(ours, closed, atol=1e-12)


def test_craft_mfa_graphs_are_symmetric_binary_and_respect_identities() -> None:
    rng = np.random.default_rng(11)
    labels = np.repeat(np.arange(6), [3, 12, 12, 12, 12, 12])
    S, views = rng.normal(size=(labels.size, 4)), rng.integers(0, 2, labels.size)
    W_w, W_b = mfa_graphs(S, labels, views, n_within=10, n_between=30, within="any")
    for W, same in ((W_w, True), (W_b, False)):
        dense = W.toarray()
        np.testing.assert_array_equal(dense, dense.T)
        assert set(np.unique(dense)) == {0.0, 1.0} and not dense.diagonal().any()
        rows, cols = np.nonzero(dense)
        assert ((labels[rows] == labels[cols]) == same).all()
    assert (W_w.toarray().sum(1) >= np.minimum(10, np.bincount(labels)[labels] - 1)).all()
    D2 = ((S[:, None] - S[None]) ** 2).sum(-1)
    D2[labels[:, None] == labels[None]] = np.inf
    rows, cols, _ = knn_chunked(S, 30, labels, chunk_rows=7)
    for i in range(labels.size):
        np.testing.assert_array_equal(np.sort(cols[rows == i]), np.sort(np.argsort(D2[i])[:30]))


def test_craft_augments_each_row_with_its_own_view(toy) -> None:
    craft = CRAFT(n_components=10, **SMALL).fit(*toy["train"])
    X, _, modality = toy["test"]
    batch = craft.transform(X, modality)
    alone = np.vstack([craft.transform(X[i:i + 1], modality[i:i + 1]) for i in (0, len(X) - 1)])
    np.testing.assert_allclose(alone, batch[[0, -1]], atol=1e-6)  # float32 PCA: row vs batch GEMM
    assert not np.allclose(craft.transform(X[:1], [1]), batch[:1])
    with pytest.raises(ReidbenchError, match="not seen"):
        craft.transform(X[:2], modality[:2], views=np.array([0, 7]))


# ---------------------------------------------------------------- CDFE


def _cdfe_case(seed: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lx, lz = rng.integers(0, 4, 15), rng.integers(0, 5, 11)
    return rng.normal(size=(15, 3)), lx, rng.normal(size=(11, 2)), lz


def _explicit_omega(lx: np.ndarray, lz: np.ndarray, alpha: float) -> np.ndarray:
    same = lx[:, None] == lz[None, :]
    return np.where(same, 1 / same.sum(), -alpha / (~same).sum())


def test_cdfe_cross_term_and_degrees_equal_the_explicit_omega() -> None:
    X, lx, Z, lz = _cdfe_case()
    omega = _explicit_omega(lx, lz, 0.7)
    np.testing.assert_allclose(cross_term(X, lx, Z, lz, 5, 0.7), X.T @ omega @ Z, atol=1e-12)
    r, c = cross_degrees(lx, lz, 5, 0.7)
    np.testing.assert_allclose(r, omega.sum(1), atol=1e-15)
    np.testing.assert_allclose(c, omega.sum(0), atol=1e-15)


def test_cdfe_matrix_form_equals_the_pairwise_objective() -> None:
    X, lx, Z, lz = _cdfe_case(13)
    alpha, beta, k = 0.7, 0.3, 3
    M = cdfe_matrix(X, lx, Z, lz, 5, alpha, beta, k)
    W = np.random.default_rng(0).normal(size=(5, 2))
    U, V = W[:3], W[3:]
    ex, ez = X @ U, Z @ V
    cross = ((ex[:, None] - ez[None]) ** 2).sum(-1)
    local = sum((heat_kernel_graph(F, k).toarray() * ((E[:, None] - E[None]) ** 2).sum(-1)).sum()
                for F, E in ((X, ex), (Z, ez)))
    assert np.trace(W.T @ M @ W) == pytest.approx((_explicit_omega(lx, lz, alpha) * cross).sum() + beta * local,
                                                  rel=1e-10)


def test_cdfe_caps_components_at_classes_minus_one(toy) -> None:
    cdfe = CDFE(n_components=500, pca_dim=60).fit(*toy["train"])
    assert cdfe.n_components_ == 29 and cdfe.transform(*toy["test"][::2]).shape[1] == 29
    X, pids, modality = toy["train"]
    pids = np.where((modality == 1) & (pids >= 10), pids + 100, pids)  # 10 identities keep both modalities
    assert CDFE(n_components=500, pca_dim=60).fit(X, pids, modality).n_components_ == 9


def test_cdfe_needs_same_identity_pairs() -> None:
    X, pids, modality = planted(n_ids=6)
    pids = np.where(modality == 1, pids + 100, pids)
    with pytest.raises(ReidbenchError, match="same"):
        CDFE(**SMALL).fit(X, pids, modality)


# ---------------------------------------------------------------- every matcher


@pytest.mark.parametrize("name", LEARNERS)
def test_every_learner_beats_chance_on_planted_cross_modal_identities(name: str, toy) -> None:
    matcher = MATCHERS[name]().fit(*toy["train"])
    X, pids, modality = toy["test"]
    E = matcher.transform(X, modality)
    assert np.isfinite(E).all() and E.shape[0] == X.shape[0]
    assert rank1(E, pids, modality) >= 0.5  # 20 test identities: chance is 0.05
    assert rank1(X, pids, modality) < 0.25  # the raw features are not already matched


def test_euclidean_is_the_identity_map(toy) -> None:
    X, _, modality = toy["test"]
    assert Euclidean().fit(*toy["train"]).transform(X, modality) is X


@pytest.mark.parametrize("name", LEARNERS)
def test_fitting_twice_gives_identical_bits(name: str, toy) -> None:
    X, _, modality = toy["test"]
    first = MATCHERS[name]().fit(*toy["train"]).transform(X, modality)
    second = MATCHERS[name]().fit(*toy["train"]).transform(X, modality)
    np.testing.assert_array_equal(first, second)


def test_eigenvector_signs_are_fixed(toy) -> None:
    cca = CCA(n_components=10, **SMALL).fit(*toy["train"])
    W = np.vstack([cca.weights_[0], cca.weights_[1]])
    assert (W[np.abs(W).argmax(0), np.arange(W.shape[1])] > 0).all()


def _degenerate_cases() -> dict[str, tuple[tuple[np.ndarray, np.ndarray, np.ndarray], str]]:
    X, pids, modality = planted(n_ids=6, p=40)
    nan, inf = X.copy(), X.copy()
    nan[3, 5], inf[7, 1] = np.nan, np.inf
    return {
        "one identity": ((X, np.zeros_like(pids), modality), "at least 2"),
        "one modality": ((X, pids, np.zeros_like(modality)), "no IR"),
        "nan": ((nan, pids, modality), "NaN"),
        "inf": ((inf, pids, modality), "infinite"),
        "constant": ((np.ones_like(X), pids, modality), "constant"),
        "length mismatch": ((X, pids[:-1], modality), "entries"),
        "bad modality": ((X, pids, modality + 1), "modality"),
        "1-d": ((X[0], pids, modality), "2-D"),
    }


@pytest.mark.parametrize("case", list(_degenerate_cases()))
@pytest.mark.parametrize("name", list(MATCHERS))
def test_degenerate_training_input_raises_a_clear_error(name: str, case: str) -> None:
    args, message = _degenerate_cases()[case]
    if name == "euclidean" and case == "constant":
        return  # nothing is learned, so constant features are legitimate input
    with pytest.raises(ReidbenchError, match=message):
        MATCHERS[name]().fit(*args)


@pytest.mark.parametrize("name", LEARNERS)
def test_fewer_samples_than_dimensions_and_constant_columns_stay_finite(name: str) -> None:
    X, pids, modality = planted(n_ids=6, p=400)
    X[:, :50] = 1.0
    matcher = MATCHERS[name]().fit(X, pids, modality)
    assert np.isfinite(matcher.transform(X, modality)).all()


@pytest.mark.parametrize("name", ["lfda", "craft"])
def test_all_singleton_identities_have_no_within_class_scatter(name: str) -> None:
    X, _, modality = planted(n_ids=6, p=40)
    with pytest.raises(ReidbenchError, match="within-class scatter is zero"):
        MATCHERS[name]().fit(X, np.arange(X.shape[0]), modality)


@pytest.mark.parametrize("name", list(MATCHERS))
def test_transform_validates_its_input(name: str, toy) -> None:
    X, _, modality = toy["test"]
    with pytest.raises(ReidbenchError, match="not fitted"):
        MATCHERS[name]().transform(X, modality)
    matcher = MATCHERS[name]().fit(*toy["train"])
    bad = X[:3].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ReidbenchError, match="NaN"):
        matcher.transform(bad, modality[:3])
    with pytest.raises(ReidbenchError, match="features"):
        matcher.transform(X[:3, :-1], modality[:3])
