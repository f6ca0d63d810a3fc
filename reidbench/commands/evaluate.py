"""``reidbench eval``: evaluate features computed elsewhere (an npz of ``features`` and ``paths``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reidbench.evaluation import METRICS


def add(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="evaluate your own features (npz with features and paths)")
    ev.add_argument("--features", type=Path, required=True, help="npz: 'features' (N x D), 'paths' (N)")
    ev.add_argument("--protocol", default="sysu", help="sysu or sysu-agw")
    ev.add_argument("--trials", type=int, default=10, help="gallery trials, 1-10")
    ev.add_argument("--distance", default="euclidean", choices=METRICS, help="ranking distance")
    ev.add_argument("--data", type=Path, help="the dataset the features come from: its test IDs and full listing")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from reidbench.data.sysu import load_sysu
    from reidbench.external import evaluate_feature_file
    from reidbench.protocols import describe_source, get_protocol

    get_protocol(args.protocol).check_trials(args.trials)
    reference = load_sysu(args.data) if args.data else None
    out = evaluate_feature_file(args.features, args.protocol, args.trials, args.distance, reference)
    for note in sorted({res["gallery_note"] for res in out.values() if res["gallery_note"]}):
        print(f"reidbench: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
        return 0
    for key, res in out.items():
        print(f"{key:14s} r1 {res['r1']:6.2f}  r5 {res['r5']:6.2f}  r10 {res['r10']:6.2f}  r20 {res['r20']:6.2f}  "
              f"mAP {res['mAP']:6.2f}  mINP {res['mINP']:6.2f}  valid probes {res['num_valid_probes']}  "
              f"[{res['gallery_source']}]")
    print(f"protocol {args.protocol}, {args.trials} trials, distance {args.distance}; galleries: "
          f"{describe_source(next(iter(out.values()))['gallery_source'])}")
    return 0
