"""Where work items run: here (``--launcher local``) or as Slurm jobs through submitit (``--launcher slurm``).

``run`` submits one job per method and seed, ``sweep`` and ``tune`` one per point, as
one job array; each job writes into the same results folder a local run would, and
the submitting process waits for the jobs and reports each outcome. A job that Slurm
preempts or times out is requeued by submitit and resumes its checkpoint (the item is
resubmitted with ``resume=True``). Setting ``REIDBENCH_SLURM_CLUSTER=local`` runs the
same jobs with submitit's local executor, which is how the tests exercise this path.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from reidbench.errors import ReidbenchError
from reidbench.messages import say
from reidbench.parallel import describe, run_items

LAUNCHERS = ("local", "slurm")


@dataclass(frozen=True)
class Launcher:
    """How to run work items; the ``slurm_*`` fields only matter for ``kind="slurm"``."""

    kind: str = "local"
    jobs: int = 1  # local: items at once, each in its own process
    partition: str | None = None
    time_min: int = 240
    gpus: int = 0
    cpus: int = 4
    parallel: int = 8  # array parallelism: jobs running at once
    folder: Path = Path("runs") / "slurm"

    def __post_init__(self) -> None:
        if self.kind not in LAUNCHERS:
            raise ReidbenchError(f"unknown --launcher '{self.kind}' (known: {', '.join(LAUNCHERS)})")
        if min(self.time_min, self.cpus, self.parallel) < 1 or self.gpus < 0:
            raise ReidbenchError("--slurm-time, --slurm-cpus and --slurm-parallel must be at least 1, "
                                 "--slurm-gpus at least 0")

    def shows_progress(self, wanted: bool) -> bool:
        """Progress bars only where one item at a time runs here: interleaved or remote bars help nobody."""
        return wanted and self.kind == "local" and self.jobs == 1


@dataclass(frozen=True, kw_only=True)
class PointOptions:
    """What a sweep's and a tuning's points share: the data, the seed, and where and how they run."""

    data: Path | None = None
    dataset: str | None = None
    seed: int = 0
    launcher: Launcher = field(default_factory=Launcher)  # local processes (jobs) or Slurm jobs
    devices: tuple[str, ...] = ()  # points take them round-robin ('auto' when none)
    cache: Path | None = None
    progress: bool = True

    def device_for(self, n: int) -> str:
        devices = self.devices or ("auto",)
        return devices[n % len(devices)]

    @property
    def point_progress(self) -> bool:
        return self.launcher.shows_progress(self.progress)


class _Job:
    """A picklable job that submitit requeues, resumed, when Slurm preempts it or its time runs out."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        return self.fn(item)

    def checkpoint(self, item: Any) -> Any:
        import submitit

        resumed = dataclasses.replace(item, resume=True) if hasattr(item, "resume") else item
        return submitit.helpers.DelayedSubmission(self, resumed)


def launch(fn: Callable[[Any], Any], items: Sequence[Any], launcher: Launcher) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (index, result, error or None) as items finish, wherever the launcher runs them."""
    if launcher.kind == "local":
        yield from run_items(fn, items, launcher.jobs)
        return
    try:
        import submitit
    except ImportError:
        raise ReidbenchError("--launcher slurm needs submitit: pip install 'reidbench[slurm]'") from None
    executor = submitit.AutoExecutor(folder=launcher.folder, cluster=os.environ.get("REIDBENCH_SLURM_CLUSTER", "slurm"))
    params: dict[str, Any] = {"timeout_min": launcher.time_min, "cpus_per_task": launcher.cpus,
                              "gpus_per_node": launcher.gpus, "slurm_array_parallelism": launcher.parallel}
    if launcher.partition:
        params["slurm_partition"] = launcher.partition
    if executor.cluster != "slurm":
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    executor.update_parameters(name="reidbench", **params)
    jobs = executor.map_array(_Job(fn), list(items))
    say(f"submitted {len(jobs)} job(s) to {executor.cluster} (logs: {launcher.folder})")
    for i, job in enumerate(jobs):
        try:
            yield i, job.result(), None
        except Exception as exc:  # a failed job is reported; the others still finish
            yield i, None, describe(exc).splitlines()[-1][:500]


def run_points(fn: Callable[[Any], Any], items: Sequence[Any], launcher: Launcher, what: str,
               label: Callable[[int], str], report: Callable[[int, int, Any, str | None], None]) -> None:
    """Run every item (a run's method and seed, a sweep's or a tuning's point) where the launcher says,
    ``report(n, index, result, error)`` as each finishes, then fail naming every item that failed; the
    finished ones are kept, so the same command again runs only what is missing."""
    failures = []
    for n, (i, out, error) in enumerate(launch(fn, items, launcher), 1):
        if error is not None:
            failures.append(f"{label(i)}: {error}")
        report(n, i, out, error)
    if failures:
        raise ReidbenchError(f"{len(failures)} {what}(s) failed (the others are kept; run the same command again "
                             f"to retry): {'; '.join(failures)}")
