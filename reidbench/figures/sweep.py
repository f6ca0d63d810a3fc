"""The sweep figure (the paper's Fig. 3): rank-1 and mAP against the swept value, one panel per setting.

Points come from a test sweep's results (:mod:`reidbench.sweep`), labelled as test-set
sensitivity, or from a validation sweep's tuning record (``sweep --on val``).
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from reidbench.errors import ReidbenchError
from reidbench.figures.canvas import new_figure
from reidbench.protocols import setting_group, setting_keys
from reidbench.report import context_text, dataset_text
from reidbench.store import read_result
from reidbench.protocols.validation import TEST_SENSITIVITY

PLOTTED = ("r1", "mAP")


Points = list[tuple[str, dict[str, dict[str, Any]]]]  # (value, {panel: {"mean": ..., "std": ...}})
VAL_PANEL = "val"


def load_points(out: Path, manifest: dict[str, Any]) -> tuple[Points, str]:
    """Every finished test point (value, its settings) in sweep order, and the figure title."""
    results = []
    for p in manifest["points"]:
        path = Path(out) / p["result"] if p.get("result") else None
        if path is not None and path.exists():
            results.append((p["value"], read_result(path)))
    if not results:
        raise ReidbenchError(f"no finished sweep points under {out}")
    first = results[0][1]
    title = (f"{first['method']['label']}: {TEST_SENSITIVITY} of {manifest['key']}; mean ± std over "
             f"{first['protocol']['trials']} trials\n" + textwrap.fill(context_text([r for _, r in results]), 120))
    return [(v, r["settings"]) for v, r in results], title


def val_points(record: dict[str, Any], key: str) -> tuple[Points, str]:
    """The scored points of a tuning record over one key, and the figure title."""
    points = [(str(p["overrides"][key]), {VAL_PANEL: {"mean": p["scores"], "std": p["std"]}})
              for p in record["points"] if p.get("scores")]
    if not points:
        raise ReidbenchError("no finished validation points")
    title = (f"{record['method']}: {key} on the validation identities (mean ± std over {record['val_trials']} "
             f"galleries), a basis for choosing\n" + textwrap.fill(
                 f"{record['protocol']}; dataset {dataset_text(record['dataset'])}", 120))
    return points, title


def axis_values(values: list[str]) -> tuple[np.ndarray, bool]:
    """Numeric x positions when every value is a number, else 0..n-1 (categorical)."""
    try:
        return np.array([float(v) for v in values]), True
    except ValueError:
        return np.arange(len(values), dtype=np.float64), False


def sweep_series(points: Points, panel: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x positions, mean and std of ``metric`` in ``panel``, sorted by x."""
    x, _ = axis_values([v for v, _ in points])
    mean = np.array([entry[panel]["mean"][metric] for _, entry in points])
    std = np.array([entry[panel]["std"][metric] for _, entry in points])
    order = np.argsort(x, kind="stable")
    return x[order], mean[order], std[order]


def plot_sweep(points: Points, key: str, panels: list[str], title: str) -> Figure:
    """Rank-1 and mAP against the swept value, one panel per setting; bars: ±1 std."""
    values = [v for v, _ in points]
    x, numeric = axis_values(values)
    ncols = min(2, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = new_figure(5.2 * ncols, 3.6 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, panel in zip(axes, panels):
        for i, metric in enumerate(PLOTTED):
            xs, mean, std = sweep_series(points, panel, metric)
            ax.errorbar(xs, mean, yerr=std, marker="o", ms=4, capsize=3, color=f"C{i}", ls="-" if numeric else "none",
                        label="rank-1" if metric == "r1" else metric)
        ax.set_title("validation (single-shot)" if panel == VAL_PANEL else setting_group(panel), fontsize=10)
        ax.set_xlabel(key)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if not numeric:
            ax.set_xticks(x, values)
            ax.set_xlim(-0.5, len(values) - 0.5)
        else:
            ax.set_xticks(np.sort(x), [values[i] for i in np.argsort(x, kind="stable")])
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return fig


def settings_of(points: Points, setting: str | None) -> list[str]:
    """The chosen panel, or every panel all points have, in Table-1 order."""
    have = [s for s in [*setting_keys(), VAL_PANEL] if all(s in entry for _, entry in points)]
    if setting is None:
        return have
    if setting not in have:
        raise ReidbenchError(f"--setting {setting}: not in every sweep point (available: {', '.join(have)})")
    return [setting]
