"""Atomic file writes: a reader (or a crash) never sees half a file.

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
