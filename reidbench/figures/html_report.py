"""One self-contained HTML page for a results folder: the table and every figure it supports.

Figures are embedded as base64 PNG, so the page can be mailed or archived alone.
A figure that cannot be drawn (e.g. a run whose dataset has moved) becomes a
one-line note on the page instead of failing the whole report.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from reidbench.errors import ReidbenchError
from reidbench.figures import cmc, losses, retrieval
from reidbench.figures.canvas import png_base64, write_bytes_atomic
from reidbench.protocols import setting_group
from reidbench.report import table_settings
from reidbench.report import build_table, caption_for, context_text, render
from reidbench.selection import Row, default_row, select_rows
from reidbench.store import load_results

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 7px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}figure{margin:1.5em 0}img{max-width:100%}
figcaption{font-size:13px;color:#555}.note{color:#a40}"""


@dataclass(frozen=True)
class Section:
    title: str
    body: str


def build_report(results_dir: Path, out_dir: Path, protocol: str | None = None, show: str | None = None,
                 queries: int = 4, top_k: int = 10, seed: int = 0) -> Path:
    """Write ``<out_dir>/index.html`` and return its path."""
    results = load_results(results_dir)
    if not results:
        raise ReidbenchError(f"no result files in {results_dir}; run `reidbench run` first")
    rows = select_rows(results, protocol)
    context = context_text([row.result for row in rows])
    sections = [Section("Table 1", render(build_table(rows), "html", caption_for(rows)))]
    sections.append(Section("CMC curves", "".join(_cmc_figure(rows, s.key, context) for s in table_settings(rows)
                                                  if any(s.key in row.result["settings"] for row in rows))))
    loss_figures = "".join(_loss_figure(row) for row in rows)
    sections.append(Section("Training losses (Fig. 4, Fig. 5)",
                            loss_figures or _note("no run in this folder has a loss log (hand-crafted methods "
                                                  "learn without one)")))
    sections.append(Section("Retrieval examples (Fig. 6)", _retrieval_figure(_pick_show(rows, show),
                                                                             queries, top_k, seed)))
    first = rows[0].result  # named by what it shows; a folder's absolute path says nothing to a reader
    page = _page(f"reidbench report: {first['dataset']['name']}, {first['protocol']['label']}", context, sections)
    return write_bytes_atomic(Path(out_dir) / "index.html", page.encode())


def _cmc_figure(rows: list[Row], setting: str, context: str) -> str:
    have = [row for row in rows if setting in row.result["settings"]]
    fig = cmc.plot_cmc([cmc.cmc_curve(row, setting, 20) for row in have], setting, context)
    return _figure(png_base64(fig), f"CMC, {setting_group(setting)}: mean over trials, "
                                    f"band = min–max over trials. {context}")


def _loss_figure(row: Row) -> str:
    try:
        path, _, title = losses.find_loss_log(Path(row.result["_path"]))
    except ReidbenchError:
        return ""  # no log: nothing to show for this run
    try:
        fig, _ = losses.plot_losses(losses.read_loss_log(path), path, title,
                                    chance=losses.discriminator_chance(Path(row.result["_path"])))
    except ReidbenchError as exc:
        return _note(f"{row.label}: {exc}")
    return _figure(png_base64(fig), f"{row.label}: loss curves ({path.name})")


def _pick_show(rows: list[Row], show: str | None) -> Row:
    """The named method's row, else the best all-search single-shot rank-1 (the paper shows its own method)."""
    if show is not None:
        return default_row(rows, show)
    scored = [row for row in rows if "all-single" in row.result["settings"]]
    return max(scored or rows, key=lambda row: row.result["settings"].get("all-single", {}).get("mean", {}).get("r1", 0))


def _retrieval_figure(row: Row, queries: int, top_k: int, seed: int) -> str:
    run = row.result
    setting = "all-single" if "all-single" in run["settings"] else next(iter(run["settings"]))
    try:
        view = retrieval.load_run(Path(run["_path"]), setting)
        grid = retrieval.render_grid(view, retrieval.retrieve(view, retrieval.choose_queries(view, queries, seed),
                                                              top_k))
    except ReidbenchError as exc:
        return _note(f"{row.label}: no retrieval examples: {exc}")
    data = base64.b64encode(retrieval.image_bytes(grid.image)).decode("ascii")
    return _figure(data, f"{row.label}, {setting_group(setting)}, trial {view.trial + 1}: {view.query_modality} "
                         f"queries (blue) and their top-{top_k} {view.gallery_modality} gallery images, true matches "
                         "green, false red "
                         f"(queries drawn with seed {seed})")


def _figure(png_b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{png_b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _page(title: str, context: str, sections: list[Section]) -> str:
    body = "".join(f"<section><h2>{html.escape(s.title)}</h2>{s.body}</section>" for s in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="context">{html.escape(context)}</p>{body}</body></html>\n')
