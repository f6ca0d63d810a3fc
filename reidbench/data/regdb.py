"""Reader for the RegDB layout (the real dataset and its replica).

Layout (``regdb_llcm.md`` A1)::

    <root>/Visible/<id>/<file>.bmp, <root>/Thermal/<id>/<file>.bmp
    <root>/idx/{train,test}_{visible,thermal}_{k}.txt   k = 1..10, lines "<relative path> <label>"

Each trial k is its own train/test split of the 412 identities (206/206), so a learned
method is trained once per trial. Decisions (open points D2 and D8 of the spec): a
person's identity is its folder number (the path's second component); the label column
must map one to one onto folders within each file (else the file is rejected), and
training labels must run 0..n-1 in file order; the validation identities of trial k
are a seeded tenth of its training identities (held out from training).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from reidbench.data.dataset import (Dataset, Split, check_inside, path_label_lines, split_off_validation,
                                    synthetic_metadata)
from reidbench.data.imageset import INFRARED, VISIBLE, CameraFacts, ImageSet, image_set
from reidbench.errors import ReidbenchError

TRIALS = 10
MODALITIES = {"visible": ("Visible", VISIBLE, 1), "thermal": ("Thermal", INFRARED, 2)}  # folder, code, camera
# A co-located dual camera: camera 1 visible, camera 2 thermal; they never filter each other out.
REGDB_CAMERAS = CameraFacts(location={1: 1, 2: 2}, modality={1: VISIBLE, 2: INFRARED},
                            names={1: "visible", 2: "thermal"})
VAL_SEED = 2024


@dataclass(frozen=True)
class IdxFile:
    """One idx file: its image paths (in file order), their identity (folder) and label."""

    paths: tuple[str, ...]
    pids: tuple[int, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class RegdbDataset(Dataset):
    """A validated RegDB-layout dataset: the 40 idx files and the listing."""

    kind = "regdb"
    label = "RegDB"
    cameras = REGDB_CAMERAS
    splits_per_trial = True
    num_trials = TRIALS

    root: Path
    idx: dict[tuple[str, str, int], IdxFile]  # (train|test, visible|thermal, trial 1..10)
    files: tuple[str, ...]
    name: str = ""
    synthetic: dict | None = None

    def split(self, trial: int = 0) -> Split:
        return split_off_validation(self._images("train", trial), self._images("test", trial), [VAL_SEED, trial])

    def _images(self, part: str, trial: int) -> ImageSet:
        """The visible file's images, then the thermal file's, in file order."""
        rows = [(p, pid, code, cam) for mod, (_, code, cam) in MODALITIES.items()
                for p, pid in zip(self.idx[(part, mod, trial + 1)].paths, self.idx[(part, mod, trial + 1)].pids)]
        return image_set(self.root, [r[0] for r in rows], [r[1] for r in rows], [r[3] for r in rows],
                         [r[2] for r in rows], REGDB_CAMERAS)

    def listing(self) -> list[str]:
        return list(self.files)

    def split_definition(self) -> str:
        h = hashlib.sha256()
        for key in sorted(self.idx):
            f = self.idx[key]
            h.update(f"{key}:{','.join(f'{p} {lab}' for p, lab in zip(f.paths, f.labels))}\n".encode())
        return h.hexdigest()


def looks_like(root: Path) -> bool:
    return (root / "idx").is_dir() and (root / "Visible").is_dir() and (root / "Thermal").is_dir()


def idx_name(part: str, modality: str, trial: int) -> str:
    return f"{part}_{modality}_{trial}.txt"


def load_regdb(root: Path, name: str | None = None) -> RegdbDataset:
    """Read and validate a RegDB-layout dataset; every problem is one line naming the file."""
    root = Path(root)
    for folder in ("Visible", "Thermal", "idx"):
        if not (root / folder).is_dir():
            raise ReidbenchError(f"not a RegDB layout: missing folder {root / folder}")
    files = tuple(sorted(p.relative_to(root).as_posix() for folder in ("Visible", "Thermal")
                         for p in (root / folder).rglob("*") if p.is_file()))
    real_root = Path(os.path.realpath(root))
    for rel in files:  # every file is fingerprinted: none may be a link out of the root
        check_inside(root, real_root, rel, f"RegDB image folder {root / rel.split('/')[0]}")
    present = set(files)
    idx = {}
    for trial in range(1, TRIALS + 1):
        for part in ("train", "test"):
            for mod in MODALITIES:
                idx[(part, mod, trial)] = _read_idx(root / "idx" / idx_name(part, mod, trial), mod, present, root)
        _check_trial(idx, trial, root)
    return RegdbDataset(root, idx, files, name=name or root.name, synthetic=synthetic_metadata(root))


def _read_idx(path: Path, modality: str, present: set[str], root: Path) -> IdxFile:
    folder = MODALITIES[modality][0]
    paths, pids, labels = [], [], []
    for n, rel, label in path_label_lines(path, "RegDB split file", root):
        parts = rel.split("/")
        if len(parts) != 3 or parts[0] != folder or not parts[1].isdigit():
            raise ReidbenchError(f"malformed split file {path}, line {n}: '{rel}' is not {folder}/<id>/<file>")
        if rel not in present:
            raise ReidbenchError(f"split file {path}, line {n}: image not found: {rel}")
        paths.append(rel)
        pids.append(int(parts[1]))
        labels.append(label)
    pairs = set(zip(labels, pids))
    if len(pairs) != len(set(labels)) or len(pairs) != len(set(pids)):
        raise ReidbenchError(f"malformed split file {path}: labels and identity folders do not match one to one")
    return IdxFile(tuple(paths), tuple(pids), tuple(labels))


def _check_trial(idx: dict, trial: int, root: Path) -> None:
    ids = {}
    for part in ("train", "test"):
        vis, the = idx[(part, "visible", trial)], idx[(part, "thermal", trial)]
        if set(vis.pids) != set(the.pids):
            raise ReidbenchError(f"malformed RegDB split {trial} under {root / 'idx'}: the {part} visible and "
                                 "thermal files hold different identities")
        ids[part] = set(vis.pids)
    both = ids["train"] & ids["test"]
    if both:
        raise ReidbenchError(f"malformed RegDB split {trial} under {root / 'idx'}: identities {sorted(both)[:5]} "
                             "are in both train and test")
    labels = idx[("train", "visible", trial)].labels
    if sorted(set(labels)) != list(range(len(set(labels)))):
        raise ReidbenchError(f"malformed split file {root / 'idx' / idx_name('train', 'visible', trial)}: "
                             "training labels must run 0..n-1")
