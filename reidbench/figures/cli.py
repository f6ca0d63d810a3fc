"""Subcommands ``plot cmc|losses``, ``sweep``, ``show`` and ``report``.

:func:`add_commands` adds them to the main parser's subparsers and returns their
handlers, so ``reidbench.cli`` wires them with one line. Heavy imports
(matplotlib, torch) happen inside the handlers, keeping ``reidbench --help`` fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from reidbench.store import DEFAULT_RESULTS

Handler = Callable[[argparse.Namespace], int]


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add this package's subcommands to ``sub``; return {command: handler}."""
    plot = sub.add_parser("plot", help="draw figures from results: CMC curves, training losses")
    plot_sub = plot.add_subparsers(dest="plot_command", required=True, parser_class=type(plot))
    c = plot_sub.add_parser("cmc", help="CMC curves of methods in one setting (mean, min-max band over trials)")
    c.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    c.add_argument("--methods", type=_csv, help="comma-separated method names (default: all in the folder)")
    c.add_argument("--setting", default="all-single", help="all-single, all-multi, indoor-single or indoor-multi")
    c.add_argument("--max-rank", type=int, default=20)
    c.add_argument("--protocol", default="sysu")
    c.add_argument("--out", type=Path, help="file stem; writes STEM.png and STEM.pdf "
                                            "(default: RESULTS/figures/cmc_SETTING)")
    lo = plot_sub.add_parser("losses", help="generator/discriminator and total losses of a deep run (Fig. 4, 5)")
    lo.add_argument("run", type=Path, help="a result JSON or a work folder holding losses.csv")
    lo.add_argument("--smooth", type=int, help="moving-average window in steps (default: steps/50; 1: none)")
    lo.add_argument("--out", type=Path, help="file stem (default: beside RUN, figures/METHOD_losses)")

    sw = sub.add_parser("sweep", help="run a method across values of one config key and plot r1/mAP (Fig. 3)")
    sw.add_argument("--method", required=True, help="a registered method (see `list`)")
    sw.add_argument("--set", dest="assignment", required=True, metavar="KEY=V1,V2,...",
                    help="config key and its values, e.g. margin=0.7,0.9,1.2,1.4,1.5,1.6")
    where = sw.add_mutually_exclusive_group()
    where.add_argument("--data", type=Path, help="root of a SYSU-MM01-layout dataset")
    where.add_argument("--dataset", help="a named dataset (default synthetic-small)")
    sw.add_argument("--protocol", default="sysu")
    sw.add_argument("--trials", type=int, default=10)
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--jobs", type=int, help="points run at once, each in its own process "
                                             "(default: one per device, else 1)")
    sw.add_argument("--devices", type=_csv, default=[], help="e.g. cuda:0,cuda:1, given to points round-robin")
    sw.add_argument("--cache", type=Path)
    sw.add_argument("--on", default="test", help="test (default): test-set sensitivity as in the paper's Fig. 3, "
                                                  "not a selection; val: score on the validation identities")
    sw.add_argument("--setting", help="plot one setting (default: one panel per setting)")
    sw.add_argument("--out", type=Path, help="sweep folder (default: sweeps/METHOD-KEY)")
    sw.add_argument("--no-progress", action="store_true")

    sh = sub.add_parser("show", help="retrieval examples: IR queries and their top-k RGB matches (Fig. 6)")
    sh.add_argument("run", type=Path, help="a result JSON")
    sh.add_argument("--queries", type=int, default=5)
    sh.add_argument("--top-k", type=int, default=10, help="at most the 10 retrievals a result stores")
    sh.add_argument("--setting", default="all-single")
    sh.add_argument("--seed", type=int, default=0, help="seed drawing the queries")
    sh.add_argument("--data", type=Path, help="dataset root, if it moved since the run")
    sh.add_argument("--out", type=Path, help=".png, .pdf or .jpg (default: beside RUN, figures/METHOD_retrieval_SETTING.png)")

    rep = sub.add_parser("report", help="one HTML page with the table and every figure of a results folder")
    rep.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    rep.add_argument("--out", type=Path, required=True, help="folder for index.html")
    rep.add_argument("--protocol", default="sysu")
    rep.add_argument("--show", metavar="METHOD", help="method of the retrieval examples (default: best rank-1)")
    rep.add_argument("--queries", type=int, default=4)
    rep.add_argument("--seed", type=int, default=0)
    return {"plot": cmd_plot, "sweep": cmd_sweep, "show": cmd_show, "report": cmd_report}


