"""The validation protocol: how anything is chosen without touching a test image.

Built like the test protocol on the validation identities (``sysu_protocol.md``
section 10): infrared probes against seeded single-shot visible galleries of the val
IDs, one image per (val ID, visible camera), camera-major then ascending ID, drawn
with a fixed seed from the sorted files; metrics averaged over several galleries,
which steadies a small val set; the dataset's same-place rule and the test metrics.
Deep methods select checkpoints with it, ``reidbench tune`` chooses hyper-parameters
with it, and ``reidbench sweep --on val`` plots it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from reidbench.data.imageset import INFRARED, VISIBLE, ImageSet

VAL_LABEL = ("validation protocol: IR probes vs seeded single-shot RGB galleries of the validation identities "
             "(every RGB camera), never test images")
VAL_METRICS = ("mAP", "r1", "r5", "r10", "r20", "mINP")
SELECT_BY = ("mAP", "r1")  # what `reidbench tune` may maximise
# What a figure scored on the test galleries is (a `reidbench sweep` by default), and is not.
TEST_SENSITIVITY = "test-set sensitivity (as in the paper's Fig. 3), not a selection"


@dataclass
class ValProtocol:
    """Probe images, the RGB images galleries are drawn from, and the draws."""

    probes: ImageSet
    rgb: ImageSet
    galleries: list[np.ndarray]  # per trial: indices into ``rgb``
    seed: int

    @classmethod
    def build(cls, val: ImageSet | None, seed: int, trials: int = 10) -> "ValProtocol | None":
        """None when there is nothing to validate on (no val IDs with both modalities)."""
        if val is None or len(val) == 0:
            return None
        order = np.argsort(np.asarray(val.paths), kind="stable")  # sorted file order
        probes = [i for i in order if val.modality[i] == INFRARED]
        rgb = val.subset([i for i in order if val.modality[i] == VISIBLE])
        if not probes or len(rgb) == 0:
            return None
        rng = np.random.default_rng(seed)
        galleries = []
        for _ in range(trials):
            picks = []
            for cam in np.unique(rgb.cams):
                for pid in np.unique(rgb.pids):
                    files = np.flatnonzero((rgb.cams == cam) & (rgb.pids == pid))
                    if len(files):
                        picks.append(int(files[rng.integers(len(files))]))
            galleries.append(np.asarray(picks))
        return cls(val.subset(probes), rgb, galleries, seed)

    def describe(self) -> dict[str, Any]:
        return {"protocol": VAL_LABEL, "seed": self.seed, "trials": len(self.galleries),
                "probes": len(self.probes), "gallery": len(self.galleries[0]),
                "ids": int(len(np.unique(self.rgb.pids)))}

    def evaluate(self, embed: Callable[[ImageSet], np.ndarray]) -> dict[str, Any]:
        """Mean of each metric over the galleries (fractions), their ``std`` and ``num_valid``."""
        from reidbench.evaluation import MatchRule, evaluate_features

        q = embed(self.probes)
        g_all = embed(self.rgb)
        p = self.probes
        runs = []
        for gal in self.galleries:
            m = evaluate_features(q, g_all[gal], q_pids=p.pids, q_cams=p.cams, g_pids=self.rgb.pids[gal],
                                  g_cams=self.rgb.cams[gal],
                                  rule=MatchRule(p.cameras.location, p.cameras.exclude))
            runs.append({"mAP": m.mAP, "r1": m.rank(1), "r5": m.rank(5), "r10": m.rank(10),
                         "r20": m.rank(20), "mINP": m.mINP})
        out: dict[str, Any] = {k: float(np.mean([r[k] for r in runs])) for k in VAL_METRICS}
        out["std"] = {k: float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
                      for k in VAL_METRICS}
        out["num_valid"] = m.num_valid
        return out
