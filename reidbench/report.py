"""Table-1-style reports from result files (pandas), beside the paper's numbers.

Rows follow the paper's order and labels (methods it lacks come after; which runs
become rows is :mod:`reidbench.selection`'s rule); columns are All-search /
Indoor-search x Single-shot / Multi-shot x r1 / r10 / r20 / mAP. Every rendering
carries a caption naming the protocol, the dataset (and whether it is synthetic)
and where the galleries come from.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from reidbench.errors import ReidbenchError
from reidbench.paper import PAPER_DATASET, PAPER_PROTOCOL, paper_table, published, published_all
from reidbench.protocols import Setting, describe_source, get_protocol
from reidbench.selection import Row

FORMATS = ("markdown", "latex", "csv", "html", "json")

if TYPE_CHECKING:
    import pandas as pd

    from reidbench.store import DatasetRecord, Result


def dataset_text(dataset: DatasetRecord) -> str:
    """The dataset's name, and for a generated replica that it is synthetic."""
    synthetic = dataset.get("synthetic")
    if not synthetic:
        return dataset["name"]
    return (f"{dataset['name']} (SYNTHETIC replica, generator v{synthetic['generator_version']}, "
            f"not {dataset.get('layout_label', 'SYSU-MM01')} images)")


def context_text(results: list[Result]) -> str:
    """Protocol, dataset and gallery source(s) of a set of results: the facts every caption states."""
    first = results[0]
    sources = sorted({s["gallery_source"] for r in results for s in r["settings"].values()})
    trials = sorted({r["protocol"]["trials"] for r in results})
    return (f"{first['protocol']['label']} on {dataset_text(first['dataset'])}; galleries: "
            f"{'; '.join(describe_source(s) for s in sources)}; {'/'.join(map(str, trials))} trials")


