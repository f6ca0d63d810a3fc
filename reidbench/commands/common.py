"""What every subcommand shares: one-line errors, help that shows defaults, list parsing."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from reidbench.errors import ReidbenchError

if TYPE_CHECKING:
    from reidbench.launch import Launcher


class Help(argparse.HelpFormatter):
    """Shows each option's default (when it has a meaningful one) after its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"
        return f"{text} (default: {shown})"


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``reidbench: error: COMMAND: ...``) and exit 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("reidbench").strip()
        raise ReidbenchError(f"{command}: {message}" if command else message)


class LazyChoices:
    """An option's choices, read when the option is parsed or its help shown: building the parser
    (``reidbench --help``) imports no method or evaluation code. Give the option a ``metavar``."""

    def __init__(self, load: Callable[[], Iterable[Any]]):
        self._load = load

    def __contains__(self, value: object) -> bool:
        return value in list(self._load())

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._load()))


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def ints(value: str) -> list[int]:
    try:
        return [int(v) for v in csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{value}'") from None


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="no_progress", action="store_true",
                        help="no progress bars (messages and results still print)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bars and no messages (results, warnings and errors still print)")


def add_kernels(parser: argparse.ArgumentParser) -> None:
    from reidbench.kernels import LEVEL, MODES, THREADS

    parser.add_argument("--kernels", default="auto", choices=MODES,
                        help=f"CPU kernels: pinned ({LEVEL}, {THREADS} threads: the same numbers on every x86-64 "
                             "machine, as the reference results), native (this CPU's fastest; numbers may differ "
                             "in the last bits, and training amplifies them), auto: pinned unless the run is on a GPU")


def add_dataset(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", type=Path, help="root of a SYSU-MM01-layout dataset")
    where.add_argument("--dataset", help="a named dataset: synthetic-small (the default), synthetic-tiny, "
                                         "synthetic-full")


def add_launcher(parser: argparse.ArgumentParser, what: str) -> None:
    """Where the work items (methods and seeds, or points) run: here, or one Slurm job each."""
    parser.add_argument("--launcher", default="local", choices=("local", "slurm"),
                        help=f"local: here; slurm: one job per {what} through submitit, in one array")
    parser.add_argument("--jobs", type=int, help=f"local: {what}s at once, each in its own process "
                                                 "(default: one per device, else 1)")
    slurm = parser.add_argument_group("Slurm (with --launcher slurm)")
    slurm.add_argument("--slurm-partition", help="partition (default: the cluster's)")
    slurm.add_argument("--slurm-time", type=int, default=240, help="minutes per job")
    slurm.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per job")
    slurm.add_argument("--slurm-cpus", type=int, default=4, help="CPUs per job")
    slurm.add_argument("--slurm-parallel", type=int, default=8, help="jobs of the array running at once")
    slurm.add_argument("--slurm-folder", type=Path, default=Path("runs") / "slurm", help="submitit's logs")


def launcher_from(args: argparse.Namespace) -> "Launcher":
    from reidbench.launch import Launcher

    jobs = args.jobs if args.jobs is not None else max(1, len(getattr(args, "devices", []) or []))
    if jobs < 1:
        raise ReidbenchError(f"--jobs must be at least 1, got {jobs}")
    return Launcher(kind=args.launcher, jobs=jobs, partition=args.slurm_partition, time_min=args.slurm_time,
                    gpus=args.slurm_gpus, cpus=args.slurm_cpus, parallel=args.slurm_parallel,
                    folder=args.slurm_folder)


def report_written(paths: list[Path]) -> int:
    for p in paths:
        print(f"reidbench: wrote {p}")
    return 0
