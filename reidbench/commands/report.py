"""``reidbench report``: one HTML page with the table and every figure of a results folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import report_written
from reidbench.store import DEFAULT_RESULTS


def add(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="one HTML page with the table and every figure of a results folder")
    rep.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder")
    rep.add_argument("--out", type=Path, required=True, help="folder for index.html")
    rep.add_argument("--protocol", help="default: the results' own (their dataset's default protocol when there are several)")
    rep.add_argument("--show", metavar="METHOD", help="method of the retrieval examples (default: best rank-1)")
    rep.add_argument("--queries", type=int, default=4, help="queries in the retrieval figure")
    rep.add_argument("--seed", type=int, default=0, help="seed drawing the queries")
    rep.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from reidbench.figures.html_report import build_report
    from reidbench.options import check_range, check_seed

    check_range("--queries", args.queries, 1)
    check_seed(args.seed)
    return report_written([build_report(args.results, args.out, args.protocol, args.show, args.queries,
                                        seed=args.seed)])
