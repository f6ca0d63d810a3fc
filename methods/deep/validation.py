"""Model selection on validation identities (sysu_protocol.md section 10), never on test.

IR probes of the val IDs (cams 3 and 6) against seeded single-shot RGB galleries
of the val IDs: one image per (val ID, RGB camera), camera-major then ascending
ID, drawn with a fixed seed from the sorted files. As in the test protocol the
metrics are averaged over several galleries (``trials``), which steadies the
selection on a small val set; same location rule and metrics as the test
protocol (``reidbench.evaluation``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from reidbench.data.imageset import IR_CAMS, RGB_CAMS, ImageSet



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
        probes = [i for i in order if val.cams[i] in IR_CAMS]
        rgb = val.subset([i for i in order if val.cams[i] in RGB_CAMS])
        if not probes or len(rgb) == 0:
            return None
        rng = np.random.default_rng(seed)
        galleries = []
        for _ in range(trials):
            picks = []
            for cam in RGB_CAMS:
                for pid in np.unique(rgb.pids):
                    files = np.flatnonzero((rgb.cams == cam) & (rgb.pids == pid))
                    if len(files):
                        picks.append(int(files[rng.integers(len(files))]))
            galleries.append(np.asarray(picks))
        return cls(val.subset(probes), rgb, galleries, seed)

    def describe(self) -> dict[str, Any]:
        return {"protocol": "val: IR probes vs seeded single-shot RGB galleries of the val IDs, "
                            "metrics averaged over the galleries",
                "seed": self.seed, "trials": len(self.galleries), "probes": len(self.probes),
                "gallery": len(self.galleries[0]), "ids": int(len(np.unique(self.rgb.pids)))}

    def evaluate(self, embed: Callable[[ImageSet], np.ndarray]) -> dict[str, float]:
        from reidbench.evaluation import evaluate_features  # the lead's evaluator, imported late

        q = embed(self.probes)
        g_all = embed(self.rgb)
        p = self.probes
        runs = []
        for gal in self.galleries:
            m = evaluate_features(q, g_all[gal], p.pids, p.cams, self.rgb.pids[gal], self.rgb.cams[gal])
            runs.append({"mAP": m.mAP, "r1": m.rank(1), "r5": m.rank(5), "r10": m.rank(10),
                         "r20": m.rank(20), "mINP": m.mINP})
        out: dict[str, Any] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        out["num_valid"] = m.num_valid
        return out


def selection_score(metrics: dict[str, float], select: str) -> float:
    """The number model selection maximises."""
    if select == "mAP_r1":
        return (metrics["mAP"] + metrics["r1"]) / 2
    return metrics["mAP"]
