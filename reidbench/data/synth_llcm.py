"""A synthetic LLCM replica, written in the real dataset's layout (``regdb_llcm.md`` C2).

LLCM's per-(modality, camera, identity) counts are not published, so the replica matches
the published totals only (this is its decision, spec D6): 1,064 identities, 713
training and 351 test, and the per-modality image totals (training 16,946 VIS + 13,975
NIR, test 8,680 VIS + 7,166 NIR; 46,767 in all). Each identity is seen by 2-5 of the
nine cameras in each modality (NIR never by camera 3, as the official test code lists
no ``test_nir/cam3``), every folder holds at least one image, and the rest of a
modality's total is spread over the folders by a seeded multinomial draw. The nine
cameras film by day (VIS, dim: LLCM is a low-light dataset) and by night (NIR) in one
scene each. Written: ``vis/`` and ``nir/`` trees of every image, ``idx/`` lists
(``<path> <label>``, training labels 0..712 in file order) and ``test_id.txt``, and the
camera-folder copies ``test_vis/cam<k>/`` and ``test_nir/cam<k>/`` the test protocol
reads. Pixels are bit-identical on every machine (:mod:`reidbench.data.portable`).

Presets scale every total: ``full`` (1,064 identities), ``small`` (80 + 40), ``tiny`` (12 + 8).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reidbench.data.imageset import INFRARED, VISIBLE
from reidbench.data.llcm import CAMERAS, TEST_CAMERAS, TEST_FOLDERS
from reidbench.data.synth import Camera, _default_workers, build_replica, encode_jpeg, identity, render_shot, run_jobs
from reidbench.errors import ReidbenchError

GENERATOR_VERSION = 1
HEIGHTS = (96, 160)
NIR_CAMERAS = TEST_CAMERAS[INFRARED]  # the official code reads no test_nir/cam3
_TAG_IDENTITY, _TAG_IMAGE, _TAG_PLAN, _TAG_NAME = 21, 22, 23, 24
_SCENES = ("room1", "room2", "gate", "garden", "passage", "room1", "gate", "garden", "passage")
SUFFIX = {VISIBLE: "vis", INFRARED: "nir"}


@dataclass(frozen=True)
class LlcmPreset:
    train_ids: int
    test_ids: int
    images: dict[tuple[str, int], int]  # (train|test, modality) -> total images


_FULL = {("train", VISIBLE): 16946, ("train", INFRARED): 13975, ("test", VISIBLE): 8680, ("test", INFRARED): 7166}
PRESETS = {
    "full": LlcmPreset(713, 351, dict(_FULL)),
    "small": LlcmPreset(80, 40, {k: round(v * (80 if k[0] == "train" else 40) / (713 if k[0] == "train" else 351))
                                 for k, v in _FULL.items()}),
    "tiny": LlcmPreset(12, 8, {("train", VISIBLE): 96, ("train", INFRARED): 80, ("test", VISIBLE): 80,
                               ("test", INFRARED): 64}),
}


def camera(cam: int, modality: int) -> Camera:
    """Camera ``cam`` (1..9) by day (VIS, dim) or by night (NIR): one scene, two sensors."""
    scene = _SCENES[cam - 1]
    if modality == INFRARED:
        return Camera(True, scene, 0.3 + 0.05 * (cam % 5), 2.5, (0.4, 0.4, 0.2), 0.9, (1.0, 1.0, 1.0), 1.2, 0.045)
    cast = ((1.0, 0.95, 0.85), (0.9, 0.95, 1.05), (1.0, 1.0, 0.95))[cam % 3]
    return Camera(False, scene, 0.3 + 0.05 * (cam % 5), 2.5, (0.4, 0.4, 0.2), 0.55 + 0.03 * (cam % 4), cast,
                  0.9, 0.03)


def plan(preset: str, seed: int) -> tuple[list[int], list[int], list[tuple[str, int, int, int, int]]]:
    """(train IDs, test IDs, cells): one cell (part, modality, camera, pid, n_images) per folder."""
    p = PRESETS[preset]
    ids = np.random.default_rng([_TAG_PLAN, seed]).permutation(np.arange(1, p.train_ids + p.test_ids + 1))
    parts = {"train": sorted(ids[: p.train_ids].tolist()), "test": sorted(ids[p.train_ids:].tolist())}
    cells = []
    for (part, modality), total in p.images.items():
        rng = np.random.default_rng([_TAG_PLAN, seed, 1 if part == "train" else 2, modality])
        allowed = np.array(CAMERAS if modality == VISIBLE else NIR_CAMERAS)
        folders = [(pid, int(cam)) for pid in parts[part]
                   for cam in np.sort(rng.choice(allowed, size=int(rng.integers(2, 6)), replace=False))]
        if total < len(folders):
            raise ReidbenchError(f"LLCM preset {preset}: {total} images cannot fill {len(folders)} folders")
        counts = 1 + rng.multinomial(total - len(folders), np.full(len(folders), 1 / len(folders)))
        cells += [(part, modality, cam, pid, int(n)) for (pid, cam), n in zip(folders, counts)]
    return parts["train"], parts["test"], cells


def file_name(seed: int, modality: int, cam: int, pid: int, index: int) -> str:
    rng = np.random.default_rng([_TAG_NAME, seed, modality, cam, pid, index])
    return (f"{pid:04d}_c{cam:02d}_s{int(rng.integers(100000, 999999)):06d}_f{int(rng.integers(1000, 9999)):04d}"
            f"_{SUFFIX[modality]}.jpg")


def _write_cell(root: Path, seed: int, part: str, modality: int, cam: int, pid: int, n: int) -> int:
    idn = identity(seed, pid, _TAG_IDENTITY)
    folder = root / SUFFIX[modality] / f"{pid:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    copies = root / TEST_FOLDERS[modality] / f"cam{cam}" / f"{pid:04d}"
    if part == "test":
        copies.mkdir(parents=True)
    for i in range(1, n + 1):
        data = encode_jpeg(render_shot([_TAG_IMAGE, seed, modality, cam, pid, i], camera(cam, modality), idn,
                                       HEIGHTS))
        name = file_name(seed, modality, cam, pid, i)
        (folder / name).write_bytes(data)
        if part == "test":
            shutil.copyfile(folder / name, copies / name)
    return n


def _write_lists(root: Path, seed: int, train: list[int], test: list[int],
                 cells: list[tuple[str, int, int, int, int]]) -> None:
    (root / "idx").mkdir()
    (root / "idx" / "test_id.txt").write_text(",".join(map(str, test)) + "\n", encoding="utf-8")
    by_folder: dict[tuple[str, int, int], list[tuple[int, int]]] = {}
    for part, modality, cam, pid, n in cells:
        by_folder.setdefault((part, modality, pid), []).append((cam, n))
    for part, ids in (("train", train), ("test", test)):
        for modality in (VISIBLE, INFRARED):
            lines = [f"{SUFFIX[modality]}/{pid:04d}/{file_name(seed, modality, cam, pid, i)} {label}"
                     for label, pid in enumerate(ids) for cam, n in by_folder.get((part, modality, pid), [])
                     for i in range(1, n + 1)]
            (root / "idx" / f"{part}_{SUFFIX[modality]}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate(out: Path, preset: str = "small", seed: int = 0, progress: bool = True,
             *, workers: int | None = None) -> Path:
    """Write a synthetic LLCM replica to ``out`` and return ``out``."""
    if preset not in PRESETS:
        raise ReidbenchError(f"unknown LLCM preset {preset!r}; valid: {', '.join(PRESETS)}")
    train, test, cells = plan(preset, int(seed))
    total = sum(n for *_, n in cells)

    def fill(root: Path, bar: tqdm) -> dict:
        run_jobs(_write_cell, [(root, int(seed), *cell) for cell in cells], workers or _default_workers(total), bar)
        _write_lists(root, int(seed), train, test, cells)
        counts = {f"{part}_{SUFFIX[m]}": sum(n for c_part, c_mod, _, _, n in cells if (c_part, c_mod) == (part, m))
                  for part in ("train", "test") for m in (VISIBLE, INFRARED)}
        return {"generator": "reidbench.data.synth_llcm", "generator_version": GENERATOR_VERSION,
                "preset": {"name": preset, "train_ids": len(train), "test_ids": len(test)}, "seed": seed,
                "n_images": total, "images": counts,
                "counts": "published totals only; per-camera counts are reidbench's seeded draw"}

    return build_replica(Path(out), seed, total, f"synth llcm {preset}", progress, fill)
