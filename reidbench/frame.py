"""Results as a tidy pandas DataFrame, and the Table-1 view computed from it.

``load_results`` gives one row per method x config x seed x setting x trial x metric,
numeric values in percent, with the dataset, protocol, gallery source and config as
columns; which results form one table row, its label and whether the default view
shows it come from :mod:`reidbench.selection` (the one owner of that rule). ``table``
aggregates such a frame: per row and setting, the mean over seeds of each seed's mean
over trials, and with ``std`` the spread over seeds and the mean spread over trials.
The CLI's ``table`` and ``report`` print exactly these numbers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from reidbench.errors import ReidbenchError
from reidbench.protocols import setting_keys
from reidbench.selection import Row, select_rows
from reidbench.store import Result, read_result
from reidbench.store import load_results as read_results

COLUMNS = ("dataset", "fingerprint", "synthetic", "protocol", "method", "label", "row", "variant", "shown",
           "origin", "config", "result_id", "seed", "setting", "gallery_source", "trial", "metric", "value", "path")
TABLE_METRICS = ("r1", "r10", "r20", "mAP")


def load_results(source: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """A tidy frame of the result files in a folder, of one file, or of a list of files."""
    paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    results: list[Result] = []
    for path in paths:
        if path.is_dir():
            results += read_results(path)
        elif path.is_file():
            results.append({**read_result(path), "_path": str(path)})
        else:
            raise ReidbenchError(f"no result file or folder at {path}")
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r["dataset"]["fingerprint"], r["protocol"]["name"]), []).append(r)
    rows = [row for (_, protocol), group in groups.items() for row in select_rows(group, protocol, variants="all")]
    return tidy(rows)


def tidy(rows: Sequence[Row]) -> pd.DataFrame:
    """The long form of selected rows (their order is kept)."""
    records = []
    for row in rows:
        for r in row.results:
            base = {"dataset": r["dataset"]["name"], "fingerprint": r["dataset"]["fingerprint"],
                    "synthetic": bool(r["dataset"].get("synthetic")), "protocol": r["protocol"]["name"],
                    "method": r["method"]["name"], "label": r["method"]["label"], "row": row.label,
                    "variant": row.variant, "shown": row.shown, "origin": r["method"].get("origin", {}).get("kind"),
                    "config": json.dumps(r["method"].get("resolved", r["method"]["config"]), sort_keys=True,
                                         default=str),
                    "result_id": r.get("id"), "seed": r["seed"], "path": r.get("_path")}
            for setting, summary in r["settings"].items():
                for t, trial in enumerate(summary["trials"], 1):  # trials are numbered from 1, as captions say
                    records += [{**base, "setting": setting, "gallery_source": summary["gallery_source"],
                                 "trial": t, "metric": metric, "value": float(value)}
                                for metric, value in trial.items()]
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def table(df: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS, std: bool = False,
          variants: str = "all") -> pd.DataFrame:
    """The Table-1 view: one row per table row, columns (setting, metric) or (setting, metric, stat).

    ``variants="all"`` (as ``reidbench table``) keeps every config run; ``"default"`` only the rows
    the ``shown`` column marks (each method's default or tuned config).

    ``stat`` (with ``std``) is ``mean``, ``std_seeds`` (NaN for one seed) and ``std_trials``.
    """
    if variants not in ("default", "all"):
        raise ReidbenchError(f"unknown variants '{variants}' (known: default, all)")
    frame = df[df["shown"]] if variants == "default" else df
    if frame[["fingerprint", "protocol"]].drop_duplicates().shape[0] > 1:
        raise ReidbenchError("the frame holds several datasets or protocols; select one before tabulating")
    frame = frame[frame["metric"].isin(metrics)]
    per_seed = frame.groupby(["row", "setting", "metric", "seed"], sort=False)["value"].agg(["mean", "std"])
    by_row = per_seed.groupby(level=["row", "setting", "metric"], sort=False)
    stats = pd.DataFrame({"mean": by_row["mean"].mean(), "std_seeds": by_row["mean"].std(ddof=1),
                          "std_trials": by_row["std"].mean().fillna(0.0)})
    wide = stats.unstack(["setting", "metric"]) if len(stats) else stats
    order = list(dict.fromkeys(frame["row"]))
    present = list(dict.fromkeys(frame["setting"]))
    known = [k for k in setting_keys() if k in present]
    settings = known + [k for k in present if k not in known]
    stat_names = ("mean", "std_seeds", "std_trials") if std else ("mean",)
    columns = [(stat, s, m) for s in settings for m in metrics for stat in stat_names]
    out = wide.reindex(index=order, columns=pd.MultiIndex.from_tuples(columns))
    out = out.reorder_levels([1, 2, 0], axis=1) if std else out.droplevel(0, axis=1)
    out.index.name = "row"
    return out
