"""A labelled list of images: the unit every stage after the reader passes on."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from reidbench.data.images import read_rgb

IR_CAMS = (3, 6)
RGB_CAMS = (1, 2, 4, 5)
RGB, IR = 0, 1


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images of one dataset with their identity and camera labels.

    ``paths`` are POSIX paths relative to ``root`` (``cam3/0006/0001.jpg``).
    """

    root: Path
    paths: tuple[str, ...]
    pids: np.ndarray
    cams: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def modalities(self) -> np.ndarray:
        """0 for RGB cameras (1, 2, 4, 5), 1 for IR cameras (3, 6)."""
        return np.isin(self.cams, IR_CAMS).astype(np.int64)

    def subset(self, index: Sequence[int] | np.ndarray) -> "ImageSet":
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return ImageSet(self.root, tuple(self.paths[i] for i in idx), self.pids[idx], self.cams[idx])

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` as H x W x 3 uint8 (IR replicated to three channels)."""
        return read_rgb(self.root / self.paths[i])

    def key(self) -> str:
        """A content key of the listing, for caches."""
        h = hashlib.sha256("\n".join(self.paths).encode())
        return h.hexdigest()[:16]




def concat(*sets: ImageSet) -> ImageSet:
    """Images of several sets (same root) one after another."""
    return ImageSet(sets[0].root, tuple(p for s in sets for p in s.paths),
                    np.concatenate([s.pids for s in sets]), np.concatenate([s.cams for s in sets]))
