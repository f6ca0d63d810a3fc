"""Compatibility mode: the AGW code lineage's seeded gallery (``mangye16/Cross-Modal-Re-ID-baseline``).

Not the official protocol; offered so numbers can be set beside the many papers
descending from AGW. Trial t seeds ``random.Random(t)`` and walks the test IDs
(ascending) then the gallery cameras, drawing ``choice`` from each (camera, ID)
folder's sorted files: ID-major order. AGW defines single-shot only; reidbench's
multi-shot here draws ``sample(files, 10)`` from the same stream and is labelled
as its own convention.

The draws walk the files present, so galleries equal the AGW code's only when every
test image is there; ``reidbench eval`` warns when a feature file lacks some.
Ties: reidbench ranks tied distances in gallery order (a stable sort, as the
official MATLAB code does); the AGW code's ``np.argsort`` is not stable, so on tied
distances its numbers can differ from these by up to about 1 point.
"""
from __future__ import annotations

import random

import numpy as np

from reidbench.data.sysu import SysuDataset
from reidbench.protocols.base import Galleries
from reidbench.protocols.sysu import SysuProtocol, cell_offsets, missing_test_images
from reidbench.protocols.sysu_settings import SysuSetting

AGW_SEEDED = "agw_seeded"


class SysuAgw(SysuProtocol):
    name = "sysu-agw"
    label = "AGW-lineage seeded galleries (random.Random(trial)); not the official protocol"
    gallery_sources = {AGW_SEEDED: "AGW-lineage seeded galleries, random.Random(trial) (not the official protocol)"}

    def features_note(self, data: SysuDataset, reference: SysuDataset | None) -> str:
        """Why these galleries may differ from the AGW code's draws ('' if they do not)."""
        missing = missing_test_images(data, reference)
        if missing == 0:
            return ""
        what = (f"lacks {missing} test image(s) of {'the dataset' if reference is not None else 'SYSU-MM01'}"
                if missing else "cannot be checked against a full listing (pass --data ROOT)")
        return (f"the feature file {what}; sysu-agw draws its galleries from the images present, "
                "so they differ from the AGW code's draws on the full dataset")

    def _galleries(self, data: SysuDataset, setting: SysuSetting, trials: int) -> Galleries:
        offsets = cell_offsets(data)
        indices = []
        for t in range(trials):
            rng = random.Random(t)
            rows = []
            for pid in data.ids("test"):
                for cam in setting.gallery_cams:
                    n = data.count(cam, pid)
                    if not n:
                        continue
                    if setting.num_shots == 1:
                        picks = [rng.choice(range(n))]
                    else:
                        picks = rng.sample(range(n), min(n, setting.num_shots))
                    rows.extend(offsets[(cam, pid)] + k for k in picks)
            indices.append(np.asarray(rows, dtype=np.int64))
        note = "" if setting.num_shots == 1 else "multi-shot is reidbench's convention (AGW defines single-shot only)"
        return Galleries(tuple(indices), AGW_SEEDED, note)
