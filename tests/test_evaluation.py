"""Metrics on hand-computed cases, and against a literal transcription of the official code."""
from __future__ import annotations

import numpy as np
import pytest

from reidbench.evaluation import (SYSU_LOCATIONS, distance_matrix, evaluate, evaluate_features,
                                  evaluate_galleries, exact_euclidean, squared_euclidean)


def reference(dist, q_pids, q_cams, g_pids, g_cams):
    """Line-by-line port of get_cmc_multi_cam.m / get_map_multi_cam.m (+ mINP), slow on purpose."""
    n_ids = len(np.unique(g_pids))
    counter, valid, aps, inps = np.zeros(n_ids), 0, [], []
    for i in range(len(q_pids)):
        order = np.argsort(dist[i], kind="stable")
        ranked_ids, ranked_cams = g_pids[order], g_cams[order]
        keep = np.array([SYSU_LOCATIONS[c] != SYSU_LOCATIONS[q_cams[i]] for c in ranked_cams], dtype=bool)
        ranked_ids = ranked_ids[keep]
        unique = []
        for pid in ranked_ids:
            if pid not in unique:
                unique.append(pid)
        match = np.array(unique) == q_pids[i]
        if not match.any():
            continue
        valid += 1
        counter[:len(match)] += match
        hits = np.flatnonzero(ranked_ids == q_pids[i]) + 1
        aps.append(np.mean(np.arange(1, len(hits) + 1) / hits))
        inps.append(len(hits) / hits[-1])
    return np.cumsum(counter) / valid, float(np.mean(aps)), float(np.mean(inps)), valid


def assert_same(m, ref):
    cmc, mAP, mINP, valid = ref
    assert m.num_valid == valid
    np.testing.assert_allclose(m.cmc, cmc, atol=1e-12)
    assert m.mAP == pytest.approx(mAP, abs=1e-12)
    assert m.mINP == pytest.approx(mINP, abs=1e-12)


def test_identity_deduplicated_cmc_and_ap_by_hand():
    g_pids, g_cams = np.array([1, 2, 1, 3]), np.array([1, 1, 4, 5])
    dist = np.array([[0.5, 0.1, 0.3, 0.2]])
    m = evaluate(dist, q_pids=[1], q_cams=[6], g_pids=g_pids, g_cams=g_cams)
    # ranked ids 2, 3, 1, 1 -> identity rank 3; true matches at 3 and 4
    np.testing.assert_allclose(m.cmc, [0, 0, 1])
    assert m.mAP == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert m.mINP == pytest.approx(2 / 4)
    assert m.rank(1) == 0 and m.rank(20) == 1  # the curve is flat past the last identity


def test_multi_shot_deduplication_counts_identities_not_images():
    g_pids, g_cams = np.array([2, 2, 2, 1, 1]), np.array([1, 1, 1, 4, 4])
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    m = evaluate(dist, q_pids=[1], q_cams=[6], g_pids=g_pids, g_cams=g_cams)
    np.testing.assert_allclose(m.cmc, [0, 1])  # image-level rank would be 4
    assert m.mAP == pytest.approx((1 / 4 + 2 / 5) / 2)


def test_cam3_probes_skip_cam2_gallery_and_invalid_probes_are_dropped():
    g_pids, g_cams = np.array([1, 2, 1, 3]), np.array([2, 1, 1, 2])
    dist = np.array([[0.1, 0.2, 0.3, 0.4],   # pid 1 from cam 3: the cam-2 hit is ignored
                     [0.1, 0.2, 0.3, 0.4]])  # pid 3 from cam 3: only a cam-2 image -> invalid
    m = evaluate(dist, q_pids=[1, 3], q_cams=[3, 3], g_pids=g_pids, g_cams=g_cams)
    assert m.num_valid == 1
    np.testing.assert_allclose(m.cmc, [0, 1, 1])
    assert m.mAP == pytest.approx(1 / 2) and m.mINP == pytest.approx(1 / 2)
    # the same probe from cam 6 keeps the cam-2 image
    m6 = evaluate(dist[:1], q_pids=[1], q_cams=[6], g_pids=g_pids, g_cams=g_cams)
    assert m6.rank(1) == 1 and m6.mAP == pytest.approx((1 + 2 / 3) / 2)


def test_ties_keep_gallery_order():
    g_pids, g_cams = np.array([2, 1, 1, 3]), np.array([1, 1, 2, 4])
    m = evaluate(np.zeros((1, 4)), q_pids=[1], q_cams=[6], g_pids=g_pids, g_cams=g_cams)
    np.testing.assert_allclose(m.cmc, [0, 1, 1])
    assert m.mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m.mINP == pytest.approx(2 / 3)


