"""``reidbench eval``: evaluate features computed elsewhere (an npz of ``features`` and ``paths``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reidbench.evaluation import METRICS


def add(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="evaluate your own features (npz with features and paths)")
    ev.add_argument("--features", type=Path, action="append", required=True,
                    help="npz: 'features' (N x D), 'paths' (N, relative to the dataset root); "
                         "RegDB: once per trial, in trial order")
    ev.add_argument("--protocol", help="default: the dataset's own (sysu; sysu-agw, regdb, regdb-iddedup, llcm)")
    ev.add_argument("--trials", type=int, default=10, help="gallery trials, 1-10")
    ev.add_argument("--distance", default="euclidean", choices=METRICS, help="ranking distance")
    ev.add_argument("--data", type=Path, help="the dataset the features come from (required for RegDB and "
                                              "LLCM: their split files)")
    ev.add_argument("--allow-shared-model", action="store_true",
                    help="RegDB: score one feature file in every trial (labelled: the model saw other "
                         "trials' test identities)")
    ev.add_argument("--ignore-extra-rows", action="store_true",
                    help="with --data: leave out feature rows that are not images of the dataset (counted in "
                         "the output) instead of refusing the file")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from reidbench.data.layouts import LAYOUTS, load
    from reidbench.errors import ReidbenchError
    from reidbench.external import evaluate_dataset_features, evaluate_feature_file
    from reidbench.options import check_range
    from reidbench.protocols import describe_source, get_protocol
    from reidbench.protocols.settings import MAX_TRIALS

    check_range("--trials", args.trials, 1, MAX_TRIALS)  # before the dataset is read
    if args.ignore_extra_rows and not args.data:
        raise ReidbenchError("eval: --ignore-extra-rows needs --data, the dataset the rows are checked against")
    reference = load(args.data) if args.data else None
    protocol = get_protocol(args.protocol or (LAYOUTS.get(reference.kind).default_protocol if reference else "sysu"))
    protocol.check_trials(args.trials)
    if reference is None and protocol.layout != "sysu":
        raise ReidbenchError(f"eval: the {protocol.name} protocol needs --data, the dataset root (its split files)")
    if reference is None or reference.kind == "sysu":
        if len(args.features) != 1:
            raise ReidbenchError("eval: SYSU-MM01 takes one --features file")
        out = evaluate_feature_file(args.features[0], protocol.name, args.trials, args.distance, reference,
                                    ignore_extra=args.ignore_extra_rows)
    else:
        out = evaluate_dataset_features(args.features, reference, protocol.name, args.trials, args.distance,
                                        args.allow_shared_model, ignore_extra=args.ignore_extra_rows)
    for note in sorted({res["gallery_note"] for res in out.values() if res["gallery_note"]}):
        print(f"reidbench: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
        return 0
    for key, res in out.items():
        print(f"{key:14s} r1 {res['r1']:6.2f}  r5 {res['r5']:6.2f}  r10 {res['r10']:6.2f}  r20 {res['r20']:6.2f}  "
              f"mAP {res['mAP']:6.2f}  mINP {res['mINP']:6.2f}  valid probes {res['num_valid_probes']}  "
              f"[{res['gallery_source']}]")
    print(f"protocol {next(iter(out.values())).get('protocol', args.protocol)}, {args.trials} trials, "
          f"distance {args.distance}; galleries: "
          f"{describe_source(next(iter(out.values()))['gallery_source'])}")
    return 0
