"""``reidbench run``: fit, embed and evaluate methods under a protocol (from flags or a run config)."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import add_dataset, add_kernels, add_launcher, add_progress, csv, ints, launcher_from


def add(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="fit, embed and evaluate methods under a protocol")
    run.add_argument("--config", type=Path, help="a run config (TOML); options given here win over it")
    run.add_argument("--methods", type=csv, help="comma-separated method names (see `list`), groups (table1, "
                                                 "handcrafted, deep, all) or quoted glob patterns ('lomo_*'); "
                                                 "required without --config")
    add_dataset(run)
    run.add_argument("--protocol", help="default: the dataset's own (sysu for SYSU-MM01; sysu-agw: the AGW lineage)")
    run.add_argument("--settings", type=csv, help="comma-separated setting keys of the protocol (default: all of them)")
    run.add_argument("--modes", type=csv, help="SYSU-MM01: all, indoor (default: both)")
    run.add_argument("--shots", type=csv, help="SYSU-MM01: single, multi (default: both)")
    run.add_argument("--trials", type=int, help="gallery trials, 1-10 (default: 10)")
    run.add_argument("--seeds", "--seed", dest="seeds", type=ints,
                     help="training seed(s), e.g. 0 or 0,1,2: one result per seed, one table row (default: 0)")
    run.add_argument("--defaults", action="store_true",
                     help="registry defaults, not the configs tuned on the embedded default's val identities")
    run.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto)")
    run.add_argument("--results", type=Path, help="results folder (default: runs/<dataset name>)")
    run.add_argument("--cache", type=Path, help="cache folder (default: the user cache folder, or $REIDBENCH_HOME)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                     help="override a config value (repeatable)")
    run.add_argument("--resume", action="store_true", help="continue interrupted training from its checkpoint")
    add_launcher(run, "method and seed")
    add_progress(run)
    add_kernels(run)
    run.set_defaults(func=cmd_run, interrupt_hint="; run the same command with --resume to continue training "
                                                  "from its last checkpoint")


def cmd_run(args: argparse.Namespace) -> int:
    from reidbench.report import build_table, caption_for, render
    from reidbench.runner import run
    from reidbench.runoptions import run_options
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    opts = run_options(args.config, methods=args.methods, data=args.data, dataset=args.dataset,
                       protocol=args.protocol, settings=args.settings, modes=args.modes, shots=args.shots,
                       trials=args.trials, seeds=args.seeds, device=args.device, sets=args.overrides,
                       results=args.results, cache=args.cache, defaults=args.defaults, progress=not args.no_progress,
                       resume=args.resume, launcher=launcher_from(args))
    written = run(opts)
    if written:
        results = [r for r in load_results(written[0].parent) if r["_path"] in {str(p) for p in written}]
        rows = select_rows(results, results[0]["protocol"]["name"], variants="all")
        print()
        print(render(build_table(rows), "markdown", caption_for(rows)))
        print()
        for path in written:
            print(f"reidbench: wrote {path}")
    return 0