def cmd_plot(args: argparse.Namespace) -> int:
    return {"cmc": _plot_cmc, "losses": _plot_losses}[args.plot_command](args)


def _plot_cmc(args: argparse.Namespace) -> int:
    from reidbench.errors import ReidbenchError
    from reidbench.figures.canvas import save_figure
    from reidbench.figures.cmc import cmc_curve, plot_cmc
    from reidbench.figures.runs import check_setting
    from reidbench.report import context_text
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    setting = check_setting(args.setting)
    if args.max_rank < 1:
        raise ReidbenchError(f"--max-rank must be at least 1, got {args.max_rank}")
    rows = select_rows(load_results(args.results), args.protocol, args.methods)
    fig = plot_cmc([cmc_curve(row, setting, args.max_rank) for row in rows], setting,
                   context_text([row.result for row in rows]))
    return _report_written(save_figure(fig, args.out or args.results / "figures" / f"cmc_{setting}"))


def _plot_losses(args: argparse.Namespace) -> int:
    from reidbench.errors import ReidbenchError
    from reidbench.figures.canvas import save_figure
    from reidbench.figures.losses import find_loss_log, plot_losses, read_loss_log

    if args.smooth is not None and args.smooth < 1:
        raise ReidbenchError(f"--smooth must be at least 1, got {args.smooth}")
    path, name, title = find_loss_log(args.run)
    fig, _ = plot_losses(read_loss_log(path), path, title, args.smooth)
    base = args.run if args.run.is_dir() else args.run.parent
    return _report_written(save_figure(fig, args.out or base / "figures" / f"{name}_losses"))


def cmd_sweep(args: argparse.Namespace) -> int:
    from reidbench.errors import ReidbenchError
    from reidbench.figures.canvas import save_figure
    from reidbench.figures.sweep import (SweepOptions, load_points, parse_assignment, plot_sweep, run_sweep,
                                         settings_of, val_points)

    key, values = parse_assignment(args.assignment)
    if args.on not in ("test", "val"):
        raise ReidbenchError(f"unknown --on '{args.on}' (known: test, val)")
    out = args.out or Path("sweeps") / f"{args.method}-{key}{'-val' if args.on == 'val' else ''}"
    jobs = args.jobs or max(1, len(args.devices))
    if args.on == "val":
        from reidbench.tuning import RECORD, TuneOptions, run_tune

        record, _ = run_tune(TuneOptions(method=args.method, grid=((key, values),), seed=args.seed, data=args.data,
                                         dataset=args.dataset, out=out, jobs=jobs, devices=tuple(args.devices),
                                         cache=args.cache, progress=not args.no_progress))
        points, title = val_points(record, key)
        written = [out / RECORD]
    else:
        opts = SweepOptions(method=args.method, key=key, values=values, out=out, data=args.data,
                            dataset=args.dataset, protocol=args.protocol, trials=args.trials, seed=args.seed,
                            jobs=jobs, devices=tuple(args.devices), cache=args.cache, progress=not args.no_progress)
        points, title = load_points(out, run_sweep(opts))
        written = [out / "sweep.json"]
        print("reidbench: note: scored on the TEST galleries: a sensitivity figure as in the paper's Fig. 3, "
              "not a selection (choose values with `reidbench tune` or `sweep --on val`)", file=sys.stderr)
    fig = plot_sweep(points, key, settings_of(points, args.setting), title)
    return _report_written([*written, *save_figure(fig, out / f"sweep_{key}")])


def cmd_show(args: argparse.Namespace) -> int:
    from reidbench.figures.retrieval import choose_queries, load_run, render_grid, retrieve, save_grid
    from reidbench.figures.runs import check_setting

    view = load_run(args.run, check_setting(args.setting), args.data)
    grid = render_grid(view, retrieve(view, choose_queries(view, args.queries, args.seed), args.top_k))
    out = args.out or args.run.parent / "figures" / f"{view.name}_retrieval_{args.setting}.png"
    return _report_written([save_grid(grid, out)])


def cmd_report(args: argparse.Namespace) -> int:
    from reidbench.figures.html_report import build_report

    return _report_written([build_report(args.results, args.out, args.protocol, args.show, args.queries,
                                         seed=args.seed)])


def _report_written(paths: list[Path]) -> int:
    for p in paths:
        print(f"reidbench: wrote {p}")
    return 0
