"""CMC curves of several methods in one setting: mean over the trials, min-max band.

The band is the per-rank minimum and maximum over the trials' curves (the spread
of the 10 official galleries, not a confidence interval). A curve shorter than
the requested rank (fewer gallery identities than ranks) stays flat at its end,
as :meth:`reidbench.evaluation.Metrics.rank` reads it.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from reidbench.errors import ReidbenchError
from reidbench.figures.canvas import new_figure
from reidbench.protocols import setting_group
from reidbench.selection import Row


@dataclass(frozen=True)
class CmcCurve:
    """What one method contributes to a CMC plot (percent, ranks 1..max_rank)."""

    label: str
    ranks: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None  # None: the result file has no per-trial curves
    high: np.ndarray | None
    trials: int


def extend_flat(curve: list[float] | np.ndarray, max_rank: int) -> np.ndarray:
    """The curve at ranks 1..max_rank, its last value repeated past its end."""
    values = np.asarray(curve, dtype=np.float64)
    if len(values) >= max_rank:
        return values[:max_rank]
    return np.concatenate([values, np.full(max_rank - len(values), values[-1])])


def cmc_curve(row: Row, setting: str, max_rank: int) -> CmcCurve:
    """The row's mean curve (over seeds, each a mean over trials) and the min-max band over all trials."""
    entries = [r["settings"].get(setting) for r in row.results]
    if any(e is None for e in entries):
        raise ReidbenchError(f"result of '{row.label}' has no setting '{setting}'")
    per_trial = [c for e in entries for c in e.get("cmc_trials") or []]
    low = high = None
    if per_trial:
        stack = np.stack([extend_flat(c, max_rank) for c in per_trial])
        low, high = stack.min(0), stack.max(0)
    mean = np.mean([extend_flat(e["cmc_mean"], max_rank) for e in entries], axis=0)
    return CmcCurve(row.label, np.arange(1, max_rank + 1), mean, low, high, len(entries[0]["trials"]))


LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_cmc(curves: list[CmcCurve], setting: str, context: str, note: str = "") -> Figure:
    """One line per method with its band; the legend, outside the axes, gives rank-1 and what the band is.

    Colour, line style and marker all vary, so many methods stay apart in print and in
    grey; ``context`` (protocol, dataset, gallery source) and ``note`` go under the title.
    """
    fig = new_figure(9.0, 4.8)
    ax = fig.add_subplot()
    for i, c in enumerate(curves):
        colour = f"C{i % 10}"
        ax.plot(c.ranks, c.mean, color=colour, ls=LINE_STYLES[i % len(LINE_STYLES)],
                marker=MARKERS[i % len(MARKERS)], markersize=3.5, lw=1.5, label=f"{c.label} (r1 {c.mean[0]:.2f}%)")
        if c.low is not None:
            ax.fill_between(c.ranks, c.low, c.high, color=colour, alpha=0.12, lw=0)
    trials = sorted({c.trials for c in curves})
    banded = [c for c in curves if c.low is not None]
    handles, labels = ax.get_legend_handles_labels()
    if banded:
        handles.append(Patch(color="0.6", alpha=0.4))
        labels.append(f"shaded: min–max over {'/'.join(map(str, trials))} trials")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_xlim(1, len(curves[0].ranks))
    ax.set_ylim(0, 100)
    ax.set_xticks(_rank_ticks(len(curves[0].ranks)))
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.grid(alpha=0.3)
    # A figure title, centred on the figure (the axes are narrowed by the legend), wrapped to fit it.
    fig.suptitle(f"CMC, {setting_group(setting)} (mean of {'/'.join(map(str, trials))} trials)"
                 + (f"; {note}" if note else "") + "\n" + textwrap.fill(context, 110), fontsize=8)
    return fig


def _rank_ticks(max_rank: int) -> list[int]:
    step = max(1, int(np.ceil(max_rank / 10)))
    return sorted({1, *range(step, max_rank + 1, step)})
