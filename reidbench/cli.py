"""The ``reidbench`` command: one parser, each subcommand from its module in :mod:`reidbench.commands`.

User mistakes end with one line on stderr (``reidbench: error: ...``) and exit status 2,
never a traceback. Nothing here imports torch: ``--help``, ``list``, ``table`` and
argument or dataset-layout errors answer without it.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from reidbench.commands import add_all
from reidbench.commands.common import Parser
from reidbench.errors import ReidbenchError
from reidbench.messages import stderr_handler


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="reidbench", description="Visible-infrared person re-identification benchmark "
                                                       "(SYSU-MM01, RegDB, LLCM).")
    parser.add_argument("--version", action="version", version=f"reidbench {_version()}")
    add_all(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = argparse.Namespace()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        if getattr(args, "kernels", None):
            _pin_kernels(args, restart=sys.argv[1:] if argv is None else None)
        quiet = getattr(args, "quiet", False)
        if quiet:
            args.no_progress = True
        with stderr_handler(quiet):
            return args.func(args) or 0
    except ReidbenchError as exc:
        print(f"reidbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"reidbench: interrupted{getattr(args, 'interrupt_hint', '')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `reidbench table | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _pin_kernels(args: argparse.Namespace, restart: list[str] | None) -> None:
    """Pin the CPU kernels before numpy and torch load (a command restarts itself when they loaded first)."""
    from reidbench.kernels import pin

    devices = list(getattr(args, "devices", None) or []) or [getattr(args, "device", None) or "auto"]
    pin(args.kernels, next((d for d in devices if d.startswith("cuda")), devices[0]), restart=restart)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("reidbench")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


if __name__ == "__main__":
    sys.exit(main())
