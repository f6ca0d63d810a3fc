"""``reidbench features``: a hand-crafted descriptor for every image of a folder, as an npz."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import LazyChoices, add_progress


def _descriptors() -> list[str]:
    from reidbench.methods.handcrafted.methods import DESCRIPTORS

    return list(DESCRIPTORS)


def add(sub: argparse._SubParsersAction) -> None:
    feats = sub.add_parser("features", help="extract a hand-crafted descriptor for every image of a folder")
    feats.add_argument("--descriptor", required=True, choices=LazyChoices(_descriptors), metavar="NAME",
                       help="hand-crafted descriptor: %(choices)s")
    feats.add_argument("--images", type=Path, required=True, help="folder searched recursively")
    feats.add_argument("--out", type=Path, required=True, help="npz to write (features, paths)")
    feats.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                       help="stored precision (float32: half the size, the precision the benchmark uses)")
    add_progress(feats)
    feats.set_defaults(func=cmd_features)


def cmd_features(args: argparse.Namespace) -> int:
    from reidbench.methods.handcrafted.export import export_features

    path = export_features(args.descriptor, args.images, args.out, progress=not args.no_progress, dtype=args.dtype)
    print(f"reidbench: wrote {path}")
    return 0
