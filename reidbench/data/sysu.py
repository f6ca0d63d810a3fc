"""Reader for the SYSU-MM01 folder layout (the real dataset and its synthetic replica).

Layout: ``<root>/cam1..cam6/<pid:04d>/<img:04d>.jpg`` and
``<root>/exp/{train,val,test}_id.txt``, each list one line of comma-separated IDs.
The layout is validated up front so a broken dataset fails with one line naming
what is missing, before any work is done.

The dataset's official facts ship as package data in ``sysu_official/`` (see its
README): the official train and test ID lists and the real image count of every
(camera, ID); :func:`official_ids` and :func:`official_counts` are their one reader.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from reidbench.data.dataset import Dataset, Split, read_list_text, synthetic_metadata
from reidbench.data.imageset import INFRARED, VISIBLE, CameraFacts, ImageSet, image_set
from reidbench.errors import ReidbenchError

CAMERAS = (1, 2, 3, 4, 5, 6)
RGB_CAMS = (1, 2, 4, 5)
IR_CAMS = (3, 6)
# SYSU-MM01's cameras: 1 indoor room 1, 2 (RGB) and 3 (IR) indoor room 2, 4 outdoor gate, 5 outdoor
# garden, 6 (IR) outdoor passage. The one home of these facts.
SYSU_CAMERAS = CameraFacts(location={1: 1, 2: 2, 3: 2, 4: 4, 5: 5, 6: 6},
                           modality={c: INFRARED if c in IR_CAMS else VISIBLE for c in CAMERAS},
                           names={1: "indoor room 1", 2: "indoor room 2", 3: "indoor room 2 (IR)",
                                  4: "outdoor gate", 5: "outdoor garden", 6: "outdoor passage (IR)"})
INDOOR_CAMS = (1, 2, 3)
SPLITS = ("train", "val", "test")
_FEATURE_PATH = re.compile(r"^cam([1-6])/(\d{4})/(\d{4})\.jpg$")  # relative to the root: camera, ID, file
_PID_DIR = re.compile(r"^\d{4}$")
_IMAGE = re.compile(r"^\d{4}\.jpg$")


@dataclass(frozen=True, eq=False)
class SysuDataset(Dataset):
    """A validated SYSU-MM01-layout dataset: file lists per (camera, ID) and the split."""

    kind = "sysu"
    label = "SYSU-MM01"
    cameras = SYSU_CAMERAS

    root: Path
    files: dict[tuple[int, int], tuple[str, ...]]
    splits: dict[str, tuple[int, ...]]
    name: str = ""
    synthetic: dict | None = None  # SYNTHETIC.json of a generated replica; None for real data

    def ids(self, split: str) -> tuple[int, ...]:
        return self.splits[split]

    def count(self, cam: int, pid: int) -> int:
        return len(self.files.get((cam, pid), ()))

    def images(self, pids: Iterable[int], cams: Iterable[int] = CAMERAS) -> ImageSet:
        """Images of ``pids`` in ``cams``: camera-major, then ID, then sorted file order."""
        rows = [(rel, pid, cam) for cam in sorted(cams) for pid in sorted(set(pids))
                for rel in self.files.get((cam, pid), ())]
        return image_set(self.root, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                         [SYSU_CAMERAS.modality[r[2]] for r in rows], SYSU_CAMERAS)

    def split(self, trial: int = 0) -> Split:
        return Split(*(self.images(self.splits[part]) for part in SPLITS))

    def listing(self) -> list[str]:
        return sorted(rel for names in self.files.values() for rel in names)

    def split_definition(self) -> str:
        return "\n".join(f"{part}:{','.join(map(str, self.splits[part]))}" for part in SPLITS)


def parse_id_list(path: Path) -> tuple[int, ...]:
    """Parse one line of comma-separated integers (the ``exp/*_id.txt`` format)."""
    text = read_list_text(path, "ID list").strip()
    if not text:
        raise ReidbenchError(f"malformed ID list {path}: the file is empty")
    if "\n" in text:
        raise ReidbenchError(f"malformed ID list {path}: expected one line of comma-separated IDs")
    ids = []
    for token in text.split(","):
        token = token.strip()
        if not token.isdigit():
            raise ReidbenchError(f"malformed ID list {path}: '{token}' is not a person ID")
        ids.append(int(token))
    if len(set(ids)) != len(ids):
        raise ReidbenchError(f"malformed ID list {path}: repeated IDs")
    return tuple(sorted(ids))


def feature_dataset(names: list[str], file: Path, reference: SysuDataset | None = None) -> SysuDataset:
    """A listing-only dataset from a feature file's paths alone (``cam3/0006/0001.jpg``: camera, identity,
    and the position in the sorted folder, so the official trial table applies wherever the file covers
    the folders completely), of the test identities present: the reference's, else the official ones."""
    files: dict[tuple[int, int], list[str]] = {}
    for name in names:
        m = _FEATURE_PATH.match(name)
        if m is None:
            raise ReidbenchError(f"{file}: path '{name}' is outside the SYSU-MM01 layout "
                                 "(expected camK/NNNN/NNNN.jpg relative to the dataset root)")
        files.setdefault((int(m.group(1)), int(m.group(2))), []).append(name)
    present = {pid for _, pid in files}
    tests = tuple(sorted(present & set(reference.ids("test") if reference is not None else official_ids("test"))))
    if not tests:
        raise ReidbenchError("no test identity of the protocol appears in the feature file's paths")
    listing = {k: tuple(sorted(v)) for k, v in files.items() if k[1] in tests}
    _check_test_ids(listing, tests, Path("<feature file>"))
    return SysuDataset(Path("."), listing, {"train": (), "val": (), "test": tests}, name="features")


def looks_like(root: Path) -> bool:
    """A SYSU-MM01 layout has an ``exp`` folder of ID lists beside camera folders."""
    return (root / "exp").is_dir() and any((root / f"cam{c}").is_dir() for c in CAMERAS)


def load_sysu(root: str | os.PathLike, name: str | None = None) -> SysuDataset:
    """Read and validate a SYSU-MM01-layout dataset at ``root``."""
    root = Path(root).expanduser()
    if not root.exists():
        raise ReidbenchError(f"dataset root not found: {root}")
    if not root.is_dir():
        raise ReidbenchError(f"dataset root is not a folder: {root}")
    for cam in CAMERAS:
        if not (root / f"cam{cam}").is_dir():
            raise ReidbenchError(f"not a SYSU-MM01 layout: missing camera folder {root / f'cam{cam}'}")
    if not (root / "exp").is_dir():
        raise ReidbenchError(f"not a SYSU-MM01 layout: missing folder {root / 'exp'}")
    splits = {split: parse_id_list(root / "exp" / f"{split}_id.txt") for split in SPLITS}
    _check_disjoint(splits, root)
    files = _list_files(root)
    _check_test_ids(files, splits["test"], root)
    return SysuDataset(root, files, splits, name=name or root.name, synthetic=synthetic_metadata(root))


def _list_files(root: Path) -> dict[tuple[int, int], tuple[str, ...]]:
    files: dict[tuple[int, int], tuple[str, ...]] = {}
    for cam in CAMERAS:
        with os.scandir(root / f"cam{cam}") as entries:
            pid_dirs = sorted(e.name for e in entries if e.is_dir() and _PID_DIR.match(e.name))
        for pid_dir in pid_dirs:
            names = sorted(n for n in os.listdir(root / f"cam{cam}" / pid_dir) if _IMAGE.match(n))
            if names:
                files[(cam, int(pid_dir))] = tuple(f"cam{cam}/{pid_dir}/{n}" for n in names)
    return files


def _check_disjoint(splits: dict[str, tuple[int, ...]], root: Path) -> None:
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            both = set(splits[a]) & set(splits[b])
            if both:
                raise ReidbenchError(
                    f"malformed split in {root / 'exp'}: IDs {sorted(both)[:5]} are in both {a} and {b}")


def _check_test_ids(files: dict[tuple[int, int], tuple[str, ...]], test_ids: tuple[int, ...], root: Path) -> None:
    """Every test identity must be both a probe (IR) and in the all-search gallery (RGB)."""
    for pid in test_ids:
        if not any((cam, pid) in files for cam in IR_CAMS):
            raise ReidbenchError(f"test identity {pid:04d} has no images in the IR cameras 3, 6 under {root}")
        if not any((cam, pid) in files for cam in RGB_CAMS):
            raise ReidbenchError(f"test identity {pid:04d} has no images in the RGB cameras 1, 2, 4, 5 under {root}")


# --------------------------------------------------------------------------- official facts

OFFICIAL_SPLITS = ("train", "test")  # the official repository ships no validation list


def _official_file(name: str):
    return resources.files("reidbench.data").joinpath("sysu_official", name)


@lru_cache(maxsize=None)
def official_ids(split: str) -> tuple[int, ...]:
    """The official ``train_id.mat`` (296 IDs) or ``test_id.mat`` (96 IDs) list, ascending."""
    if split not in OFFICIAL_SPLITS:
        raise ReidbenchError(f"SYSU-MM01 has no official '{split}' ID list (known: {', '.join(OFFICIAL_SPLITS)})")
    import scipy.io  # only the synthetic planner and the official protocol need it

    with _official_file(f"{split}_id.mat").open("rb") as fh:
        return tuple(sorted(int(i) for i in scipy.io.loadmat(fh)["id"].ravel()))


@lru_cache(maxsize=1)
def official_counts() -> Mapping[tuple[int, int], int]:
    """The real image count of every (camera, ID) with at least one image (``image_counts.csv``)."""
    rows = csv.DictReader(_official_file("image_counts.csv").read_text(encoding="utf-8").splitlines())
    return MappingProxyType({(int(r["cam"]), int(r["pid"])): int(r["n_images"]) for r in rows})
