"""What every protocol shares: fixed probes, a gallery pool, and per-trial galleries.

Probes and the pool are computed from the dataset alone; a trial's gallery is a
list of indices into the pool that depends only on (dataset, protocol, trial), so
every method in a table is evaluated on identical galleries.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from reidbench.data.imageset import RGB_CAMS, ImageSet
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.protocols.settings import MAX_TRIALS, PROBE_CAMS, Setting


# gallery source -> what it means, for captions and reports; each protocol module adds its own
GALLERY_SOURCES: dict[str, str] = {}


def describe_source(source: str) -> str:
    return GALLERY_SOURCES.get(source, source)


@dataclass(frozen=True)
class Galleries:
    """Gallery pool indices of each trial (trial i = row i + 1 of a table), and their source."""

    indices: tuple[np.ndarray, ...]
    source: str
    note: str = ""


class Protocol(abc.ABC):
    """A SYSU-MM01 evaluation protocol."""

    name: str
    label: str
    supports: tuple[str, ...] = ("single", "multi")

    def probes(self, data: SysuDataset) -> ImageSet:
        """Every test-ID image of the IR cameras: camera-major, ID, file order."""
        return data.images(data.ids("test"), PROBE_CAMS)

    def pool(self, data: SysuDataset) -> ImageSet:
        """Every test-ID image of the RGB cameras; galleries index into it."""
        return data.images(data.ids("test"), RGB_CAMS)

    def check_trials(self, trials: int) -> None:
        if not 1 <= trials <= MAX_TRIALS:
            raise ReidbenchError(f"--trials must be between 1 and {MAX_TRIALS}, got {trials}")

    def galleries(self, data: SysuDataset, setting: Setting, trials: int) -> Galleries:
        self.check_trials(trials)
        if setting.shots not in self.supports:
            raise ReidbenchError(f"protocol '{self.name}' does not define {setting.shots}-shot galleries")
        return self._galleries(data, setting, trials)

    @abc.abstractmethod
    def _galleries(self, data: SysuDataset, setting: Setting, trials: int) -> Galleries:
        """Pool indices for trials 0..trials-1."""


def pool_offsets(data: SysuDataset) -> dict[tuple[int, int], int]:
    """Row of the first image of each (camera, ID) in the pool (same order as ``pool``)."""
    offsets, at = {}, 0
    for cam in RGB_CAMS:
        for pid in data.ids("test"):
            offsets[(cam, pid)] = at
            at += data.count(cam, pid)
    return offsets
