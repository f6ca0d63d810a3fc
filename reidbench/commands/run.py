"""``reidbench run``: fit, embed and evaluate methods under a protocol (from flags or a run config)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from reidbench.commands.common import add_dataset, add_kernels, add_launcher, add_progress, csv, ints, launcher_from
from reidbench.errors import ReidbenchError


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
    from reidbench.registry import get_method
    from reidbench.report import build_table, caption_for, render
    from reidbench.runconfig import RunConfig, load_run_config
    from reidbench.runner import RunOptions, expand_methods, run
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    cfg = load_run_config(args.config) if args.config else RunConfig()
    pick = lambda flag, key, default: (flag if flag is not None  # noqa: E731
                                       else default if getattr(cfg, key) is None else getattr(cfg, key))
    if args.methods is None and not cfg.methods:
        raise ReidbenchError("run: the following arguments are required: --methods (or --config FILE)")
    methods = expand_methods(list(pick(args.methods, "methods", [])))
    stray = [f"[{table}.{m}]" for table in ("overrides", "tuned") for m in getattr(cfg, table) if m not in methods]
    if stray:
        raise ReidbenchError(f"{args.config}: {', '.join(stray)} for a method not in this run "
                             f"(methods: {', '.join(methods)}); a typo, or add it to the methods")
    data, dataset = (args.data, args.dataset) if args.data or args.dataset else (cfg.data, cfg.dataset)
    tuned = {m: {"overrides": cfg.overrides.get(m, {}), "tuning": info} for m, info in cfg.tuned.items()}
    manual = {m: v for m, v in cfg.overrides.items() if m not in tuned}
    cli = parse_overrides(args.overrides, methods, lambda n: get_method(n).config)
    overrides = {m: {**manual.get(m, {}), **cli.get(m, {})} for m in methods}
    protocol = pick(args.protocol, "protocol", None)
    as_tuple = lambda v: None if v is None else tuple(v)  # noqa: E731
    opts = RunOptions(methods=methods, data=data, dataset=dataset, protocol=protocol,
                      settings=as_tuple(pick(args.settings, "settings", None)),
                      modes=as_tuple(pick(args.modes, "modes", None)), shots=as_tuple(pick(args.shots, "shots", None)),
                      trials=pick(args.trials, "trials", 10), seeds=tuple(pick(args.seeds, "seeds", [0])),
                      device=pick(args.device, "device", "auto"), results=args.results, cache=args.cache,
                      overrides=overrides, tuned=tuned, defaults=args.defaults,
                      progress=not args.no_progress, resume=args.resume, launcher=launcher_from(args))
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


def parse_overrides(items: list[str], methods: list[str],
                    defaults_of: Callable[[str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``[METHOD:]KEY=VALUE`` -> {method: {key: value}}; a bare key goes to every method that has it."""
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        target, _, assignment = item.rpartition(":") if ":" in item.split("=", 1)[0] else ("", "", item)
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ReidbenchError(f"--set expects [METHOD:]KEY=VALUE, got '{item}'")
        if target:
            if target not in out:
                raise ReidbenchError(f"--set names method '{target}', which is not in --methods")
            out[target][key] = value
            continue
        owners = [m for m in methods if key in defaults_of(m)]
        if not owners:
            raise ReidbenchError(f"--set {key}: no selected method has a config key '{key}'")
        for m in owners:
            out[m][key] = value
    return out
