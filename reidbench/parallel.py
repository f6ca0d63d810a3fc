"""Independent work items (sweep or tuning points) in this process or in worker processes.

One failed item (a bad value, out of memory, a crashed worker) must not lose the
others, so each outcome is reported on its own. Workers are spawned, not forked: a
child must not inherit a parent's CUDA context or thread-pool state.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence

from reidbench.errors import ReidbenchError


def run_items(fn: Callable[[Any], Any], items: Sequence[Any], jobs: int = 1
              ) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (index, result, error message or None) as items finish; ``fn`` must be picklable for jobs > 1."""
    if jobs < 1:
        raise ReidbenchError(f"--jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            try:
                yield i, fn(item), None
            except Exception as exc:  # reported per item; KeyboardInterrupt still stops everything
                yield i, None, describe(exc)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=ctx) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result(), None
            except Exception as exc:
                yield futures[fut], None, describe(exc)


def describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ReidbenchError) else f"{type(exc).__name__}: {exc}"
