"""A synthetic RegDB replica, written in the real dataset's layout (``regdb_llcm.md`` C1).

Each identity gets 10 visible and 10 thermal images from a co-located dual camera (the
same moment through both sensors: the same frame number, the same pose draws), named
``<gender>_<view>_<v|t>_<5-digit frame>_<id>.bmp`` in ``Visible/<id>/`` and
``Thermal/<id>/`` (identity folders numbered from 1: a decision, the real numbering is
unverified). ``idx/`` holds 10 seeded splits of the identities into two halves, in the
real files' format: ``<relative path> <label>``, labels 0..n-1 in file order, 10
consecutive lines per label, visible and thermal files aligned. The real splits are
not public, so these are reidbench's own, labelled synthetic. Thermal images are
rendered like the SYSU replica's infrared ones. Pixels are bit-identical on every
machine (:mod:`reidbench.data.portable`), BMP files are uncompressed.

Presets: ``full`` 412 identities (206/206 per split, 8,240 images), ``small`` 64,
``tiny`` 16.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from reidbench.data.regdb import TRIALS, idx_name
from reidbench.data.synth import Camera, _default_workers, build_replica, identity, render_shot, run_jobs
from reidbench.errors import ReidbenchError

GENERATOR_VERSION = 1
PRESETS = {"tiny": 16, "small": 64, "full": 412}  # identities
IMAGES = 10  # per identity and modality
HEIGHTS = (96, 144)
_TAG_IDENTITY, _TAG_IMAGE, _TAG_SPLIT, _TAG_NAME = 11, 12, 13, 14
CAMERAS = {  # the dual camera: one scene through two sensors
    "v": Camera(False, "gate", 0.5, 2.4, (0.5, 0.5, 0.0), 1.0, (1.0, 1.0, 1.0), 0.6, 0.012),
    "t": Camera(True, "gate", 0.5, 2.4, (0.5, 0.5, 0.0), 0.95, (1.0, 1.0, 1.0), 1.2, 0.04),
}
FOLDERS = {"v": "Visible", "t": "Thermal"}


def bmp(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="BMP")
    return buf.getvalue()


def file_names(seed: int, pid: int, sensor: str) -> list[str]:
    """The identity's 10 file names: gender and a view per frame, frame numbers shared by both sensors."""
    rng = np.random.default_rng([_TAG_NAME, seed, pid])
    gender = "female" if rng.random() < 0.4 else "male"
    frames = np.sort(rng.choice(np.arange(1, 100000), size=IMAGES, replace=False))
    views = rng.choice(["front", "back"], size=IMAGES)
    return [f"{gender}_{v}_{sensor}_{f:05d}_{pid}.bmp" for v, f in zip(views, frames)]


def _write_identity(root: Path, seed: int, pid: int) -> int:
    idn = identity(seed, pid, _TAG_IDENTITY)
    for sensor, folder in FOLDERS.items():
        out = root / folder / str(pid)
        out.mkdir(parents=True)
        for i, name in enumerate(file_names(seed, pid, sensor), 1):
            # One key per moment: both sensors see the same pose, crop and lighting draws.
            img = render_shot([_TAG_IMAGE, seed, pid, i], CAMERAS[sensor], idn, HEIGHTS)
            (out / name).write_bytes(bmp(img))
    return 2 * IMAGES


def splits(seed: int, n_ids: int) -> list[tuple[list[int], list[int]]]:
    """10 seeded halvings of the identities 1..n: (train IDs, test IDs), each ascending."""
    out = []
    for trial in range(1, TRIALS + 1):
        perm = np.random.default_rng([_TAG_SPLIT, seed, trial]).permutation(np.arange(1, n_ids + 1))
        out.append((sorted(perm[: n_ids // 2].tolist()), sorted(perm[n_ids // 2:].tolist())))
    return out


def _write_idx(root: Path, seed: int, n_ids: int) -> None:
    (root / "idx").mkdir()
    for trial, (train, test) in enumerate(splits(seed, n_ids), 1):
        for part, ids in (("train", train), ("test", test)):
            for sensor, modality in (("v", "visible"), ("t", "thermal")):
                lines = [f"{FOLDERS[sensor]}/{pid}/{name} {label}" for label, pid in enumerate(ids)
                         for name in file_names(seed, pid, sensor)]
                (root / "idx" / idx_name(part, modality, trial)).write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate(out: Path, preset: str = "small", seed: int = 0, progress: bool = True,
             *, workers: int | None = None) -> Path:
    """Write a synthetic RegDB replica to ``out`` and return ``out``."""
    if preset not in PRESETS:
        raise ReidbenchError(f"unknown RegDB preset {preset!r}; valid: {', '.join(PRESETS)}")
    n_ids = PRESETS[preset]

    def fill(root: Path, bar: tqdm) -> dict:
        jobs = [(root, int(seed), pid) for pid in range(1, n_ids + 1)]
        run_jobs(_write_identity, jobs, workers or _default_workers(2 * IMAGES * n_ids), bar)
        _write_idx(root, int(seed), n_ids)
        return {"generator": "reidbench.data.synth_regdb", "generator_version": GENERATOR_VERSION,
                "preset": {"name": preset, "identities": n_ids, "images_per_modality": IMAGES}, "seed": seed,
                "n_images": 2 * IMAGES * n_ids, "splits": "10 seeded halvings (synthetic, not RegDB's own)"}

    return build_replica(Path(out), seed, 2 * IMAGES * n_ids, f"synth regdb {preset}", progress, fill)
