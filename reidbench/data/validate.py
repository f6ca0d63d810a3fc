"""Decode every image a run needs before any fitting, so a corrupt file costs seconds, not a training run.

A full decode of each image of the splits used (train, val and test for a run) (threads: Pillow releases the GIL)
stops at the first unreadable one with a one-line error naming it. A marker in the
cache, keyed by the listing with each file's size and modification time, lets later
runs on the unchanged dataset skip the check.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from reidbench.data.images import decoded
from reidbench.data.dataset import PARTS, Dataset


def check_images(data: Dataset, cache_dir: Path, splits: tuple[str, ...] = PARTS, progress: bool = True) -> int:
    """Decode every image of ``splits``; returns how many were decoded (0: known good from an earlier check).

    ``reidbench tune`` checks train and val only: it never reads a test image.
    """
    paths = data.paths(splits)
    marker = Path(cache_dir) / "validated" / f"{_listing_key(data.root, paths)}.ok"
    if marker.exists():
        return 0
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for _ in tqdm(pool.map(lambda rel: _decode(data.root / rel), paths), total=len(paths),
                      desc="check images", unit="img", disable=not progress, leave=False):
            pass
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return len(paths)


def _decode(path: Path) -> None:
    with decoded(path):
        pass


def _listing_key(root: Path, paths: list[str]) -> str:
    h = hashlib.sha256(str(root.resolve()).encode())
    for rel in paths:
        st = (root / rel).stat()
        h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]
