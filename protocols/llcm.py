"""LLCM's protocol (``regdb_llcm.md`` B3, B6): seeded single-shot galleries over 10 trials.

Every test image of the probe modality is a probe; trial t's gallery takes, with
``random.Random(t)`` (the official ``random.seed(t)`` stream), one image of each
(test ID, camera) folder of the other modality, ID-major then camera, from the sorted
file list. Probes never meet gallery images of their own identity and physical camera
(either modality); the CMC is identity-deduplicated. Settings:

- ``ir2vis``: NIR probes, VIS galleries (the official default).
- ``vis2ir``: VIS probes, NIR galleries: the true direction, as ``DEEN/train.py`` evaluates.
- ``vis2ir-testpy``: the official ``test.py`` "VIS->IR" mode, kept only to compare with
  numbers published from it: it scores *sampled single-shot NIR probes against the
  full VIS gallery*, not VIS->IR.
"""
from __future__ import annotations

import random

import numpy as np

from reidbench.data.imageset import INFRARED, VISIBLE, ImageSet
from reidbench.data.llcm import LlcmDataset
from reidbench.protocols.base import Galleries, Protocol
from reidbench.protocols.settings import Setting

LLCM_SEEDED = "llcm_seeded"
LLCM_FULL = "llcm_full_vis"
IR2VIS = Setting("ir2vis", "IR to VIS")
VIS2IR = Setting("vis2ir", "VIS to IR")
VIS2IR_TESTPY = Setting("vis2ir-testpy", "test.py 'VIS to IR' (sampled IR probes vs all VIS)")


def draw_single_shot(images: ImageSet, modality: int, trial: int) -> np.ndarray:
    """Rows of one random image per (ID, camera) of ``modality``: ID-major, then camera (official order)."""
    rng = random.Random(trial)
    rows = np.flatnonzero(images.modality == modality)
    cells: dict[tuple[int, int], list[int]] = {}
    for r in rows:  # the evaluation set lists each folder's files in sorted order, ID-major then camera
        cells.setdefault((int(images.pids[r]), int(images.cams[r])), []).append(int(r))
    return np.array([rng.choice(cells[key]) for key in sorted(cells)], dtype=np.int64)


class LlcmProtocol(Protocol):
    name = "llcm"
    label = "LLCM protocol (Zhang and Wang, CVPR 2023): seeded single-shot galleries, same-ID same-camera filter"
    layout = "llcm"
    table_metrics = ("r1", "r10", "r20", "mAP", "mINP")
    settings = (IR2VIS, VIS2IR, VIS2IR_TESTPY)
    gallery_sources = {LLCM_SEEDED: "one image per (ID, camera) of the other modality, random.Random(trial) (official)",
                       LLCM_FULL: "every VIS test image (test.py's swapped VIS->IR mode; probes are sampled NIR)"}

    def evaluation_set(self, data: LlcmDataset, trial: int = 0) -> ImageSet:
        return data.split().test

    def probes(self, data: LlcmDataset, setting: Setting, trial: int = 0) -> np.ndarray:
        images = self.evaluation_set(data)
        if setting.key == VIS2IR_TESTPY.key:
            return draw_single_shot(images, INFRARED, trial)
        return np.flatnonzero(images.modality == (INFRARED if setting.key == IR2VIS.key else VISIBLE))

    def _galleries(self, data: LlcmDataset, setting: Setting, trials: int) -> Galleries:
        images = self.evaluation_set(data)
        if setting.key == VIS2IR_TESTPY.key:
            rows = np.flatnonzero(images.modality == VISIBLE)
            return Galleries(tuple(rows for _ in range(trials)), LLCM_FULL,
                             "compatibility mode: not VIS->IR (see the protocol's docstring)")
        other = VISIBLE if setting.key == IR2VIS.key else INFRARED
        return Galleries(tuple(draw_single_shot(images, other, t) for t in range(trials)), LLCM_SEEDED)
