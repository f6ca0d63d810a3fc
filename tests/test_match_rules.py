"""The matching rules of RegDB and LLCM: image-level vs identity CMC, and what a probe never meets.

Hand-computed cases first, then agreement with a literal per-probe implementation of each
protocol's metric (AGW's ``eval_regdb``, LLCM's ``eval_llcm``, SYSU's rule) on random
rankings full of ties.
"""
from __future__ import annotations

import numpy as np
import pytest

from reidbench.evaluation import EXCLUDE_KINDS, MatchRule, evaluate, evaluate_galleries

REGDB = MatchRule({1: 1, 2: 2}, "place", "image")
REGDB_DEDUP = MatchRule({1: 1, 2: 2}, "place", "identity")
LLCM = MatchRule({c: c for c in range(1, 10)}, "identity_at_place", "identity")


def literal(dist, q_pids, q_cams, g_pids, g_cams, rule: MatchRule):
    """One probe at a time, as the reference scripts walk a stable sort."""
    place = lambda c: rule.locations.get(int(c), int(c))  # noqa: E731
    g_pids = np.asarray(g_pids)
    n_ranks = len(set(g_pids.tolist())) if rule.cmc == "identity" else len(g_pids)
    curves, aps, inps = [], [], []
    for i, (q_pid, q_cam) in enumerate(zip(q_pids, q_cams)):
        kept = [j for j in np.argsort(dist[i], kind="stable")
                if not (place(g_cams[j]) == place(q_cam) and (rule.exclude == "place" or g_pids[j] == q_pid))]
        ranked = g_pids[kept]
        hits = np.flatnonzero(ranked == q_pid) + 1
        if len(hits) == 0:
            continue
        if rule.cmc == "identity":
            seen = list(dict.fromkeys(ranked.tolist()))
            first = seen.index(q_pid)
        else:
            first = hits[0] - 1
        curve = np.zeros(n_ranks)
        curve[first:] = 1
        curves.append(curve)
        aps.append(np.mean(np.arange(1, len(hits) + 1) / hits))
        inps.append(len(hits) / hits[-1])
    return np.mean(curves, 0), float(np.mean(aps)), float(np.mean(inps)), len(curves)


def test_image_level_and_identity_cmc_differ_by_hand():
    # Ranked gallery: 2, 2, 1 -> the true match is the 3rd image but the 2nd identity.
    dist = np.array([[0.1, 0.2, 0.3]])
    labels = dict(q_pids=[1], q_cams=[1], g_pids=[2, 2, 1], g_cams=[2, 2, 2])
    image, ident = evaluate(dist, **labels, rule=REGDB), evaluate(dist, **labels, rule=REGDB_DEDUP)
    assert image.cmc.tolist() == [0, 0, 1]
    assert ident.cmc.tolist() == [0, 1]
    assert image.mAP == ident.mAP == pytest.approx(1 / 3)
    assert image.mINP == pytest.approx(1 / 3)


def test_regdb_both_directions_by_hand():
    # Two identities, one visible (cam 1) and one thermal (cam 2) image each.
    vis_to_thermal = np.array([[0.5, 0.2],   # visible of id 1: thermal id 2 first
                               [0.4, 0.1]])  # visible of id 2: its own first
    m = evaluate(vis_to_thermal, q_pids=[1, 2], q_cams=[1, 1], g_pids=[1, 2], g_cams=[2, 2], rule=REGDB)
    assert m.cmc.tolist() == [0.5, 1.0] and m.mAP == pytest.approx(0.75)
    # Thermal->visible ranks the transposed distances: thermal 1 sees visible 2 (0.4) before its own (0.5).
    m = evaluate(vis_to_thermal.T, q_pids=[1, 2], q_cams=[2, 2], g_pids=[1, 2], g_cams=[1, 1], rule=REGDB)
    assert m.cmc.tolist() == [0.5, 1.0] and m.mAP == pytest.approx(0.75)


def test_llcm_hides_only_the_probe_identity_at_its_camera():
    # Probe: id 1 at camera 3. Gallery: (1, cam 3) d .1, (2, cam 3) d .2, (1, cam 5) d .3.
    dist = np.array([[0.1, 0.2, 0.3]])
    labels = dict(q_pids=[1], q_cams=[3], g_pids=[1, 2, 1], g_cams=[3, 3, 5])
    llcm = evaluate(dist, **labels, rule=LLCM)
    assert llcm.cmc.tolist() == [0, 1] and llcm.mAP == pytest.approx(0.5)  # id 2 at camera 3 stays
    sysu_like = evaluate(dist, **labels, rule=MatchRule(LLCM.locations, "place", "identity"))
    assert sysu_like.cmc.tolist() == [1, 1] and sysu_like.mAP == pytest.approx(1.0)  # all of camera 3 goes
    only_same = evaluate(dist[:, :2], q_pids=[1], q_cams=[3], g_pids=[1, 2], g_cams=[3, 3], rule=LLCM)
    assert only_same.num_valid == 0  # its only match was hidden: an invalid probe


@pytest.mark.parametrize("exclude", EXCLUDE_KINDS)
@pytest.mark.parametrize("cmc", ["identity", "image"])
@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_the_literal_walk_on_ties(exclude, cmc, seed):
    rng = np.random.default_rng(seed)
    n_q, n_g = 40, 60
    dist = rng.integers(0, 6, size=(n_q, n_g)).astype(np.float64)  # many ties
    q_pids, g_pids = rng.integers(0, 8, n_q), rng.integers(0, 8, n_g)
    q_cams, g_cams = rng.integers(1, 5, n_q), rng.integers(1, 5, n_g)
    rule = MatchRule({1: 1, 2: 2, 3: 2, 4: 4}, exclude, cmc)
    m = evaluate(dist, q_pids=q_pids, q_cams=q_cams, g_pids=g_pids, g_cams=g_cams, rule=rule)
    curve, ap, inp, valid = literal(dist, q_pids, q_cams, g_pids, g_cams, rule)
    assert m.num_valid == valid
    np.testing.assert_allclose(m.cmc, curve[:len(m.cmc)])
    assert m.mAP == pytest.approx(ap) and m.mINP == pytest.approx(inp)


@pytest.mark.parametrize("rule", [REGDB, LLCM], ids=["regdb", "llcm"])
def test_feature_path_agrees_with_the_literal_walk(rule):
    rng = np.random.default_rng(7)
    q, pool = rng.normal(size=(30, 6)), rng.normal(size=(50, 6))
    pool[10] = pool[3]  # an exact tie between two gallery images
    q_pids, p_pids = rng.integers(0, 6, 30), rng.integers(0, 6, 50)
    q_cams, p_cams = rng.integers(1, 4, 30), rng.integers(1, 4, 50)
    galleries = [np.sort(rng.choice(50, 35, replace=False)) for _ in range(3)]
    for gal, m in zip(galleries, evaluate_galleries(q, pool, q_pids, q_cams, p_pids, p_cams, galleries,
                                                    "euclidean", rule)):
        dist = np.sqrt(((q[:, None, :] - pool[gal][None]) ** 2).sum(-1))
        curve, ap, inp, valid = literal(dist, q_pids, q_cams, p_pids[gal], p_cams[gal], rule)
        assert m.num_valid == valid
        np.testing.assert_allclose(m.cmc, curve[:len(m.cmc)])
        assert m.mAP == pytest.approx(ap) and m.mINP == pytest.approx(inp)


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="CMC"):
        MatchRule({}, "place", "rank")
    with pytest.raises(ValueError, match="exclusion"):
        MatchRule({}, "camera", "identity")