def build_table(rows: list[Row], with_paper: bool = False, std: bool = False, minp: bool = False,
                extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per selected row (and one per paper row with ``with_paper``), string cells.

    The numbers are :func:`reidbench.frame.table`'s; ``extra`` (indexed by row label) adds
    columns, e.g. the paired differences of ``--baseline``.
    """
    import pandas as pd

    from reidbench.frame import table, tidy

    paper = paper_table()
    protocol = rows[0].result["protocol"]["name"]
    others = published(protocol)
    metrics = get_protocol(protocol).table_metrics
    metrics += ("mINP",) if minp and "mINP" not in metrics else ()
    numbers = table(tidy(rows), metrics, std=True, variants="all")
    settings = table_settings(rows)
    synthetic = any(row.result["dataset"].get("synthetic") for row in rows)
    n_extra = 0 if extra is None else len(extra.columns)
    dataset = real_dataset(protocol)
    beside = published_beside(protocol)
    cells, index = [], []

    def add_published(method: str, source: pd.DataFrame = others) -> bool:
        mine = source[source["method"] == method]
        if len(mine):
            by_setting = {r.setting: r for r in mine.itertuples()}
            cells.append([_published_cell(by_setting.get(s.key), m) for s in settings for m in metrics]
                         + [""] * n_extra)
            where = mine["lineage"].iloc[0]
            if mine["protocol"].iloc[0] != protocol:
                where += f"; protocol {mine['protocol'].iloc[0]}, not this table's"
            index.append(f"{mine['label'].iloc[0]} (published, {dataset}; {where})")
        return bool(len(mine))

    for row in rows:
        cells.append([_cell(numbers, row.label, s.key, m, std) for s in settings for m in metrics]
                     + ([] if extra is None else list(extra.loc[row.label])))
        index.append(f"{row.label} (synthetic data)" if with_paper and synthetic else row.label)
        if with_paper and row.method in paper.index and row.own_config and protocol == PAPER_PROTOCOL:
            cells.append([_paper_cell(paper.loc[row.method], s.key, m) for s in settings for m in metrics]
                         + [""] * n_extra)
            index.append(f"{paper.loc[row.method, 'label']} (paper, {PAPER_DATASET})")
        elif with_paper and row.own_config:
            add_published(row.method) or add_published(row.method, beside)
    shown = {row.method for row in rows if row.own_config}
    for method in dict.fromkeys(others["method"]) if with_paper else ():
        if method not in shown:
            add_published(method)
    columns = [(s.group, m) for s in settings for m in metrics] + ([] if extra is None else list(extra.columns))
    return pd.DataFrame(cells, index=pd.Index(index, name="Method"), columns=pd.MultiIndex.from_tuples(columns))


def published_beside(protocol: str) -> pd.DataFrame:
    """Published numbers of the *other* protocols of the same real dataset, e.g. AGW's own
    (``sysu-agw``) beside a ``sysu`` table: shown for a method only when it has none under
    ``protocol``, and labelled with the protocol they were measured under."""
    table = published_all()
    layout = get_protocol(protocol).layout
    return table[[p != protocol and get_protocol(p).layout == layout for p in table["protocol"]]]


def real_dataset(protocol: str) -> str:
    """The real dataset a protocol is defined on ("SYSU-MM01", "RegDB", ...)."""
    from reidbench.data.layouts import LAYOUTS

    return LAYOUTS.get(get_protocol(protocol).layout).label


def table_settings(rows: list[Row]) -> tuple[Setting, ...]:
    """The columns of a table: the settings of the rows' protocol, in its order."""
    return get_protocol(rows[0].result["protocol"]["name"]).settings


def caption_for(rows: list[Row], with_paper: bool = False, std: bool = False) -> str:
    caption = context_text([r for row in rows for r in row.results]) + "; %"
    if any(len(row.results) > 1 for row in rows):
        caption += "; a row of several seeds shows the mean over seeds of each seed's mean over trials"
        if std:
            caption += ", ± std over seeds / mean std over trials"
    elif std:
        caption += "; ± std over trials"
    if with_paper:
        protocol = rows[0].result["protocol"]["name"]
        if protocol == PAPER_PROTOCOL:
            caption += f"; '(paper)' rows: Dai et al., IJCAI 2018, Table 1, on the real {PAPER_DATASET}"
        shown = {row.method for row in rows if row.own_config}
        others = published(protocol)
        beside = published_beside(protocol)
        sources = [*others["source"], *beside[beside["method"].isin(shown - set(others["method"]))]["source"]]
        if sources:
            caption += (f"; '(published)' rows: reported by their authors on the real {real_dataset(protocol)} "
                        f"(sources: {'; '.join(dict.fromkeys(sources))})")
    return caption


def _cell(numbers: pd.DataFrame, row: str, setting: str, metric: str, std: bool) -> str:
    """``mean``, ``mean ± std over trials``, or ``mean ± std over seeds / mean std over trials``."""
    import pandas as pd

    if (setting, metric, "mean") not in numbers.columns or pd.isna(numbers.at[row, (setting, metric, "mean")]):
        return "–"
    text = f"{numbers.at[row, (setting, metric, 'mean')]:.2f}"
    if not std:
        return text
    seeds, trials = numbers.at[row, (setting, metric, "std_seeds")], numbers.at[row, (setting, metric, "std_trials")]
    return f"{text} ± {trials:.2f}" if pd.isna(seeds) else f"{text} ± {seeds:.2f} / {trials:.2f}"


def _paper_cell(row: pd.Series, key: str, metric: str) -> str:
    import pandas as pd

    col = f"{key}.{metric}"
    return f"{row[col]:.2f}" if col in row.index and pd.notna(row[col]) else "–"


def _published_cell(row: Any, metric: str) -> str:
    import pandas as pd

    value = None if row is None else getattr(row, metric, None)
    return "–" if value is None or pd.isna(value) else f"{value:.2f}"


def render(frame: pd.DataFrame, fmt: str, caption: str = "") -> str:
    if fmt not in FORMATS:
        raise ReidbenchError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    return {"markdown": _markdown, "latex": _latex, "csv": _csv, "html": _html, "json": _json}[fmt](frame, caption)


def _headed(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with "Method" as the name of the column groups' level, not of the index: LaTeX
    and HTML then put it in the corner of the header, with no extra row for the index name."""
    out = frame.copy()
    out.columns = out.columns.set_names([frame.index.name or "", None])
    out.index.name = None
    return out


def _markdown(frame: pd.DataFrame, caption: str) -> str:
    head = [frame.index.name or ""] + [f"{a} {m}" for a, m in frame.columns]
    lines = [f"**{caption}**", ""] if caption else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in frame.iterrows():
        lines.append("| " + " | ".join([str(label), *map(str, row.tolist())]) + " |")
    return "\n".join(lines)


def _latex(frame: pd.DataFrame, caption: str) -> str:
    """pandas' Styler, escaping every cell and header for LaTeX (booktabs rules)."""
    styler = (_headed(frame).style.format(escape="latex").format_index(escape="latex", axis=0)
              .format_index(escape="latex", axis=1))
    return styler.to_latex(caption=_latex_text(caption) if caption else None, hrules=True, multicol_align="c",
                           position="t", position_float="centering",
                           column_format="l" + "r" * len(frame.columns))


def _latex_text(text: str) -> str:
    """A caption for LaTeX: the Styler escapes cells, not captions (and its escaper is private)."""
    specials = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(specials.get(ch, ch) for ch in text)


def _csv(frame: pd.DataFrame, caption: str) -> str:
    """Plain CSV that ``pd.read_csv`` reads as is (one header line); the caption is not in it."""
    flat = frame.copy()
    flat.columns = [f"{a} {m}" for a, m in frame.columns]
    return flat.to_csv().rstrip("\n")


def _json(frame: pd.DataFrame, caption: str) -> str:
    """The caption and the cells as shown, in pandas' ``split`` layout: a plain number is a
    number, "–" (no value) is null, other cells (± spreads, differences) stay text."""
    import json

    def value(cell: str) -> float | str | None:
        if cell == "–":
            return None
        try:
            return float(cell)
        except ValueError:
            return cell

    return json.dumps({"caption": caption, "columns": [list(c) for c in frame.columns],
                       "index": list(frame.index), "data": [[value(c) for c in row] for row in frame.to_numpy()]},
                      ensure_ascii=False)


def _html(frame: pd.DataFrame, caption: str) -> str:
    table = _headed(frame).to_html(escape=True, border=0)
    return (f"<figure><figcaption>{html.escape(caption)}</figcaption>{table}</figure>" if caption else table)
