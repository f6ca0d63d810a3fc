"""``reidbench features``: a hand-crafted descriptor for every image in a folder.

Lets LOMO (or HOG) be reused outside the benchmark: the npz holds ``features``
and ``paths`` (relative to the folder), the same format ``reidbench eval`` reads.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reidbench.atomic import atomic_open, ensure_writable
from reidbench.data.imageset import CameraFacts, image_set
from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.methods import DESCRIPTORS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(folder: Path) -> list[str]:
    """Image files below ``folder`` (recursive), as sorted relative POSIX paths."""
    if not folder.is_dir():
        raise ReidbenchError(f"image folder not found: {folder}")
    found = []
    for dirpath, _, names in os.walk(folder):
        for name in names:
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append((Path(dirpath) / name).relative_to(folder).as_posix())
    if not found:
        raise ReidbenchError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return sorted(found)


DTYPES = ("float32", "float64")


def export_features(descriptor: str, images: Path, out: Path, resize: str = "bicubic",
                    progress: bool = True, dtype: str = "float32") -> Path:
    """Describe every image under ``images`` and write ``out`` atomically.

    float32 by default (half the file; what the benchmark's own cache holds, and every strict
    order of distances survives it); ``dtype="float64"`` keeps the descriptors' full precision.
    """
    if dtype not in DTYPES:
        raise ReidbenchError(f"unknown dtype '{dtype}' (known: {', '.join(DTYPES)})")
    if descriptor not in DESCRIPTORS:
        raise ReidbenchError(f"unknown descriptor '{descriptor}' (known: {', '.join(DESCRIPTORS)})")
    paths = list_images(Path(images))
    zeros = np.zeros(len(paths), np.int64)  # a plain folder: no identities, cameras or modalities
    listing = image_set(Path(images), paths, zeros, zeros, zeros, CameraFacts(location={}, modality={}))
    feats = DESCRIPTORS[descriptor].compute(listing, resize, progress, dtype=np.dtype(dtype).type)
    out = Path(out)
    ensure_writable(out.parent if str(out.parent) else Path("."))
    with atomic_open(out) as fh:
        np.savez(fh, features=feats, paths=np.array(paths))
    return out
