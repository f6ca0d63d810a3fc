"""Training-loss curves of a deep run (the paper's Fig. 4 and Fig. 5).

Fig. 4: the generator loss l_gen and the discriminator loss l_dis over training,
with its chance level: ln 2 for the 2-class modality cross-entropy per image, 2 ln 2 as
cmGAN logs it under ``pair_reduction = pair_sum`` (eq. 6 as written, both presets: each
pair's RGB and IR terms summed). Fig. 5: the generator's total loss, with the
adversarial term (l_total = l_gen - gamma * l_dis) and without it (l_gen), on
generator steps only: on a discriminator step l_total is the discriminator's own loss.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reidbench.errors import ReidbenchError
from reidbench.figures.canvas import new_figure
from reidbench.methods.deep.losslog import LOSS_LOG
from reidbench.report import dataset_text
from reidbench.store import read_result

FIG4 = ("l_gen", "l_dis")
PAIR_SUM_CHANCE = 2 * math.log(2)  # l_dis of a guessing discriminator, summed over a pair's two images
FIG5 = ("l_total", "l_gen")

Series = tuple[np.ndarray, np.ndarray]  # steps, values


def find_loss_log(run: Path) -> tuple[Path, str, str]:
    """(log, name for file names, title): the log stored beside a result JSON, or a work folder's."""
    run = Path(run)
    if run.is_dir():
        path, name = run / LOSS_LOG, run.name
        title = name
    elif run.is_file():
        result = read_result(run)
        try:
            name = result["method"]["name"]
            title = f"{result['method']['label']} on {dataset_text(result['dataset'])}"
            stored = result["artifacts"].get("files", {}).get(LOSS_LOG)
        except (KeyError, TypeError, AttributeError):
            raise ReidbenchError(f"{run} is not a reidbench result file") from None
        if stored is None:
            raise ReidbenchError(f"'{result['method']['name']}' stores no loss log: only trained deep methods "
                                 "log losses")
        path = run.with_name(stored)
    else:
        raise ReidbenchError(f"run not found: {run} (give a result JSON or a work folder)")
    if not path.is_file():
        raise ReidbenchError(f"'{name}' has no loss log ({path} not found): only trained deep methods log losses")
    return path, name, title


def discriminator_chance(run: Path) -> tuple[float, str]:
    """(value, label) of l_dis for a guessing discriminator: the per-image cross-entropy ln 2 times
    the pair factor of the run's resolved ``pair_reduction`` (2 for ``pair_sum``, which both presets
    use and which a work folder, recording no config, is taken to have)."""
    run = Path(run)
    reduction = read_result(run)["method"].get("resolved", {}).get("pair_reduction") if run.is_file() else None
    if reduction == "image_mean":
        return math.log(2), "ln 2 (chance)"
    return PAIR_SUM_CHANCE, "2 ln 2 (chance, pair sum)"


def read_loss_log(path: Path) -> pd.DataFrame:
    """The log as a frame; empty cells (values a step does not produce) are NaN."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ReidbenchError(f"unreadable loss log {path}: {exc}") from None
    if "step" not in frame.columns:
        raise ReidbenchError(f"loss log {path} has no 'step' column (it has: {', '.join(frame.columns)})")
    if frame.empty:
        raise ReidbenchError(f"loss log {path} has no rows yet")
    return frame


def require(frame: pd.DataFrame, columns: tuple[str, ...], path: Path, why: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReidbenchError(f"loss log {path} lacks column(s) {', '.join(missing)} needed for {why} "
                             f"(it has: {', '.join(map(str, frame.columns))})")
    empty = [c for c in columns if frame[c].isna().all()]
    if empty:
        raise ReidbenchError(f"loss log {path} has no values in column(s) {', '.join(empty)} needed for {why} "
                             "(a run without a discriminator?)")


def series(frame: pd.DataFrame, column: str, generator_steps_only: bool = False) -> Series:
    """(step, value) of the rows that logged ``column``; optionally without discriminator steps."""
    rows = frame[frame[column].notna()]
    if generator_steps_only and "phase" in rows.columns:
        rows = rows[rows["phase"] != "dis"]
    return rows["step"].to_numpy(np.int64), rows[column].to_numpy(np.float64)


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values (same length as the input)."""
    if window <= 1 or len(values) == 0:
        return values.copy()
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def auto_window(n: int) -> int:
    return max(1, n // 50)


def plot_losses(frame: pd.DataFrame, path: Path, title: str, smooth: int | None = None,
                chance: tuple[float, str] = (PAIR_SUM_CHANCE, "2 ln 2 (chance, pair sum)")
                ) -> tuple[Figure, dict[str, Series]]:
    """Fig. 4 (two panels) and Fig. 5 (one panel); returns the raw plotted series by name.

    ``chance``: where and how to draw l_dis's chance line (:func:`discriminator_chance`).
    """
    require(frame, FIG4, path, "Fig. 4")
    require(frame, FIG5, path, "Fig. 5")
    data = {"l_gen": series(frame, "l_gen"), "l_dis": series(frame, "l_dis"),
            "l_total (generator steps)": series(frame, "l_total", True),
            "l_gen (generator steps)": series(frame, "l_gen", True)}
    window = auto_window(len(frame)) if smooth is None else smooth
    fig = new_figure(13, 3.8)
    ax_gen, ax_dis, ax_tot = fig.subplots(1, 3)
    _draw(ax_gen, *data["l_gen"], "C0", r"$\ell_{gen}$", window)
    _draw(ax_dis, *data["l_dis"], "C3", r"$\ell_{dis}$", window)
    ax_dis.axhline(chance[0], color="0.3", ls="--", lw=1, label=chance[1])
    _draw(ax_tot, *data["l_gen (generator steps)"], "C0", r"without: $\ell_{gen}$", window)
    _draw(ax_tot, *data["l_total (generator steps)"], "C2", r"with discriminator: $\ell_{gen} - \gamma\ell_{dis}$", window)
    ax_gen.set_title("Fig. 4: generator loss", fontsize=10)
    ax_dis.set_title("Fig. 4: discriminator loss", fontsize=10)
    ax_tot.set_title("Fig. 5: total loss with / without discriminator term", fontsize=10)
    for ax in (ax_gen, ax_dis, ax_tot):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_gen.set_ylabel("loss")
    note = f"; faint: per step, bold: mean of {window} steps" if window > 1 else ""
    fig.suptitle(f"{title}{note}", fontsize=10)
    return fig, data


def _draw(ax, steps: np.ndarray, values: np.ndarray, colour: str, label: str, window: int) -> None:
    if window > 1:
        ax.plot(steps, values, color=colour, alpha=0.25, lw=0.8, gid="raw")
        ax.plot(steps, moving_average(values, window), color=colour, lw=1.6, label=label, gid="smoothed")
    else:
        ax.plot(steps, values, color=colour, lw=1.4, label=label, gid="raw")
