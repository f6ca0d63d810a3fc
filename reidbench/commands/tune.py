"""``reidbench tune``: choose hyper-parameters on the validation identities (never a test image)."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import (LazyChoices, add_dataset, add_kernels, add_launcher, add_progress, csv,
                                       launcher_from)


def _select_by() -> tuple[str, ...]:
    from reidbench.protocols.validation import SELECT_BY

    return SELECT_BY


def add(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser("tune", help="choose hyper-parameters on the validation identities (never test images)")
    tune.add_argument("--method", required=True, help="one registered method (see `list`)")
    tune.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                      help="values of one config key (repeat: the grid is the product)")
    tune.add_argument("--metric", default="mAP", choices=LazyChoices(_select_by), metavar="NAME",
                      help="validation metric to maximise: %(choices)s")
    tune.add_argument("--budget", type=int, help="score this many points drawn at random from the grid")
    tune.add_argument("--seed", type=int, default=0, help="training seed, and the draw of --budget points")
    add_dataset(tune)
    tune.add_argument("--val-trials", type=int, default=10, help="seeded validation galleries averaged (1-100)")
    tune.add_argument("--devices", type=csv, default=[], help="e.g. cuda:0,cuda:1, given to points round-robin")
    tune.add_argument("--cache", type=Path, help="cache folder (default: the user cache folder)")
    tune.add_argument("--out", type=Path, help="folder for tuning.json and METHOD.toml "
                                               "(default: tunes/<dataset>/<method>)")
    add_launcher(tune, "point")
    add_progress(tune)
    add_kernels(tune)
    tune.set_defaults(func=cmd_tune, interrupt_hint="; run the same command again to resume it (the points "
                                                   "already scored are kept in tuning.json)")


def cmd_tune(args: argparse.Namespace) -> int:
    from reidbench.sweep import parse_assignment
    from reidbench.tuning import TuneOptions, run_tune

    grid = tuple(parse_assignment(item, "--grid") for item in args.grid)
    opts = TuneOptions(method=args.method, grid=grid, metric=args.metric, seed=args.seed, budget=args.budget,
                       data=args.data, dataset=args.dataset, out=args.out, val_trials=args.val_trials,
                       launcher=launcher_from(args), devices=tuple(args.devices),
                       cache=args.cache, progress=not args.no_progress)
    record, config = run_tune(opts)
    chosen = record["chosen"]
    print(f"reidbench: chose {', '.join(f'{k}={v}' for k, v in chosen['overrides'].items())} for {args.method}: "
          f"val mAP {chosen['scores']['mAP']:.2f}, r1 {chosen['scores']['r1']:.2f} "
          f"(best {args.metric} of {len(record['points'])} points; no test image was read)")
    print(f"reidbench: wrote {config.parent / 'tuning.json'}")
    print(f"reidbench: wrote {config}  (use: reidbench run --config {config})")
    return 0
