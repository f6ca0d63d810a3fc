"""``reidbench eval``: evaluate features computed elsewhere (an npz of ``features`` and ``paths``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reidbench.commands.common import LazyChoices


def _distances() -> tuple[str, ...]:
    from reidbench.evaluation import METRICS

    return METRICS


def add(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="evaluate your own features (npz with features and paths)")
    ev.add_argument("--features", type=Path, action="append", required=True,
                    help="npz: 'features' (N x D), 'paths' (N, relative to the dataset root); "
                         "RegDB: once per trial, in trial order")
    ev.add_argument("--protocol", help="default: the dataset's own (sysu; sysu-agw, regdb, regdb-iddedup, llcm)")
    ev.add_argument("--trials", type=int, default=10, help="gallery trials, 1-10")
    ev.add_argument("--distance", default="euclidean", choices=LazyChoices(_distances), metavar="NAME",
                    help="ranking distance: %(choices)s")
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
    from reidbench.data.layouts import load
    from reidbench.errors import ReidbenchError
    from reidbench.external import evaluate_features
    from reidbench.options import check_range
    from reidbench.protocols import describe_source, get_protocol
    from reidbench.protocols.settings import MAX_TRIALS
    from reidbench.runner import protocol_for, requested_protocol

    check_range("--trials", args.trials, 1, MAX_TRIALS)  # before the dataset is read
    if args.ignore_extra_rows and not args.data:
        raise ReidbenchError("eval: --ignore-extra-rows needs --data, the dataset the rows are checked against")
    reference = load(args.data) if args.data else None
    protocol = (protocol_for(reference, args.protocol) if reference is not None  # the dataset's own by default
                else get_protocol(requested_protocol(args.protocol, None, None)))  # else the embedded default's
    protocol.check_trials(args.trials)
    out = evaluate_features(args.features, protocol, args.trials, args.distance, reference,
                            allow_shared=args.allow_shared_model, ignore_extra=args.ignore_extra_rows)
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
