"""``reidbench list``: the registered methods, their family and Table-1 label."""
from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("list", help="list the registered methods").set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from reidbench.registry import all_methods

    specs = all_methods()
    width = max(len(n) for n in specs)
    for name, spec in specs.items():
        print(f"{name:{width}s}  {spec.family:11s}  {spec.label}")
    return 0
