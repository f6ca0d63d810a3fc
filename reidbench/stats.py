"""Paired comparisons of methods over the same protocol trials.

Every method of a table is scored on the same 10 galleries, so two methods'
per-trial metrics are paired: trial-to-trial gallery difficulty cancels in their
difference. The interval is Student's t over the n paired differences
(mean +- t_{1-a/2, n-1} * sd / sqrt(n)); a difference is "supported" when the
interval excludes 0. The trials share one trained model, so this measures the
spread over galleries, not over training runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from reidbench.errors import ReidbenchError
from reidbench.report import SETTINGS
from reidbench.selection import Row, default_row

NOT_SUPPORTED = "(n.s.)"


@dataclass(frozen=True)
class PairedDiff:
    """Mean of a - b over paired trials with its confidence interval (NaN bounds when n < 2)."""

    mean: float
    lo: float
    hi: float
    supported: bool
    n: int

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:+.2f} (1 trial, no CI)"
        text = f"{self.mean:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}]"
        return text if self.supported else f"{text} {NOT_SUPPORTED}"


def paired_difference(trials_a: Sequence[float], trials_b: Sequence[float], confidence: float = 0.95) -> PairedDiff:
    """t-interval of the mean paired difference a - b."""
    a, b = np.asarray(trials_a, np.float64), np.asarray(trials_b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ReidbenchError(f"paired trials must be two equal-length lists, got {len(a)} and {len(b)} values")
    if not 0 < confidence < 1:
        raise ReidbenchError(f"confidence must be between 0 and 1, got {confidence}")
    d = a - b
    n, mean = len(d), float(d.mean())
    if n < 2:
        return PairedDiff(mean, math.nan, math.nan, False, n)
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    lo, hi = mean - half, mean + half
    return PairedDiff(mean, lo, hi, bool(lo > 0 or hi < 0), n)


def baseline_columns(rows: list[Row], baseline: str, metrics: Sequence[str] = ("r1", "mAP"),
                     confidence: float = 0.95) -> pd.DataFrame:
    """Per row and setting, ``metric(row) - metric(baseline)`` with its CI, as strings.

    Indexed by row label (for :func:`reidbench.report.build_table`'s ``extra``);
    the baseline is ``baseline``'s default row; unsupported differences end in "(n.s.)".
    """
    try:
        base = default_row(rows, baseline).result
    except ReidbenchError as exc:
        raise ReidbenchError(f"--baseline {baseline}: {exc}") from None
    columns = pd.MultiIndex.from_tuples([(f"{mode} {shots}", f"Δ{m} vs {base['method']['label']}")
                                         for _, mode, shots in SETTINGS for m in metrics])
    cells = [[_cell(row.result, base, key, m, confidence) for key, _, _ in SETTINGS for m in metrics]
             for row in rows]
    return pd.DataFrame(cells, index=[row.label for row in rows], columns=columns)


def _cell(result: dict[str, Any], base: dict[str, Any], key: str, metric: str, confidence: float) -> str:
    if result is base:
        return "baseline"
    a, b = result["settings"].get(key), base["settings"].get(key)
    if a is None or b is None:
        return "–"
    if a["gallery_size"] != b["gallery_size"] or len(a["trials"]) != len(b["trials"]):
        raise ReidbenchError(f"'{result['method']['name']}' and the baseline were not scored on the same "
                             f"{key} galleries; re-run both with the same dataset, protocol and --trials")
    diff = paired_difference([t[metric] for t in a["trials"]], [t[metric] for t in b["trials"]], confidence)
    return str(diff)
