"""Named datasets (the replicas, generated on first use) and the cache folder they live in."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Iterator

import platformdirs

from reidbench.data.dataset import Dataset
from reidbench.errors import ReidbenchError
from reidbench.messages import say

DEFAULT_DATASET = "synthetic-small"  # the embedded default: the SYSU-MM01 replica
SYNTH_SEED = 0


def cache_home() -> Path:
    """``$REIDBENCH_HOME``, else the platform's user cache folder (``~/.cache/reidbench`` on Linux,
    ``~/Library/Caches/reidbench`` on macOS, ``%LOCALAPPDATA%\\reidbench\\Cache`` on Windows)."""
    if os.environ.get("REIDBENCH_HOME"):
        return Path(os.environ["REIDBENCH_HOME"]).expanduser()
    return platformdirs.user_cache_path("reidbench", appauthor=False)


def _lookup(name: str):
    from reidbench.data.layouts import named_datasets

    named = named_datasets()
    if name not in named:
        raise ReidbenchError(f"unknown dataset '{name}' (known: {', '.join(named)}; or use --data ROOT)")
    return named[name]


def named_layout(name: str) -> str:
    """The layout (Dataset.kind) of a named dataset, known without generating it."""
    return _lookup(name)[0].kind


def is_named(data: Dataset) -> bool:
    """True for a built-in dataset that any machine regenerates, byte for byte, from its name."""
    from reidbench.data.layouts import named_datasets

    return data.name in named_datasets() and data.root.parent == cache_home() / "datasets"


def named_dataset(name: str, progress: bool = True) -> Dataset:
    """A replica by name, generated into the cache the first time.

    Generation holds a lock beside the folder, so commands started together (two shells,
    parallel or Slurm jobs sharing a cache) generate it once and the others wait and read
    it; the holder first removes the ``.partial`` folders killed generations left.
    """
    layout, preset = _lookup(name)
    # The generator version is in the folder name so an upgrade never reuses old images.
    root = cache_home() / "datasets" / f"{name}-seed{SYNTH_SEED}-v{layout.version}"
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        with _locked(root.parent / f".{root.name}.lock"):
            if not root.exists():  # another process may have finished it while this one waited
                for folder in remove_stale_partials(root):
                    say(f"removed {folder}, left by a generation that was killed")
                say(f"generating the {name} dataset into {root} (first use only)")
                layout.generate(root, preset=preset, seed=SYNTH_SEED, progress=progress)
    return layout.load(root, name)


def remove_stale_partials(root: Path) -> list[Path]:
    """Remove the ``.<name>.<pid>-<hex>.partial`` folders of ``root`` whose generating process is gone."""
    removed = []
    for folder in root.parent.glob(f".{root.name}.*.partial"):
        pid = folder.name[len(root.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process (PermissionError): it exists
        return True
    return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed), released when the block ends or the process dies."""
    with open(path, "a+b") as fh:
        if sys.platform == "win32":
            import msvcrt

            fh.seek(0)
            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ten seconds; keep waiting
                    continue
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
