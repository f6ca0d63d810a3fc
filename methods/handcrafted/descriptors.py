"""Descriptor extraction over an ImageSet: load, resize, describe in batches, cache.

Descriptors depend only on the images, so they are cached per (descriptor,
dataset, image list) and shared by every matcher that uses them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image
from tqdm import tqdm

from reidbench.data.imageset import ImageSet
from reidbench.methods.base import RunContext

RESIZE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


@dataclass(frozen=True)
class Descriptor:
    """A batch function on uint8 images of one canonical size (H, W)."""

    name: str
    size: tuple[int, int]
    fn: Callable[[np.ndarray], np.ndarray]
    version: str
    batch: int = 256

    def extract(self, images: ImageSet, ctx: RunContext, resize: str = "bicubic") -> np.ndarray:
        key = {"descriptor": self.name, "version": self.version, "size": self.size, "resize": resize}
        return ctx.cached(f"descriptors/{self.name}", key, images,
                          lambda: self.compute(images, resize, ctx.progress))

    def compute(self, images: ImageSet, resize: str = "bicubic", progress: bool = False,
                dtype: type = np.float32) -> np.ndarray:
        """Descriptors of every image, in batches, with a progress bar.

        float32 is plenty for matching and halves the cache; export keeps float64.
        """
        out = None
        bar = tqdm(total=len(images), desc=f"{self.name} features", unit="img", disable=not progress)
        for lo in range(0, len(images), self.batch):
            idx = range(lo, min(lo + self.batch, len(images)))
            batch = np.stack([to_size(images.read(i), self.size, resize) for i in idx])
            feats = np.asarray(self.fn(batch), dtype=dtype)
            if out is None:
                out = np.empty((len(images), feats.shape[1]), dtype=dtype)
            out[lo:lo + len(idx)] = feats
            bar.update(len(idx))
        bar.close()
        return out if out is not None else np.empty((0, 0), dtype=dtype)


def to_size(img: np.ndarray, size: tuple[int, int], resize: str = "bicubic") -> np.ndarray:
    """Resize an H x W x 3 uint8 image to ``size`` = (H, W); an image already that size is kept."""
    if img.shape[:2] == tuple(size):
        return img
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), RESIZE[resize]))