def test_constant_features_are_decided_by_camera_major_gallery_order():
    rng = np.random.default_rng(1)
    g_pids = np.repeat([5, 7, 9], 4)
    g_cams = np.tile([1, 2, 4, 5], 3)
    order = np.lexsort((g_pids, g_cams))  # camera-major, as the protocol lays galleries out
    q_pids, q_cams = rng.choice([5, 7, 9], 12), rng.choice([3, 6], 12)
    m = evaluate_features(np.ones((12, 8)), np.ones((12, 8)), q_pids=q_pids, q_cams=q_cams, g_pids=g_pids[order],
                          g_cams=g_cams[order])
    assert_same(m, reference(np.zeros((12, 12)), q_pids, q_cams, g_pids[order], g_cams[order]))
    assert m.rank(1) == pytest.approx(np.mean(q_pids == 5))  # pid 5 comes first in every camera


@pytest.mark.parametrize("seed", range(12))
def test_matches_reference_on_random_and_tied_data(seed):
    rng = np.random.default_rng(seed)
    nq, ng, nid = rng.integers(5, 60), rng.integers(5, 90), rng.integers(2, 15)
    q_pids, g_pids = rng.integers(0, nid, nq), rng.integers(0, nid, ng)
    q_cams, g_cams = rng.choice([3, 6], nq), rng.choice([1, 2, 4, 5], ng)
    dist = rng.integers(0, 4, (nq, ng)).astype(float) if seed % 2 else rng.random((nq, ng))
    assert_same(evaluate(dist, q_pids=q_pids, q_cams=q_cams, g_pids=g_pids, g_cams=g_cams),
                reference(dist, q_pids, q_cams, g_pids, g_cams))


def test_high_dimensional_features_match_exact_distances():
    """Concentrated distances collide in float32; the result must still be exact."""
    rng = np.random.default_rng(3)
    q = rng.normal(size=(300, 1024)).astype(np.float32)
    g = rng.normal(size=(400, 1024)).astype(np.float32)
    g[1] = g[0]  # a duplicate gallery image: an exact tie for every probe
    q_pids, g_pids = rng.integers(0, 30, 300), rng.integers(0, 30, 400)
    q_cams, g_cams = rng.choice([3, 6], 300), rng.choice([1, 2, 4, 5], 400)
    m = evaluate_features(q, g, q_pids=q_pids, q_cams=q_cams, g_pids=g_pids, g_cams=g_cams)
    assert_same(m, reference(exact_euclidean(q, g), q_pids, q_cams, g_pids, g_cams))


def test_galleries_select_pool_columns():
    rng = np.random.default_rng(4)
    q, pool = rng.normal(size=(50, 16)), rng.normal(size=(80, 16))
    q_pids, p_pids = rng.integers(0, 10, 50), rng.integers(0, 10, 80)
    q_cams, p_cams = rng.choice([3, 6], 50), rng.choice([1, 2, 4, 5], 80)
    gals = [rng.choice(80, 30, replace=False) for _ in range(3)]
    for gal, m in zip(gals, evaluate_galleries(q, pool, q_pids, q_cams, p_pids, p_cams, gals)):
        assert_same(m, reference(distance_matrix(q, pool[gal]), q_pids, q_cams, p_pids[gal], p_cams[gal]))


@pytest.mark.parametrize("metric", ["cosine", "neg_dot"])
def test_other_distances(metric):
    rng = np.random.default_rng(5)
    q, g = rng.normal(size=(40, 8)), rng.normal(size=(60, 8))
    q_pids, g_pids = rng.integers(0, 6, 40), rng.integers(0, 6, 60)
    q_cams, g_cams = rng.choice([3, 6], 40), rng.choice([1, 4, 5], 60)
    m = evaluate_features(q, g, q_pids=q_pids, q_cams=q_cams, g_pids=g_pids, g_cams=g_cams, metric=metric)
    assert_same(m, reference(distance_matrix(q, g, metric), q_pids, q_cams, g_pids, g_cams))


def test_nan_distances_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.array([[np.nan, 1.0]]), q_pids=[1], q_cams=[3], g_pids=[1, 2], g_cams=[1, 1])


