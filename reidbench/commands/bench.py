"""``reidbench bench gpu``: one command that checks a GPU (training and embedding throughput, AMP, resume)."""
from __future__ import annotations

import argparse
from pathlib import Path

from reidbench.commands.common import Parser


def add(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="check a machine: `bench gpu` trains every deep method on the GPU")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, parser_class=Parser)
    gpu = bench_sub.add_parser("gpu", help="AMP training smoke, throughput and memory of every deep method "
                                           "(random-init ResNet-50 at 288x144, generated data; exits 2 without a GPU)")
    gpu.add_argument("--out", type=Path, help="JSON file to write, rewritten after every phase of every run "
                                              "(default: print the table only)")
    gpu.add_argument("--minutes", type=float, default=8.0,
                     help="hard time budget: a run still going when it is spent stops and records how far it got")
    gpu.set_defaults(func=cmd_gpu)


def cmd_gpu(args: argparse.Namespace) -> int:
    from reidbench.methods.deep.bench import format_bench, run_gpu_bench

    print(format_bench(run_gpu_bench(args.out, args.minutes)))
    if args.out is not None:
        print(f"reidbench: wrote {args.out}")
    return 0
