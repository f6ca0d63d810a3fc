"""Paired per-trial statistics, checked against a hand-computed t-interval."""
from __future__ import annotations

import math

import pytest

from reidbench.errors import ReidbenchError
from reidbench.selection import select_rows
from reidbench.stats import PairedDiff, baseline_columns, paired_difference

# Student's t, 0.975 quantile, 4 degrees of freedom (printed tables: 2.776).
T_975_4 = 2.7764451051977934


def test_paired_difference_hand_computed():
    b = [10.0, 20.0, 30.0, 40.0, 50.0]
    a = [x + d for x, d in zip(b, [1, 2, 3, 4, 5])]
    # d = 1..5: mean 3, sd = sqrt(2.5), sd / sqrt(5) = sqrt(0.5), half-width = t * sqrt(0.5).
    half = T_975_4 * math.sqrt(0.5)
    got = paired_difference(a, b)
    assert got.n == 5 and got.supported
    assert got.mean == pytest.approx(3.0, abs=1e-12)
    assert got.lo == pytest.approx(3.0 - half, abs=1e-9) and got.lo == pytest.approx(1.0367568385224428, abs=1e-9)
    assert got.hi == pytest.approx(3.0 + half, abs=1e-9) and got.hi == pytest.approx(4.963243161477557, abs=1e-9)
    assert str(got) == "+3.00 [+1.04, +4.96]"
    flipped = paired_difference(b, a)
    assert flipped.mean == pytest.approx(-3.0) and flipped.supported and flipped.hi == pytest.approx(-got.lo)


def test_interval_containing_zero_is_not_supported():
    got = paired_difference([1.0, -1.0, 2.0, -2.0, 0.5], [0.0] * 5)
    assert got.lo < 0 < got.hi and not got.supported
    assert str(got).endswith("(n.s.)")
    # a wider confidence can only widen the interval
    wide = paired_difference([1, 2, 3, 4, 5], [0] * 5, confidence=0.999)
    assert wide.lo < paired_difference([1, 2, 3, 4, 5], [0] * 5).lo


def test_degenerate_inputs():
    one = paired_difference([3.0], [1.0])
    assert one.mean == 2.0 and math.isnan(one.lo) and not one.supported and "no CI" in str(one)
    same = paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # constant difference: zero-width interval
    assert (same.lo, same.hi, same.supported) == (1.0, 1.0, True)
    with pytest.raises(ReidbenchError, match="equal-length"):
        paired_difference([1, 2], [1, 2, 3])
    with pytest.raises(ReidbenchError, match="confidence"):
        paired_difference([1, 2], [1, 2], confidence=1.5)


def _result(name: str, label: str, r1: list[float], mAP: list[float], created: str = "2026-01-01",
            gallery: int = 25) -> dict:
    trials = [{"r1": a, "r5": a, "r10": a, "r20": a, "mAP": m, "mINP": m} for a, m in zip(r1, mAP)]
    mean = {k: sum(t[k] for t in trials) / len(trials) for k in trials[0]}
    setting = {"mean": mean, "std": {k: 0.0 for k in mean}, "trials": trials, "gallery_size": [gallery] * len(trials),
               "gallery_source": "seeded_rand_perm", "gallery_note": "", "num_valid_probes": 10}
    return {"method": {"name": name, "label": label, "changed": {}, "config": {}}, "seed": 0,
            "protocol": {"name": "sysu", "label": "SYSU", "trials": len(r1)},
            "dataset": {"name": "d", "fingerprint": "f"}, "created": created,
            "settings": {"all-single": setting, "indoor-single": setting}}


def test_baseline_columns_rows_and_cells():
    base = _result("hog_euclidean", "HOG+Euclidean", [10, 20, 30, 40, 50], [5, 5, 5, 5, 5])
    better = _result("plugin_b", "B", [11, 22, 33, 44, 55], [6, 4, 7, 3, 5])
    rows = select_rows([better, base], "sysu")
    frame = baseline_columns(rows, "hog_euclidean")
    assert list(frame.index) == [row.label for row in rows] == ["HOG+Euclidean", "B"]
    assert frame.loc["HOG+Euclidean"].eq("baseline").all()
    r1 = ("All-search Single-shot", "Δr1 vs HOG+Euclidean")
    mAP = ("All-search Single-shot", "ΔmAP vs HOG+Euclidean")
    assert frame.loc["B", r1] == str(paired_difference([1, 2, 3, 4, 5], [0] * 5)) == "+3.00 [+1.04, +4.96]"
    assert frame.loc["B", mAP].endswith("(n.s.)")
    assert frame.loc["B", ("All-search Multi-shot", "Δr1 vs HOG+Euclidean")] == "–"  # no such setting
    assert isinstance(paired_difference([1, 2], [0, 0]), PairedDiff)


def test_baseline_errors():
    base = _result("hog_euclidean", "HOG+Euclidean", [1, 2], [1, 2])
    with pytest.raises(ReidbenchError, match="--baseline lomo_cca: no result for 'lomo_cca'"):
        baseline_columns(select_rows([base], "sysu"), "lomo_cca")
    other = _result("plugin_b", "B", [1, 2], [1, 2], gallery=30)
    with pytest.raises(ReidbenchError, match="same all-single galleries"):
        baseline_columns(select_rows([base, other], "sysu"), "hog_euclidean")
