"""``reidbench plot cmc|losses``: CMC curves of a results folder, loss curves of a deep run (Fig. 4, 5)."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import Parser, csv, report_written
from reidbench.errors import ReidbenchError
from reidbench.store import DEFAULT_RESULTS

MANY = 10  # more rows than this: plot the best by rank-1 unless --methods names them


def add(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser("plot", help="draw figures from results: CMC curves, training losses")
    plot_sub = plot.add_subparsers(dest="plot_command", required=True, parser_class=Parser)
    c = plot_sub.add_parser("cmc", help="CMC curves of methods in one setting (mean, min-max band over trials)")
    c.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder")
    c.add_argument("--methods", type=csv, help=f"comma-separated method names (default: the table's rows, "
                                               f"the {MANY} best by rank-1 when there are more)")
    c.add_argument("--setting", help="the protocol's setting, e.g. all-single (SYSU-MM01), v2t (RegDB), "
                                     "ir2vis (LLCM); default: the protocol's first")
    c.add_argument("--max-rank", type=int, default=20, help="last rank plotted")
    c.add_argument("--protocol", help="default: the results' own (their dataset's default protocol when there are several)")
    c.add_argument("--out", type=Path, help="file stem; writes STEM.png and STEM.pdf "
                                            "(default: RESULTS/figures/cmc_SETTING)")
    c.set_defaults(func=cmd_cmc)
    lo = plot_sub.add_parser("losses", help="generator/discriminator and total losses of a deep run (Fig. 4, 5)")
    lo.add_argument("run", type=Path, help="a result JSON or a work folder holding losses.csv")
    lo.add_argument("--smooth", type=int, help="moving-average window in steps (default: steps/50; 1: none)")
    lo.add_argument("--out", type=Path, help="file stem (default: beside RUN, figures/METHOD_losses)")
    lo.set_defaults(func=cmd_losses)


def cmd_cmc(args: argparse.Namespace) -> int:
    from reidbench.figures.canvas import save_figure
    from reidbench.figures.cmc import cmc_curve, plot_cmc
    from reidbench.report import context_text, table_settings
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    if args.max_rank < 1:
        raise ReidbenchError(f"--max-rank must be at least 1, got {args.max_rank}")
    rows = select_rows(load_results(args.results), args.protocol, args.methods)
    settings = [s.key for s in table_settings(rows)]
    args.setting = args.setting or settings[0]
    if args.setting not in settings:
        raise ReidbenchError(f"unknown setting '{args.setting}' for this protocol (known: {', '.join(settings)})")
    curves = [cmc_curve(row, args.setting, args.max_rank) for row in rows if args.setting in row.result["settings"]]
    if not curves:
        raise ReidbenchError(f"no result here has the setting '{args.setting}'")
    note = ""
    if args.methods is None and len(curves) > MANY:
        curves = sorted(curves, key=lambda c: -c.mean[0])[:MANY]
        note = f"the {MANY} best of {len(rows)} by rank-1; --methods picks others"
    fig = plot_cmc(curves, args.setting, context_text([r for row in rows for r in row.results]), note)
    return report_written(save_figure(fig, args.out or args.results / "figures" / f"cmc_{args.setting}"))


def cmd_losses(args: argparse.Namespace) -> int:
    from reidbench.figures.canvas import save_figure
    from reidbench.figures.losses import discriminator_chance, find_loss_log, plot_losses, read_loss_log

    if args.smooth is not None and args.smooth < 1:
        raise ReidbenchError(f"--smooth must be at least 1, got {args.smooth}")
    path, name, title = find_loss_log(args.run)
    fig, _ = plot_losses(read_loss_log(path), path, title, args.smooth, discriminator_chance(args.run))
    base = args.run if args.run.is_dir() else args.run.parent
    return report_written(save_figure(fig, args.out or base / "figures" / f"{name}_losses"))
