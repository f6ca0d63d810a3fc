"""``reidbench config``: the run config (TOML) that runs given results again."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.errors import ReidbenchError


def add(sub: argparse._SubParsersAction) -> None:
    conf = sub.add_parser("config", help="write the run config (TOML) that runs these results again")
    conf.add_argument("results", nargs="+", type=Path, help="result JSON files of one dataset and protocol")
    conf.add_argument("--out", type=Path, help="file to write (default: print it)")
    conf.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    from reidbench.runconfig import config_from_results, dump_run_config, write_run_config
    from reidbench.store import read_result

    missing = [str(p) for p in args.results if not p.is_file()]
    if missing:
        raise ReidbenchError(f"result file not found: {missing[0]}")
    results = [read_result(p) for p in args.results]  # validated: a schema-1 or broken file is refused
    cfg = config_from_results(results)
    header = "written by `reidbench config` from " + ", ".join(p.name for p in args.results)
    if args.out is None:
        print(dump_run_config(cfg, header), end="")
        return 0
    print(f"reidbench: wrote {write_run_config(args.out, cfg, header)}")
    return 0
