"""Reader for the LLCM layout (the real dataset and its replica).

Layout (``regdb_llcm.md`` B1)::

    <root>/idx/train_vis.txt, train_nir.txt     lines "<relative path> <label>" into vis/, nir/
    <root>/idx/test_id.txt                      one line of comma-separated test IDs
    <root>/vis/<pid %04d>/<file>, <root>/nir/<pid %04d>/<file>
    <root>/test_vis/cam<k>/<pid %04d>/<file>, <root>/test_nir/cam<k>/<pid %04d>/<file>

Files are named ``<pid %04d>_c<cam %02d>_s<6 digits>_f<4 digits>_<vis|nir>.jpg``; the
nine cameras film in both modalities (camera k by day is camera k by night). The test
protocol reads the camera folders the official code lists (:data:`TEST_CAMERAS`: no
``test_nir/cam3``), parsing camera and ID relative to the root (the official code's
first-``cam``-in-the-path parsing breaks under some roots). Every path, listed or found,
must stay inside the root. Decision
(spec D8): the validation identities are a seeded tenth of the 713 training identities.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from reidbench.data.dataset import (Dataset, Split, check_inside, path_label_lines, split_off_validation,
                                    synthetic_metadata)
from reidbench.data.imageset import INFRARED, VISIBLE, CameraFacts, ImageSet, image_set
from reidbench.data.sysu import parse_id_list
from reidbench.errors import ReidbenchError

CAMERAS = tuple(range(1, 10))
# One number is one place; a probe never meets its own identity's images of its own camera (eval_llcm).
LLCM_CAMERAS = CameraFacts(location={c: c for c in CAMERAS}, modality={c: None for c in CAMERAS},
                           exclude="identity_at_place")
TEST_FOLDERS = {VISIBLE: "test_vis", INFRARED: "test_nir"}
# The camera folders the official code reads (DEEN/data_manager.py, process_query_llcm and
# process_gallery_llcm): all nine VIS cameras, NIR without camera 3; test_nir/cam3 is never read.
TEST_CAMERAS = {VISIBLE: CAMERAS, INFRARED: tuple(c for c in CAMERAS if c != 3)}
TRAIN_FILES = {VISIBLE: "train_vis.txt", INFRARED: "train_nir.txt"}
VAL_SEED = 2023
FILE = re.compile(r"^(\d{4})_c(\d{2})_s\d{6}_f\d{4}_(vis|nir)\.(jpg|png|bmp)$")


@dataclass(frozen=True, eq=False)
class LlcmDataset(Dataset):
    """A validated LLCM-layout dataset: training lists, test identities, camera folders."""

    kind = "llcm"
    label = "LLCM"
    cameras = LLCM_CAMERAS

    root: Path
    train_rows: tuple[tuple[str, int, int, int], ...]  # (path, pid, camera, modality)
    test_rows: tuple[tuple[str, int, int, int], ...]  # camera folders: NIR then VIS, ID-major, camera, file
    test_ids: tuple[int, ...]
    name: str = ""
    synthetic: dict | None = None

    def split(self, trial: int = 0) -> Split:
        return split_off_validation(_images(self.root, self.train_rows), _images(self.root, self.test_rows), VAL_SEED)

    def listing(self) -> list[str]:
        return sorted({r[0] for r in self.train_rows} | {r[0] for r in self.test_rows})

    def split_definition(self) -> str:
        h = hashlib.sha256("\n".join(f"{r[0]}" for r in self.train_rows).encode())
        return f"{h.hexdigest()}:{','.join(map(str, self.test_ids))}"


def _images(root: Path, rows: tuple[tuple[str, int, int, int], ...]) -> ImageSet:
    return image_set(root, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                     LLCM_CAMERAS)


def looks_like(root: Path) -> bool:
    return (root / "idx").is_dir() and (root / "test_vis").is_dir() and (root / "test_nir").is_dir()


def parse_name(name: str, where: Path) -> tuple[int, int, int]:
    """(pid, camera, modality) of an LLCM file name; a clear error otherwise."""
    m = FILE.match(name)
    if m is None:
        raise ReidbenchError(f"not an LLCM image name: {where} (expected <pid>_c<cam>_s<6>_f<4>_<vis|nir>.jpg)")
    return int(m.group(1)), int(m.group(2)), VISIBLE if m.group(3) == "vis" else INFRARED


def load_llcm(root: Path, name: str | None = None) -> LlcmDataset:
    """Read and validate an LLCM-layout dataset; every problem is one line naming the file."""
    root = Path(root)
    for folder in ("idx", "test_vis", "test_nir"):
        if not (root / folder).is_dir():
            raise ReidbenchError(f"not an LLCM layout: missing folder {root / folder}")
    test_ids = parse_id_list(root / "idx" / "test_id.txt")
    train = tuple(row for mod, fname in TRAIN_FILES.items() for row in _read_train(root / "idx" / fname, root, mod))
    both = {r[1] for r in train} & set(test_ids)
    if both:
        raise ReidbenchError(f"malformed LLCM split under {root / 'idx'}: identities {sorted(both)[:5]} are in "
                             "both the training lists and test_id.txt")
    test = tuple(_camera_folders(root, INFRARED, test_ids) + _camera_folders(root, VISIBLE, test_ids))
    for pid in test_ids:
        for mod in (VISIBLE, INFRARED):
            if not any(r[1] == pid and r[3] == mod for r in test):
                raise ReidbenchError(f"test identity {pid:04d} has no images in {root / TEST_FOLDERS[mod]}")
    return LlcmDataset(root, train, test, test_ids, name=name or root.name, synthetic=synthetic_metadata(root))


def _read_train(path: Path, root: Path, modality: int) -> list[tuple[str, int, int, int]]:
    rows = []
    for n, rel, _ in path_label_lines(path, "LLCM list", root):
        if not (root / rel).is_file():
            raise ReidbenchError(f"list {path}, line {n}: image not found: {rel}")
        pid, cam, mod = parse_name(Path(rel).name, root / rel)
        if mod != modality:
            raise ReidbenchError(f"list {path}, line {n}: {rel} is not a {('VIS', 'NIR')[modality]} image")
        rows.append((rel, pid, cam, mod))
    return rows


def _camera_folders(root: Path, modality: int, test_ids: tuple[int, ...]) -> list[tuple[str, int, int, int]]:
    """Test images of one modality: ID-major, then camera, then sorted file name (the official order)."""
    top = TEST_FOLDERS[modality]
    real_root = Path(os.path.realpath(root))
    rows = []
    for pid in test_ids:
        for cam in TEST_CAMERAS[modality]:
            folder = root / top / f"cam{cam}" / f"{pid:04d}"
            if not folder.is_dir():
                continue
            for fname in sorted(p.name for p in folder.iterdir() if p.is_file()):
                f_pid, f_cam, f_mod = parse_name(fname, folder / fname)
                if (f_pid, f_cam, f_mod) != (pid, cam, modality):
                    raise ReidbenchError(f"{folder / fname}: its name disagrees with its folder")
                rel = f"{top}/cam{cam}/{pid:04d}/{fname}"
                check_inside(root, real_root, rel, f"LLCM test folder {folder}")
                rows.append((rel, pid, cam, modality))
    return rows
