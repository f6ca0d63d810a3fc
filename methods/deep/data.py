"""Images for deep training: decoded once into a uint8 tensor, augmented in batches.

Decoding JPEGs is the usual bottleneck that leaves a GPU idle, so every image is
decoded and resized once (cached on disk through the run context) and kept as an
N x 3 x H x W uint8 tensor, on the training device when it fits. Augmentation
(flip, zero-pad + random crop, random erasing) then runs as batched tensor ops on that device,
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
from reidbench.methods.deep.encoding import IMAGENET_MEAN


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


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without a host sync: pinned and copied asynchronously on CUDA.

    A copy from pageable memory makes the host wait for the GPU to drain its queue.
    """
    if device.type != "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


# Random erasing (Zhong et al., AAAI 2020): area 2-40 % of the image, aspect ratio 0.3-3.3,
# filled with the ImageNet mean (zero after normalisation); a box that does not fit is
# drawn again, up to ERASE_ATTEMPTS times, else the image stays whole.
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 1 / 0.3)
ERASE_ATTEMPTS = 10


class Augmenter:
    """Random flip, zero-pad + crop and random erasing for a whole batch, on the batch's device.

    Parameters come from a CPU generator, drawn for the global batch so that all
    ranks advance it identically; each rank applies its slice. Every draw has a
    fixed size, so the generator's stream never depends on the data.
    """

    def __init__(self, profile: InputProfile, erase: float, seed: int):
        self.profile = profile
        self.erase = erase
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, n: int) -> torch.Tensor:
        """n x 3 int64 (flip flag, row offset, column offset within the padded image), then
        with erasing 5 more: erase flag, box top, left, height, width."""
        p = self.profile
        flip = torch.rand(n, generator=self.generator) < 0.5 if p.flip else torch.zeros(n, dtype=torch.bool)
        dy = torch.randint(0, 2 * p.pad + 1, (n,), generator=self.generator)
        dx = torch.randint(0, 2 * p.pad + 1, (n,), generator=self.generator)
        params = torch.stack([flip.long(), dy, dx], 1)
        return torch.cat([params, self._draw_boxes(n)], 1) if self.erase > 0 else params

    def _draw_boxes(self, n: int) -> torch.Tensor:
        """n x 5: erase flag, top, left, height, width (the first attempt that fits)."""
        h, w = self.profile.height, self.profile.width
        shape = (n, ERASE_ATTEMPTS)
        erase = torch.rand(n, generator=self.generator) < self.erase
        area = h * w * (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * torch.rand(shape, generator=self.generator))
        aspect = ERASE_ASPECT[0] + (ERASE_ASPECT[1] - ERASE_ASPECT[0]) * torch.rand(shape, generator=self.generator)
        bh = (area * aspect).sqrt().round().long()
        bw = (area / aspect).sqrt().round().long()
        top_u, left_u = torch.rand(shape, generator=self.generator), torch.rand(shape, generator=self.generator)
        fits = (bh < h) & (bw < w)
        first = fits.long().argmax(1, keepdim=True)  # the first fitting attempt (0 if none fits)

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.gather(1, first).squeeze(1)

        bh, bw = pick(bh), pick(bw)
        top = (pick(top_u) * (h - bh + 1).clamp_min(1)).long()
        left = (pick(left_u) * (w - bw + 1).clamp_min(1)).long()
        return torch.stack([(erase & fits.any(1)).long(), top, left, bh, bw], 1)

    def apply(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Augment a B x 3 x H x W uint8 batch with parameters already on its device; returns float in [0, 1]."""
        flip = params[:, 0].bool()
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        pad = self.profile.pad
        b, _, h, w = x.shape
        if pad:
            padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # zeros = black, as PIL's Pad
            rows = params[:, 1, None] + torch.arange(h, device=x.device)  # B x H
            cols = params[:, 2, None] + torch.arange(w, device=x.device)  # B x W
            batch = torch.arange(b, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        x = to_unit_float(x)
        if params.shape[1] > 3:
            x = self._erase(x, params[:, 3:])
        return x

    @staticmethod
    def _erase(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        on, top, left, bh, bw = boxes.unbind(1)
        rows = torch.arange(x.shape[2], device=x.device)[None, :]
        cols = torch.arange(x.shape[3], device=x.device)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + bh)[:, None])  # B x H
        in_cols = (cols >= left[:, None]) & (cols < (left + bw)[:, None])  # B x W
        mask = (in_rows[:, :, None] & in_cols[:, None, :] & on.bool()[:, None, None])[:, None]
        fill = to_device(torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(1, 3, 1, 1), x.device)
        return torch.where(mask, fill, x)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
