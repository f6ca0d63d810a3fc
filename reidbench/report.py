"""Table-1-style reports from result files (pandas), beside the paper's numbers.

Rows follow the paper's order and labels (methods it lacks come after); columns
are All-search / Indoor-search x Single-shot / Multi-shot x r1 / r10 / r20 / mAP.
"""
from __future__ import annotations

import html
from importlib import resources
from typing import Any

import pandas as pd

from reidbench.errors import ReidbenchError

SETTINGS = (("all-single", "All-search", "Single-shot"), ("all-multi", "All-search", "Multi-shot"),
            ("indoor-single", "Indoor-search", "Single-shot"), ("indoor-multi", "Indoor-search", "Multi-shot"))
METRICS = ("r1", "r10", "r20", "mAP")
FORMATS = ("markdown", "latex", "csv", "html")


def paper_table() -> pd.DataFrame:
    """Dai et al. 2018, Table 1, indexed by reidbench method name."""
    with resources.files("reidbench.published").joinpath("paper_table1.csv").open() as fh:
        return pd.read_csv(fh, comment="#").set_index("method")


def build_table(results: list[dict[str, Any]], protocol: str = "sysu", with_paper: bool = False,
                std: bool = False, minp: bool = False) -> pd.DataFrame:
    """One row per method (and one per paper row with ``with_paper``), string cells."""
    results = [r for r in results if r["protocol"]["name"] == protocol]
    if not results:
        raise ReidbenchError(f"no results for protocol '{protocol}' to tabulate")
    datasets = {r["dataset"]["fingerprint"] for r in results}
    if len(datasets) > 1:
        raise ReidbenchError("the results folder mixes datasets; tabulate one dataset per folder")
    paper = paper_table()
    metrics = METRICS + (("mINP",) if minp else ())
    order = {name: i for i, name in enumerate(paper.index)}
    latest = {}
    for r in sorted(results, key=lambda r: r.get("created", "")):
        latest[r["method"]["name"]] = r
    names = sorted(latest, key=lambda n: (order.get(n, len(order)), n))
    rows, index = [], []
    for name in names:
        r = latest[name]
        rows.append({(key, m): _cell(r["settings"].get(key), m, std) for key, _, _ in SETTINGS for m in metrics})
        index.append(r["method"]["label"])
        if with_paper and name in paper.index:
            rows.append({(key, m): _paper_cell(paper.loc[name], key, m) for key, _, _ in SETTINGS for m in metrics})
            index.append(f"{r['method']['label']} (paper)")
    columns = pd.MultiIndex.from_tuples([(f"{a} {s}", m) for key, a, s in SETTINGS for m in metrics])
    frame = pd.DataFrame([[row[(key, m)] for key, _, _ in SETTINGS for m in metrics] for row in rows],
                         index=pd.Index(index, name="Method"), columns=columns)
    return frame


def _cell(setting: dict | None, metric: str, std: bool) -> str:
    if setting is None:
        return "–"
    mean = setting["mean"][metric]
    return f"{mean:.2f} ± {setting['std'][metric]:.2f}" if std else f"{mean:.2f}"


def _paper_cell(row: pd.Series, key: str, metric: str) -> str:
    col = f"{key}.{metric}"
    return f"{row[col]:.2f}" if col in row.index and pd.notna(row[col]) else "–"


def render(frame: pd.DataFrame, fmt: str, caption: str = "") -> str:
    if fmt not in FORMATS:
        raise ReidbenchError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    return {"markdown": _markdown, "latex": _latex, "csv": _csv, "html": _html}[fmt](frame, caption)


def _markdown(frame: pd.DataFrame, caption: str) -> str:
    head = ["Method"] + [f"{a} {m}" for a, m in frame.columns]
    lines = [f"**{caption}**", ""] if caption else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in frame.iterrows():
        lines.append("| " + " | ".join([str(label), *row.tolist()]) + " |")
    return "\n".join(lines)


def _latex(frame: pd.DataFrame, caption: str) -> str:
    groups = list(dict.fromkeys(a for a, _ in frame.columns))
    per = len(frame.columns) // len(groups)
    esc = lambda s: str(s).replace("±", r"$\pm$").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")  # noqa: E731
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "r" * len(frame.columns) + "}", r"\toprule",
             "Method & " + " & ".join(rf"\multicolumn{{{per}}}{{c}}{{{g}}}" for g in groups) + r" \\",
             " & " + " & ".join(esc(m) for _, m in frame.columns) + r" \\", r"\midrule"]
    for label, row in frame.iterrows():
        lines.append(" & ".join([esc(label), *map(esc, row.tolist())]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{esc(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def _csv(frame: pd.DataFrame, caption: str) -> str:
    flat = frame.copy()
    flat.columns = [f"{a} {m}" for a, m in frame.columns]
    return flat.to_csv()


def _html(frame: pd.DataFrame, caption: str) -> str:
    table = frame.to_html(escape=True, border=0)
    return (f"<figure><figcaption>{html.escape(caption)}</figcaption>{table}</figure>" if caption else table)


def caption_for(results: list[dict[str, Any]], protocol: str) -> str:
    r = next(r for r in results if r["protocol"]["name"] == protocol)
    sources = sorted({s["gallery_source"] for res in results for s in res["settings"].values()})
    return (f"{r['protocol']['label']} on {r['dataset']['name']} "
            f"(galleries: {', '.join(sources)}; {r['protocol']['trials']} trials; %)")
