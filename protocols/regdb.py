"""RegDB's protocol (``regdb_llcm.md`` A3, A6): 10 trials, each its own 206/206 train/test split.

In trial k every test image of one modality is a probe and every test image of the
other the gallery (nothing is sampled); visible->thermal and thermal->visible come from
the same features of the trial's model, as the maintainers advise. One model per trial:
a model trained on one split has seen the other splits' test identities. The CMC is
image-level by default (AGW's ``eval_regdb``: no identity de-duplication);
``regdb-iddedup`` gives the identity-deduplicated CMC of the MPANet family (rank-1 and
mAP are the same under both). Ties keep gallery order; distances in float64.
"""
from __future__ import annotations

import numpy as np

from reidbench.data.imageset import INFRARED, VISIBLE, ImageSet
from reidbench.data.regdb import RegdbDataset
from reidbench.protocols.base import Galleries, Protocol
from reidbench.protocols.settings import Setting

REGDB_SPLITS = "regdb_splits"
V2T = Setting("v2t", "Visible to Thermal")
T2V = Setting("t2v", "Thermal to Visible")
_PROBE_MODALITY = {"v2t": VISIBLE, "t2v": INFRARED}


class RegdbProtocol(Protocol):
    name = "regdb"
    label = "RegDB protocol (AGW lineage: 10 split trials, image-level CMC)"
    layout = "regdb"
    table_metrics = ("r1", "r10", "r20", "mAP", "mINP")
    settings = (V2T, T2V)
    cmc = "image"
    gallery_sources = {REGDB_SPLITS: ("every test image of the other modality, in each trial's own train/test split "
                                      "(idx files; a model per trial)")}

    def evaluation_set(self, data: RegdbDataset, trial: int = 0) -> ImageSet:
        return data.split(trial).test

    def probes(self, data: RegdbDataset, setting: Setting, trial: int = 0) -> np.ndarray:
        return np.flatnonzero(self.evaluation_set(data, trial).modality == _PROBE_MODALITY[setting.key])

    def _galleries(self, data: RegdbDataset, setting: Setting, trials: int) -> Galleries:
        other = INFRARED if _PROBE_MODALITY[setting.key] == VISIBLE else VISIBLE
        rows = tuple(np.flatnonzero(self.evaluation_set(data, t).modality == other) for t in range(trials))
        return Galleries(rows, REGDB_SPLITS)


class RegdbIdDedup(RegdbProtocol):
    name = "regdb-iddedup"
    label = "RegDB protocol with the identity-deduplicated CMC (MPANet family); not AGW's"
    cmc = "identity"
