"""``reidbench verify``: your runs beside the reference results, cell by cell."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reidbench.errors import ReidbenchError
from reidbench.store import DEFAULT_RESULTS


def add(sub: argparse._SubParsersAction) -> None:
    ver = sub.add_parser("verify", help="set your runs beside reference results: identical, within the seed "
                                        "spread, or not (exit status 1 when a result disagrees)")
    ver.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="your results folder")
    ver.add_argument("--reference", type=Path,
                     help="reference results (default: results/<your results' dataset> of this checkout)")
    ver.add_argument("--exact", action="store_true", help="agree only bit for bit (what CI checks)")
    ver.add_argument("--json", action="store_true", help="print the comparison as JSON")
    ver.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from reidbench.store import load_results
    from reidbench.verify import compare, render

    mine = load_results(args.results)
    if not mine:
        raise ReidbenchError(f"no results in {args.results} (run `reidbench run` first)")
    reference_dir = args.reference or Path("results") / mine[0]["dataset"]["name"]
    if not reference_dir.is_dir():
        raise ReidbenchError(f"reference results not found: {reference_dir} (run from the reidbench checkout, "
                             "or give --reference DIR)")
    comparison = compare(mine, load_results(reference_dir))
    if not comparison.checks:
        raise ReidbenchError(f"no result in {args.results} has the identity of one in {reference_dir} (same "
                             "method, config, seed, protocol, trials and dataset)")
    if args.json:
        print(json.dumps({"reference": str(reference_dir), "agrees": comparison.agrees(args.exact),
                          "checks": [c.as_dict() for c in comparison.checks], "not_run": comparison.not_run,
                          "unmatched": comparison.unmatched}, indent=1))
    else:
        print(render(comparison))
    agrees = comparison.agrees(args.exact)
    summary = (f"{sum(c.verdict == 'identical' for c in comparison.checks)} of {len(comparison.checks)} results "
               f"identical to {reference_dir}")
    print(f"reidbench: {summary}; " + ("agrees" if agrees else "DISAGREES"), file=sys.stderr)
    return 0 if agrees else 1