def test_labels_in_agw_order_are_refused_with_the_reason():
    """torchreid/AGW pass (distmat, q_pids, g_pids, q_camids, g_camids) positionally."""
    dist = np.random.default_rng(0).random((3, 4))
    with pytest.raises(TypeError, match="keywords only.*q_pids, g_pids, q_camids, g_camids"):
        evaluate(dist, [1, 2, 3], [1, 2, 3, 4], [3, 3, 3], [1, 1, 1, 1])
    with pytest.raises(TypeError, match="keywords only"):
        evaluate_features(np.ones((3, 2)), np.ones((4, 2)), [1, 2, 3], [1, 2, 3, 4], [3, 3, 3], [1, 1, 1, 1])


def test_regdb_shaped_equal_sizes_keep_labels_apart():
    """Equal query and gallery sizes (RegDB): swapped camera and identity arrays used to score silently."""
    rng = np.random.default_rng(6)
    n = 40
    pids = np.repeat(np.arange(10), 4)
    q, g = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
    q_cams, g_cams = np.full(n, 3), np.full(n, 1)  # thermal probes, visible gallery: nothing hidden
    m = evaluate_features(q, g, q_pids=pids, g_pids=pids, q_cams=q_cams, g_cams=g_cams)
    assert m.num_valid == n
    assert_same(m, reference(distance_matrix(q, g), pids, q_cams, pids, g_cams))
    with pytest.raises(TypeError, match="keywords only"):
        evaluate(distance_matrix(q, g), pids, pids, q_cams, g_cams)  # AGW order, same sizes: refused


@pytest.mark.parametrize("bad, message", [
    (dict(q_pids=[1, 2], q_cams=[3, 3, 3], g_pids=[1, 2, 3, 4], g_cams=[1, 1, 1, 1]), "query labels differ"),
    (dict(q_pids=[1, 2, 3], q_cams=[3, 3, 3], g_pids=[1, 2, 3], g_cams=[1, 1, 1, 1]), "gallery labels differ"),
    (dict(q_pids=[1, 2, 3, 4], q_cams=[3, 3, 3, 3], g_pids=[1, 2, 3, 4], g_cams=[1, 1, 1, 1]),
     r"distance matrix is \(3, 4\), expected query x gallery = \(4, 4\)"),
])
def test_label_lengths_are_checked(bad, message):
    with pytest.raises(ValueError, match=message):
        evaluate(np.zeros((3, 4)), **bad)


def test_feature_shapes_are_checked():
    labels = dict(q_pids=[1, 2, 3], q_cams=[3, 3, 3], g_pids=[1, 2, 3, 4], g_cams=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="same D"):
        evaluate_features(np.ones((3, 2)), np.ones((4, 5)), **labels)
    with pytest.raises(ValueError, match="5 gallery feature rows, but labels for 3 and 4"):
        evaluate_features(np.ones((3, 2)), np.ones((5, 2)), **labels)


@pytest.mark.parametrize("dim", [4, 1024])  # 1024: float32 ties, so every refinement stage runs
def test_blocked_distances_give_the_same_metrics(dim, monkeypatch):
    """Above BLOCK_BYTES distances are built a block of probes at a time and never kept in float64."""
    import reidbench.evaluation as ev

    rng = np.random.default_rng(8)
    q = rng.integers(0, 3, size=(300, dim)).astype(np.float32)  # many exact and near ties
    pool = rng.integers(0, 3, size=(500, dim)).astype(np.float32)
    q_pids, p_pids = rng.integers(0, 20, 300), rng.integers(0, 20, 500)
    q_cams, p_cams = rng.choice([3, 6], 300), rng.choice([1, 2, 4, 5], 500)
    gals = [rng.choice(500, 300, replace=False) for _ in range(2)]
    whole = evaluate_galleries(q, pool, q_pids, q_cams, p_pids, p_cams, gals)
    monkeypatch.setattr(ev, "BLOCK_BYTES", 0)
    monkeypatch.setattr(ev, "BLOCK_ROWS", 64)
    blocked = evaluate_galleries(q, pool, q_pids, q_cams, p_pids, p_cams, gals)
    for a, b in zip(whole, blocked):
        np.testing.assert_array_equal(a.cmc, b.cmc)
        assert (a.mAP, a.mINP, a.num_valid) == (b.mAP, b.mINP, b.num_valid)
    assert_same(blocked[0], reference(exact_euclidean(q, pool[gals[0]]), q_pids, q_cams, p_pids[gals[0]],
                                      p_cams[gals[0]]))


def test_squared_euclidean_in_place_equals_the_plain_expression():
    rng = np.random.default_rng(9)
    q, g = rng.normal(size=(700, 64)), rng.normal(size=(90, 64))
    plain = np.maximum((q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * (q @ g.T), 0.0)
    np.testing.assert_array_equal(squared_euclidean(q, g), plain)
