"""``reidbench table``: the Table-1 view of a results folder."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reidbench.commands.common import LazyChoices
from reidbench.errors import ReidbenchError
from reidbench.store import DEFAULT_RESULTS


def _variants() -> tuple[str, ...]:
    from reidbench.selection import VARIANTS

    return VARIANTS


def _formats() -> tuple[str, ...]:
    from reidbench.report import FORMATS

    return (*FORMATS, "tidy")


def add(sub: argparse._SubParsersAction) -> None:
    table = sub.add_parser("table", help="print a Table-1-style report of a results folder")
    table.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                       help="results folder (the published ones: results/synthetic-small)")
    table.add_argument("--variants", default="all", choices=LazyChoices(_variants), metavar="VARIANT",
                       help="all: every config that was run, each method's default (or tuned) config first, "
                            "the others labelled with what they change; default: only the default or tuned "
                            "configs (other seeds and trial counts labelled)")
    table.add_argument("--format", default="markdown", choices=LazyChoices(_formats), metavar="FORMAT",
                       help="%(choices)s; csv: the table alone, its caption on stderr; json: caption and cells; "
                            "tidy: the long data frame (reidbench.load_results) as CSV")
    table.add_argument("--protocol", help="default: the results' own (their dataset's default protocol when there are several)")
    table.add_argument("--std", action="store_true", help="show mean ± std over trials (over seeds / trials)")
    table.add_argument("--with-paper", action="store_true", help="add the paper's Table 1 rows (SYSU-MM01) and other "
                       "authors' published numbers (sysu-agw, RegDB, LLCM)")
    table.add_argument("--minp", action="store_true", help="add mINP columns")
    table.add_argument("--baseline", metavar="METHOD",
                       help="add each method's difference to METHOD with a 95%% CI over the paired trials")
    table.set_defaults(func=cmd_table)


def cmd_table(args: argparse.Namespace) -> int:
    from reidbench.report import build_table, caption_for, render
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    results = load_results(args.results)
    if not results:
        raise ReidbenchError(f"no result files in {args.results}; run `reidbench run` first "
                             "(the published reference results are in results/synthetic-small)")
    rows = select_rows(results, args.protocol, variants=args.variants)
    if args.format == "tidy":
        from reidbench.frame import tidy

        print(tidy(rows).to_csv(index=False).rstrip("\n"))
        return 0
    caption = caption_for(rows, args.with_paper, args.std)
    diffs = None
    if args.baseline:
        from reidbench.stats import baseline_columns

        diffs = baseline_columns(rows, args.baseline)
        caption += (f"; Δ = difference to {args.baseline}, 95% t-interval over the paired trials, "
                    "(n.s.) where the trials do not support it")
    frame = build_table(rows, with_paper=args.with_paper, std=args.std, minp=args.minp, extra=diffs)
    print(render(frame, args.format, caption))
    if args.format == "csv":  # a CSV file holds the table alone
        print(f"reidbench: caption: {caption}", file=sys.stderr)
    return 0
