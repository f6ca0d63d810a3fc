"""Reader for the SYSU-MM01 folder layout (the real dataset and its synthetic replica).

Layout: ``<root>/cam1..cam6/<pid:04d>/<img:04d>.jpg`` and
``<root>/exp/{train,val,test}_id.txt``, each list one line of comma-separated IDs.
The layout is validated up front so a broken dataset fails with one line naming
what is missing, before any work is done.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np

from reidbench.data.imageset import IR_CAMS, RGB_CAMS, ImageSet
from reidbench.errors import ReidbenchError

CAMERAS = (1, 2, 3, 4, 5, 6)
SPLITS = ("train", "val", "test")
_PID_DIR = re.compile(r"^\d{4}$")
_IMAGE = re.compile(r"^\d{4}\.jpg$")


@dataclass(frozen=True, eq=False)
class SysuDataset:
    """A validated SYSU-MM01-layout dataset: file lists per (camera, ID) and the split."""

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
        wanted = sorted(set(pids))
        paths: list[str] = []
        pid_col: list[int] = []
        cam_col: list[int] = []
        for cam in sorted(cams):
            for pid in wanted:
                names = self.files.get((cam, pid), ())
                paths.extend(names)
                pid_col.extend([pid] * len(names))
                cam_col.extend([cam] * len(names))
        return ImageSet(self.root, tuple(paths), np.asarray(pid_col, dtype=np.int64),
                        np.asarray(cam_col, dtype=np.int64))

    @property
    def train(self) -> ImageSet:
        return self.images(self.splits["train"])

    @property
    def val(self) -> ImageSet:
        return self.images(self.splits["val"])

    @property
    def test(self) -> ImageSet:
        return self.images(self.splits["test"])

    @property
    def num_images(self) -> int:
        return sum(len(v) for v in self.files.values())

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the listing, file sizes and split lists: a cache key for features."""
        h = hashlib.sha256()
        for split in SPLITS:
            h.update(f"{split}:{','.join(map(str, self.splits[split]))}\n".encode())
        for key in sorted(self.files):
            for rel in self.files[key]:
                h.update(f"{rel}:{(self.root / rel).stat().st_size}\n".encode())
        return h.hexdigest()[:16]


def parse_id_list(path: Path) -> tuple[int, ...]:
    """Parse one line of comma-separated integers (the ``exp/*_id.txt`` format)."""
    if not path.is_file():
        raise ReidbenchError(f"missing ID list: {path}")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ReidbenchError(f"malformed ID list {path}: not UTF-8 text (byte {exc.start})") from None
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
    return SysuDataset(root, files, splits, name=name or root.name, synthetic=_synthetic_metadata(root))


def _synthetic_metadata(root: Path) -> dict | None:
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
