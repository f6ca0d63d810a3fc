"""How a network sees an image: RGB, grey, or Wu et al.'s 2-channel zero-padding.

The encoder sits inside the network, so the data pipeline stays one uint8
3-channel tensor for every method and the encoding is saved with the model.
"""
from __future__ import annotations

import torch
from torch import nn

from reidbench.errors import ReidbenchError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Averages of ImageNet's channel statistics: the grey normalisation (spec 5).
GREY_MEAN, GREY_STD = 0.449, 0.226
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601; an IR image (R = G = B) keeps its value
CHANNELS = {"rgb": 3, "grey": 1, "zero_pad": 2}


class InputEncoder(nn.Module):
    """[0, 1] RGB batch (+ modality) -> the normalised tensor a backbone expects.

    ``zero_pad``: RGB images go grey into channel 0, IR into channel 1, and the
    other channel is exactly zero after normalisation, so it adds nothing.
    """

    def __init__(self, mode: str):
        super().__init__()
        if mode not in CHANNELS:
            raise ReidbenchError(f"unknown input encoding '{mode}' (known: {', '.join(CHANNELS)})")
        self.mode = mode
        self.channels = CHANNELS[mode]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, modalities: torch.Tensor) -> torch.Tensor:
        if self.mode == "rgb":
            return (x - self.mean) / self.std
        grey = ((x * self.luma).sum(1, keepdim=True) - GREY_MEAN) / GREY_STD
        if self.mode == "grey":
            return grey
        ir = modalities.to(grey.dtype).view(-1, 1, 1, 1)
        return torch.cat([grey * (1 - ir), grey * ir], 1)
