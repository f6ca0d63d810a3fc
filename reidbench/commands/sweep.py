"""``reidbench sweep``: one run per value of a config key, plotted (the paper's Fig. 3).

On the test galleries it is a sensitivity figure, never a selection, and says so;
``--on val`` scores the values on the validation identities.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reidbench.commands.common import (LazyChoices, add_dataset, add_kernels, add_launcher, add_progress, csv,
                                       launcher_from, report_written)


def _setting_keys() -> list[str]:
    from reidbench.protocols import setting_keys

    return setting_keys()


def add(sub: argparse._SubParsersAction) -> None:
    sw = sub.add_parser("sweep", help="run a method across values of one config key and plot r1/mAP (Fig. 3)")
    sw.add_argument("--method", required=True, help="one registered method (see `list`)")
    sw.add_argument("--set", dest="assignment", required=True, metavar="KEY=V1,V2,...",
                    help="config key and its values, e.g. margin=0.7,0.9,1.2,1.4,1.5,1.6")
    add_dataset(sw)
    sw.add_argument("--on", default="test", choices=("test", "val"),
                    help="test: test-set sensitivity as in the paper's Fig. 3, not a selection; "
                         "val: score on the validation identities")
    sw.add_argument("--protocol", help="test sweeps; default: the dataset's own (sysu for SYSU-MM01; sysu-agw: "
                                       "the AGW lineage)")
    sw.add_argument("--trials", type=int, default=10, help="gallery trials (test sweeps)")
    sw.add_argument("--seed", type=int, default=0, help="training seed")
    sw.add_argument("--devices", type=csv, default=[], help="e.g. cuda:0,cuda:1, given to points round-robin")
    sw.add_argument("--cache", type=Path, help="cache folder (default: the user cache folder)")
    sw.add_argument("--setting", choices=LazyChoices(_setting_keys), metavar="KEY",
                    help="plot one setting, one of %(choices)s (default: one panel per setting)")
    sw.add_argument("--out", type=Path, help="sweep folder (default: sweeps/METHOD-KEY[-val])")
    add_launcher(sw, "point")
    add_progress(sw)
    add_kernels(sw)
    sw.set_defaults(func=cmd_sweep, interrupt_hint="; run the same command again to resume it (finished points "
                                                  "are kept)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from reidbench.figures.canvas import save_figure
    from reidbench.figures.sweep import load_points, plot_sweep, settings_of, val_points
    from reidbench.sweep import SweepOptions, parse_assignment, run_sweep

    key, values = parse_assignment(args.assignment)
    out = args.out or Path("sweeps") / f"{args.method}-{key}{'-val' if args.on == 'val' else ''}"
    launcher = launcher_from(args)
    if args.on == "val":
        from reidbench.tuning import RECORD, TuneOptions, run_tune

        record, _ = run_tune(TuneOptions(method=args.method, grid=((key, values),), seed=args.seed, data=args.data,
                                         dataset=args.dataset, out=out, launcher=launcher, devices=tuple(args.devices),
                                         cache=args.cache, progress=not args.no_progress))
        points, title = val_points(record, key)
        written = [out / RECORD]
    else:
        opts = SweepOptions(method=args.method, key=key, values=values, out=out, data=args.data,
                            dataset=args.dataset, protocol=args.protocol, trials=args.trials, seed=args.seed,
                            launcher=launcher, devices=tuple(args.devices), cache=args.cache,
                            progress=not args.no_progress)
        points, title = load_points(out, run_sweep(opts))
        written = [out / "sweep.json"]
        print("reidbench: note: scored on the TEST galleries: a sensitivity figure as in the paper's Fig. 3, "
              "not a selection (choose values with `reidbench tune` or `sweep --on val`)", file=sys.stderr)
    fig = plot_sweep(points, key, settings_of(points, args.setting), title)
    return report_written([*written, *save_figure(fig, out / f"sweep_{key}")])
