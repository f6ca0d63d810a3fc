"""Paired comparisons of methods over the same protocol trials.

Every method of a table is scored on the same 10 galleries, so two methods'
per-trial metrics are paired: trial-to-trial gallery difficulty cancels in their
difference. The interval is Student's t over the n paired differences
(mean +- t_{1-a/2, n-1} * sd / sqrt(n)); a difference is "supported" when the
interval excludes 0. The trials share one trained model, so over trials this measures the
spread over galleries, not over training runs; rows run with the same two or more seeds
(``run --seeds``) are paired by seed instead, each seed's mean over its paired trials,
which measures the spread over training runs too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from reidbench.errors import ReidbenchError
from reidbench.report import table_settings
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
        base = default_row(rows, baseline)
    except ReidbenchError as exc:
        raise ReidbenchError(f"--baseline {baseline}: {exc}") from None
    settings = table_settings(rows)
    columns = pd.MultiIndex.from_tuples([(s.group, f"Δ{m} vs {base.label}") for s in settings for m in metrics])
    cells = [[_cell(row, base, s.key, m, confidence) for s in settings for m in metrics] for row in rows]
    return pd.DataFrame(cells, index=[row.label for row in rows], columns=columns)


def paired_rows(row: Row, base: Row, key: str, metric: str) -> tuple[list[float], list[float], str] | None:
    """The paired values of two rows in one setting, and over what they are paired.

    With two or more seeds in common, each seed's mean over its (paired) trials: the
    interval then covers training-seed variation. Otherwise the trials of the first
    common seed (or of each row's only seed): the spread over galleries alone.
    """
    by_seed_a = {r["seed"]: r["settings"].get(key) for r in row.results}
    by_seed_b = {r["seed"]: r["settings"].get(key) for r in base.results}
    common = sorted(s for s in by_seed_a if s in by_seed_b and by_seed_a[s] and by_seed_b[s])
    pairs = [(by_seed_a[s], by_seed_b[s]) for s in common] or \
        [(a, b) for a, b in [(row.results[0]["settings"].get(key), base.results[0]["settings"].get(key))] if a and b]
    if not pairs:
        return None
    for a, b in pairs:
        if a["gallery_size"] != b["gallery_size"] or len(a["trials"]) != len(b["trials"]):
            raise ReidbenchError(f"'{row.label}' and the baseline were not scored on the same "
                                 f"{key} galleries; re-run both with the same dataset, protocol and --trials")
    if len(pairs) >= 2:
        return ([a["mean"][metric] for a, _ in pairs], [b["mean"][metric] for _, b in pairs], f"{len(pairs)} seeds")
    a, b = pairs[0]
    return [t[metric] for t in a["trials"]], [t[metric] for t in b["trials"]], f"{len(a['trials'])} trials"


def _cell(row: Row, base: Row, key: str, metric: str, confidence: float) -> str:
    if row is base:
        return "baseline"
    paired = paired_rows(row, base, key, metric)
    if paired is None:
        return "–"
    a, b, over = paired
    diff = str(paired_difference(a, b, confidence))
    return diff if over.endswith("trials") else f"{diff} ({over})"
