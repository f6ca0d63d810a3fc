"""Images for deep training: decoded once into a uint8 tensor, augmented in batches.

Decoding JPEGs is the usual bottleneck that leaves a GPU idle, so every image is
decoded and resized once (cached on disk through the run context) and kept as an
N x 3 x H x W uint8 tensor, on the training device when it fits. Augmentation
(flip, zero-pad + random crop) then runs as batched tensor ops on that device,
with its random parameters drawn from a saveable generator for exact resume.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from reidbench.data.imageset import ImageSet
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext
from reidbench.methods.deep.config import PROFILES, InputProfile


def get_profile(name: str) -> InputProfile:
    if name not in PROFILES:
        raise ReidbenchError(f"unknown input profile '{name}' (known: {', '.join(PROFILES)})")
    return PROFILES[name]


DECODE_VERSION = 1  # bump when the resize changes, to invalidate cached decodes


def decode_images(images: ImageSet, profile: InputProfile, ctx: RunContext,
                  progress: bool = False) -> torch.Tensor:
    """All images resized to the profile, as an N x 3 x H x W uint8 tensor (cached on disk)."""
    key: dict[str, Any] = {"h": profile.height, "w": profile.width, "resize": "pil_bilinear",
                           "v": DECODE_VERSION}
    if not ctx.dataset_fingerprint:
        key["root"] = str(images.root)  # without a fingerprint the listing alone is ambiguous

    def compute() -> np.ndarray:
        return _decode_all(images, profile, progress)

    arr = ctx.cached("deep_decoded", key, images, compute) if len(images) else \
        np.zeros((0, profile.height, profile.width, 3), np.uint8)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)


def _decode_all(images: ImageSet, profile: InputProfile, progress: bool) -> np.ndarray:
    out = np.empty((len(images), profile.height, profile.width, 3), np.uint8)
    size = (profile.width, profile.height)

    def load(i: int) -> None:
        img = Image.fromarray(images.read(i))
        out[i] = np.asarray(img.resize(size, Image.BILINEAR))

    # PIL releases the GIL while decoding and resizing, so threads scale.
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        list(tqdm(pool.map(load, range(len(images))), total=len(images), disable=not progress,
                  desc="decode", leave=False, unit="img"))
    return out


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images to float in [0, 1]; normalisation is the network's input encoder's job."""
    return x.float().div_(255.0)


class Augmenter:
    """Random flip and zero-pad + crop for a whole batch, on the batch's device.

    Parameters come from a CPU generator, drawn for the global batch so that all
    ranks advance it identically; each rank applies its slice.
    """

    def __init__(self, profile: InputProfile, seed: int):
        self.profile = profile
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, n: int) -> torch.Tensor:
        """n x 3 int64: flip flag, row offset, column offset (within the padded image)."""
        p = self.profile
        flip = torch.rand(n, generator=self.generator) < 0.5 if p.flip else torch.zeros(n, dtype=torch.bool)
        dy = torch.randint(0, 2 * p.pad + 1, (n,), generator=self.generator)
        dx = torch.randint(0, 2 * p.pad + 1, (n,), generator=self.generator)
        return torch.stack([flip.long(), dy, dx], 1)

    def apply(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Augment a B x 3 x H x W uint8 batch; returns float in [0, 1]."""
        params = params.to(x.device)
        flip = params[:, 0].bool()
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        pad = self.profile.pad
        if pad:
            b, _, h, w = x.shape
            padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # zeros = black, as PIL's Pad
            rows = params[:, 1, None] + torch.arange(h, device=x.device)  # B x H
            cols = params[:, 2, None] + torch.arange(w, device=x.device)  # B x W
            batch = torch.arange(b, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        return to_unit_float(x)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
