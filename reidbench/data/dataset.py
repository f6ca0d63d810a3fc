"""What every dataset is to the rest of reidbench: images, camera facts and a split per trial.

A reader (``sysu.py``, ``regdb.py``, ``llcm.py`` or a plug-in's) validates its layout
up front and returns a :class:`Dataset`; protocols, methods and the runner only use
this interface. RegDB-style datasets define one train/test split per trial
(``splits_per_trial``), so a learned method is trained once per trial there.
"""
from __future__ import annotations

import abc
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, ClassVar, Iterable

import numpy as np

from reidbench.data.imageset import CameraFacts, ImageSet
from reidbench.errors import ReidbenchError

PARTS = ("train", "val", "test")
VAL_FRACTION = 0.1  # of the training identities, where a dataset ships no validation split


@dataclass(frozen=True)
class Split:
    """The identities' images of one trial: learn on ``train``, choose on ``val``, evaluate on ``test``."""

    train: ImageSet
    val: ImageSet
    test: ImageSet

    def part(self, name: str) -> ImageSet:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def split_off_validation(train: ImageSet, test: ImageSet, seed: Any) -> Split:
    """A split whose validation identities are a seeded tenth of ``train``'s, held out from training
    (RegDB and LLCM ship no validation split; choices must still never see a test image)."""
    ids = np.unique(train.pids)
    held = np.sort(np.random.default_rng(seed).choice(
        ids, size=max(1, int(round(VAL_FRACTION * len(ids)))), replace=False))
    is_val = np.isin(train.pids, held)
    return Split(train.subset(~is_val), train.subset(is_val), test)


class Dataset(abc.ABC):
    """A validated dataset (real, or a replica written in its layout)."""

    kind: ClassVar[str]  # the layout: sysu, regdb, llcm, ...
    label: ClassVar[str]  # the real dataset's name: "SYSU-MM01", "RegDB", "LLCM"
    cameras: ClassVar[CameraFacts]
    splits_per_trial: ClassVar[bool] = False  # each trial its own train/test split (RegDB)
    num_trials: ClassVar[int] = 1  # splits defined by the dataset (10 for RegDB)

    root: Path
    name: str
    synthetic: dict | None  # the replica's SYNTHETIC.json facts; None for real data

    @abc.abstractmethod
    def split(self, trial: int = 0) -> Split:
        """Train, val and test images of ``trial`` (0-based; the same for every trial unless
        ``splits_per_trial``)."""

    @abc.abstractmethod
    def listing(self) -> list[str]:
        """Every image path of the dataset, sorted, relative to ``root``."""

    @property
    def num_images(self) -> int:
        return len(self.listing())

    def paths(self, parts: Iterable[str]) -> list[str]:
        """Images of the named parts of every trial's split (sorted, unique): what a run will read."""
        trials = range(self.num_trials) if self.splits_per_trial else range(1)
        return sorted({p for t in trials for name in parts for p in self.split(t).part(name).paths})

    @property
    def train(self) -> ImageSet:
        return self.split(0).train

    @property
    def val(self) -> ImageSet:
        return self.split(0).val

    @property
    def test(self) -> ImageSet:
        return self.split(0).test

    def id_counts(self) -> dict[str, int]:
        """Identities per part (of trial 0)."""
        split = self.split(0)
        return {name: int(len(set(split.part(name).pids.tolist()))) for name in PARTS}

    @property
    def fingerprint(self) -> str:
        """Hash of the layout kind, the split definition and every file's path and size: a cache key."""
        cached = getattr(self, "_fingerprint", None)
        if cached is None:
            h = hashlib.sha256(f"{self.kind}\n{self.split_definition()}\n".encode())
            for rel in self.listing():
                h.update(f"{rel}:{(self.root / rel).stat().st_size}\n".encode())
            cached = h.hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    @abc.abstractmethod
    def split_definition(self) -> str:
        """Text that changes whenever the splits change (the ID lists or split files)."""


_PATH_LABEL = re.compile(r"^(\S+) (-?\d+)$")


def read_list_text(path: Path, what: str) -> str:
    """A split or list file's text; one line naming the file when it is missing or not UTF-8."""
    if not path.is_file():
        raise ReidbenchError(f"missing {what}: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ReidbenchError(f"malformed {what} {path}: not UTF-8 text (byte {exc.start})") from None


def path_label_lines(path: Path, what: str, root: Path) -> list[tuple[int, str, int]]:
    """(line number, relative path, label) of every ``<path> <label>`` line (RegDB's and LLCM's lists);
    each path must name a file inside ``root`` (see :func:`check_inside`)."""
    out = []
    real_root = Path(os.path.realpath(root))
    for n, line in enumerate(read_list_text(path, what).splitlines(), 1):
        m = _PATH_LABEL.match(line)
        if m is None:
            raise ReidbenchError(f"malformed {what} {path}, line {n}: expected '<path> <label>', got {line!r}")
        check_inside(root, real_root, m.group(1), f"{what} {path}, line {n}")
        out.append((n, m.group(1), int(m.group(2))))
    if not out:
        raise ReidbenchError(f"malformed {what} {path}: the file is empty")
    return out


def check_inside(root: Path, real_root: Path, rel: str, where: str) -> None:
    """``rel`` must lead to a place inside the dataset root: relative, no ``..``, no symlink out of it
    (a list line pointing elsewhere would be read, trained on and fingerprinted)."""
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        raise ReidbenchError(f"{where}: '{rel}' is an absolute path; paths are relative to the dataset root {root}")
    if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
        raise ReidbenchError(f"{where}: '{rel}' climbs out with '..'; paths are relative to the dataset root {root}")
    if not Path(os.path.realpath(root / rel)).is_relative_to(real_root):
        raise ReidbenchError(f"{where}: '{rel}' leads outside the dataset root {root} (a symbolic link)")


def synthetic_metadata(root: Path) -> dict | None:
    """What a replica says about itself (generator, version, preset, seed, digest); None for real data."""
    path = root / "SYNTHETIC.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return {"generator": meta["generator"], "generator_version": meta["generator_version"],
                "preset": meta["preset"]["name"], "seed": meta["seed"],
                "content_digest": meta.get("content_digest")}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ReidbenchError(f"malformed {path}: a synthetic replica's description must be its generator's JSON") from None
