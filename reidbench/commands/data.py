"""``reidbench data synth``: write a synthetic replica in a real dataset's layout."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reidbench.commands.common import Parser, add_progress
from reidbench.errors import ReidbenchError


def add(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    synth = data_sub.add_parser("synth", help="write a synthetic replica in SYSU-MM01's, RegDB's or LLCM's layout")
    synth.add_argument("--out", type=Path, required=True, help="new (or empty) folder")
    synth.add_argument("--dataset", dest="layout", default="sysu",
                       help="whose layout: sysu (default), regdb, llcm, or a plug-in dataset layout")
    synth.add_argument("--preset", default="small", help="size: tiny, small (default) or full (see README)")
    synth.add_argument("--seed", type=int, default=0, help="appearance seed")
    add_progress(synth)
    synth.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from reidbench.data.layouts import LAYOUTS

    from reidbench.options import check_seed

    check_seed(args.seed)
    layout = LAYOUTS.get(args.layout)
    if layout.generate is None:
        raise ReidbenchError(f"layout '{args.layout}' has no replica generator")
    if args.preset not in layout.presets:
        raise ReidbenchError(f"unknown preset '{args.preset}' for {layout.label} "
                             f"(choose from {', '.join(layout.presets)})")
    path = layout.generate(args.out, preset=args.preset, seed=args.seed, progress=not args.no_progress)
    meta = json.loads((path / "SYNTHETIC.json").read_text())
    print(f"reidbench: wrote a synthetic {layout.label} replica at {path} ({meta['n_images']} images, "
          f"content digest {meta['content_digest'][:16]})")
    return 0
