"""``reidbench show``: retrieval examples of a result: queries, their top-k matches of the other modality (Fig. 6)."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import report_written


def add(sub: argparse._SubParsersAction) -> None:
    sh = sub.add_parser("show", help="retrieval examples: queries and their top-k cross-modality matches (Fig. 6)")
    sh.add_argument("run", type=Path, help="a result JSON")
    sh.add_argument("--queries", type=int, default=5, help="queries shown")
    sh.add_argument("--top-k", type=int, default=10, help="at most the 10 retrievals a result stores")
    sh.add_argument("--setting", help="the protocol's setting, e.g. all-single (SYSU-MM01), v2t (RegDB); "
                                      "default: the first the result stores")
    sh.add_argument("--seed", type=int, default=0, help="seed drawing the queries")
    sh.add_argument("--data", type=Path, help="dataset root, if it moved since the run")
    sh.add_argument("--out", type=Path, help=".png, .pdf or .jpg (default: beside RUN, "
                                             "figures/METHOD_retrieval_SETTING.png)")
    sh.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from reidbench.figures.retrieval import choose_queries, load_run, render_grid, retrieve, save_grid
    from reidbench.options import check_range, check_seed

    check_range("--queries", args.queries, 1)
    check_range("--top-k", args.top_k, 1)
    check_seed(args.seed)
    view = load_run(args.run, args.setting, args.data)
    grid = render_grid(view, retrieve(view, choose_queries(view, args.queries, args.seed), args.top_k))
    out = args.out or args.run.parent / "figures" / f"{view.name}_retrieval_{view.setting}.png"
    return report_written([save_grid(grid, out)])
