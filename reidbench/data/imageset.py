"""A labelled list of images: the unit every stage after the reader passes on."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from reidbench.data.images import read_rgb

VISIBLE, INFRARED = 0, 1  # modality codes: RGB / visible, and IR (thermal or near-infrared)
MODALITY_NAMES = {VISIBLE: "visible", INFRARED: "IR"}


@dataclass(frozen=True)
class CameraFacts:
    """What a dataset's cameras are: the one home of these facts for every stage.

    ``location`` maps a camera to the place it films, and ``exclude`` says which gallery
    images of its own place a probe never meets: all of them (``"place"``: SYSU's cameras 2
    and 3 share a room, and cam-3 probes skip cam 2) or only its own identity's
    (``"identity_at_place"``: LLCM's cameras film in both modalities, one number one place).
    ``modality`` maps cameras that see only one modality (None where a camera sees both).
    """

    location: Mapping[int, int]
    modality: Mapping[int, int | None]
    names: Mapping[int, str] = field(default_factory=dict)
    exclude: str = "place"  # reidbench.evaluation.EXCLUDE_KINDS

    def cameras_of(self, modality: int) -> tuple[int, ...]:
        return tuple(c for c, m in self.modality.items() if m in (modality, None))


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images of one dataset with their identity, camera and modality labels.

    ``paths`` are POSIX paths relative to ``root`` (``cam3/0006/0001.jpg``); ``cameras``
    are the dataset's camera facts (the same-place rule of matching).
    """

    root: Path
    paths: tuple[str, ...]
    pids: np.ndarray
    cams: np.ndarray
    modality: np.ndarray  # VISIBLE or INFRARED per image
    cameras: CameraFacts

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def modalities(self) -> np.ndarray:
        """0 for visible (RGB) images, 1 for infrared ones."""
        return self.modality

    def subset(self, index: Sequence[int] | np.ndarray) -> "ImageSet":
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        return ImageSet(self.root, tuple(self.paths[i] for i in idx), self.pids[idx], self.cams[idx],
                        self.modality[idx], self.cameras)

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` as H x W x 3 uint8 (IR replicated to three channels)."""
        return read_rgb(self.root / self.paths[i])

    def key(self) -> str:
        """A content key of the listing, for caches."""
        h = hashlib.sha256("\n".join(self.paths).encode())
        return h.hexdigest()[:16]


def concat(*sets: ImageSet) -> ImageSet:
    """Images of several sets (same root and cameras) one after another."""
    return ImageSet(sets[0].root, tuple(p for s in sets for p in s.paths),
                    np.concatenate([s.pids for s in sets]), np.concatenate([s.cams for s in sets]),
                    np.concatenate([s.modality for s in sets]), sets[0].cameras)


def image_set(root: Path, paths: Sequence[str], pids: Sequence[int], cams: Sequence[int],
              modality: Sequence[int], cameras: CameraFacts) -> ImageSet:
    """An ImageSet from plain lists."""
    return ImageSet(Path(root), tuple(paths), np.asarray(pids, dtype=np.int64), np.asarray(cams, dtype=np.int64),
                    np.asarray(modality, dtype=np.int64), cameras)
