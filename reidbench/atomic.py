"""Atomic file writes: a reader (or a crash) never sees half a file; output folders checked up front.

Every file reidbench writes -- results, figures, caches, embeddings, checkpoints --
goes to a unique temporary file in the target folder, is flushed to disk and then
renamed over the target; on any error the temporary file is removed.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from reidbench.errors import ReidbenchError


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO]:
    """An open temporary file that replaces ``path`` when the block ends without error.

    The name comes from ``mkstemp``, so concurrent writers (DDP ranks filling the
    same cache entry) never share a temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; what reidbench writes is for others too
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_writable(results_dir: Path) -> Path:
    """Create the results folder and check it takes files, before hours of work."""
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ReidbenchError(f"results directory is not writable: {results_dir} ({exc.strerror})") from None
    return results_dir


def check_writable(results_dir: Path) -> Path:
    """:func:`ensure_writable` without making anything: an existing folder is probed, a missing one
    must sit below a writable folder. Checked before the input is read; the folder is made after."""
    results_dir = Path(results_dir)
    if results_dir.is_dir():
        return ensure_writable(results_dir)
    parent = next(p for p in (results_dir, *results_dir.parents) if p.exists() or p == p.parent)
    if results_dir.exists() or not parent.is_dir():
        raise ReidbenchError(f"results directory is not writable: {results_dir} (Not a directory)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReidbenchError(f"results directory is not writable: {results_dir} (Permission denied)")
    return results_dir
