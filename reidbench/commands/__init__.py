"""The subcommands, one module each; each adds its parser and binds its handler with ``set_defaults(func=...)``.

Handlers import what they need when they run, so ``reidbench --help`` and cheap
commands never load torch, matplotlib or the methods.
"""
from __future__ import annotations

import argparse

from reidbench.commands import (bench, config, data, evaluate, features, listing, plot, report, run, show, sweep,
                                table, tune, verify)

MODULES = (run, table, evaluate, tune, config, listing, data, features, plot, sweep, show, report, bench, verify)


def add_all(sub: argparse._SubParsersAction) -> None:
    for module in MODULES:
        module.add(sub)
