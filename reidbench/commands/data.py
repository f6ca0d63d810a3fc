"""``reidbench data synth``: write a synthetic replica in the real dataset's layout."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reidbench.commands.common import Parser, add_progress
from reidbench.data.presets import PRESETS


def add(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    synth = data_sub.add_parser("synth", help="write a synthetic SYSU-MM01 replica")
    synth.add_argument("--out", type=Path, required=True, help="new (or empty) folder")
    synth.add_argument("--preset", default="small", choices=list(PRESETS), help="size (see README)")
    synth.add_argument("--seed", type=int, default=0, help="appearance seed")
    add_progress(synth)
    synth.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from reidbench.data.synth import generate

    path = generate(args.out, preset=args.preset, seed=args.seed, progress=not args.no_progress)
    meta = json.loads((path / "SYNTHETIC.json").read_text())
    print(f"reidbench: wrote {path} ({meta['n_images']} images, content digest {meta['content_digest'][:16]})")
    return 0
