"""Every feature x matcher pair as a registered method (hog_cca, lomo_lfda, ...).

A method extracts its descriptor (cached, shared across matchers), learns the
matcher on the training identities with their modality labels, and embeds
probes and gallery into the matcher's common space, where Euclidean distance
ranks. Decisions are recorded in CARD.md beside this file.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from reidbench.data.imageset import ImageSet
from reidbench.methods.base import Method, RunContext
from reidbench.errors import ReidbenchError
from reidbench.methods.handcrafted.descriptors import RESIZE, Descriptor
from reidbench.methods.handcrafted.hog import HOG_SIZE, hog_batch
from reidbench.methods.handcrafted.cca import CCA
from reidbench.methods.handcrafted.cdfe import CDFE
from reidbench.methods.handcrafted.craft import CRAFT, WITHIN_MODES, CrossModalCRAFT
from reidbench.methods.handcrafted.lfda import LFDA
from reidbench.methods.handcrafted.lomo import lomo
from reidbench.methods.handcrafted.pca import Euclidean
from reidbench.config import OneOf, Range, Rule
from reidbench.registry import register_method

DESCRIPTORS = {
    "hog": Descriptor("hog", HOG_SIZE, hog_batch, version="skimage-dalal-triggs-1"),
    "lomo": Descriptor("lomo", (128, 48), lomo, version="lomo-octave-exact-1"),
}
MATCHERS: dict[str, type] = {"euclidean": Euclidean, "cca": CCA, "lfda": LFDA, "craft": CRAFT, "cdfe": CDFE,
                             "craft_xm": CrossModalCRAFT}
# Matchers whose label is not their upper-cased name; craft_xm is reidbench's modified CRAFT, not Table 1's.
MATCHER_LABELS = {"euclidean": "Euclidean", "craft_xm": "CRAFT (cross-modal graph, ridge, L2)"}
WU2017 = "Wu et al., RGB-Infrared Cross-Modality Person Re-Identification, ICCV 2017"
FEATURE_REFS = {"hog": "Dalal and Triggs, CVPR 2005", "lomo": "Liao et al., CVPR 2015"}
MATCHER_REFS = {"euclidean": "", "cca": "Hotelling 1936; Hardoon et al. 2004",
                "lfda": "Sugiyama, JMLR 2007", "craft": "Chen et al., TPAMI 2018",
                "cdfe": "Lin and Tang, ECCV 2006",
                "craft_xm": "Chen et al., TPAMI 2018, modified by reidbench (methods/handcrafted/CARD.md)"}
_PCA_RULES: dict[str, Rule] = {"pca_dim": Range(1, None), "pca_fit_rows": Range(2, None)}
# What each matcher's keys accept (CARD.md explains them); checked before any data is read.
MATCHER_RULES: dict[str, dict[str, Rule]] = {
    "euclidean": {},
    "cca": {**_PCA_RULES, "n_components": Range(1, None), "eps": Range(0, None, open="lo")},
    "lfda": {**_PCA_RULES, "n_components": Range(1, None), "k": Range(1, None), "beta": Range(0, 1),
             "embedding": OneOf(("weighted", "orthonormalised", "plain"))},
    "craft": {**_PCA_RULES, "n_components": Range(1, None), "beta": Range(0, 1, open="hi"),
              "n_within": Range(1, None), "n_between": Range(1, None), "within": OneOf(WITHIN_MODES),
              "reg": Range(0, 1, open="hi"), "omega_samples": Range(2, None), "omega_seed": Range(0, None)},
    "cdfe": {**_PCA_RULES, "n_components": Range(1, None), "alpha": Range(0, None), "beta": Range(0, None),
             "k": Range(1, None)},
}
MATCHER_RULES["craft_xm"] = MATCHER_RULES["craft"]


class HandcraftedMethod(Method):
    """Descriptor + cross-modality matcher."""

    def __init__(self, config: dict[str, Any], descriptor: Descriptor, matcher: type):
        super().__init__(config)
        self.descriptor = descriptor
        self.matcher_type = matcher
        self.matcher: Any = None

    def fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> None:
        """Learn the matcher; its random draws (PCA subsample, start vectors) follow the run's seed."""
        params = {k: v for k, v in self.config.items() if k != "resize"}
        if "seed" in inspect.signature(self.matcher_type.__init__).parameters:
            params["seed"] = ctx.seed
        self.matcher = self.matcher_type(**params)
        X = self.descriptor.extract(train, ctx, self.config["resize"])
        self.matcher.fit(X, train.pids, train.modalities)

    def embed(self, images: ImageSet, ctx: RunContext) -> np.ndarray:
        if self.matcher is None:
            raise ReidbenchError(f"{self.descriptor.name} method: embed() called before fit()")
        X = self.descriptor.extract(images, ctx, self.config["resize"])
        return np.asarray(self.matcher.transform(X, images.modalities), dtype=np.float32)

    def provenance(self) -> dict[str, Any]:
        return {"descriptor": self.descriptor.name, "descriptor_version": self.descriptor.version,
                "descriptor_size": list(self.descriptor.size), "resize": self.config["resize"]}


def matcher_defaults(matcher: type) -> dict[str, Any]:
    """Constructor keyword defaults become the method's config; ``seed`` is the run's, not a config key."""
    sig = inspect.signature(matcher.__init__)
    return {name: p.default for name, p in sig.parameters.items()
            if name not in ("self", "seed") and p.default is not inspect.Parameter.empty}


def register_pair(feature: str, matcher_name: str, matcher: type, label: str) -> None:
    descriptor = DESCRIPTORS[feature]
    config = {"resize": "bicubic", **matcher_defaults(matcher)}
    reference = "; ".join(r for r in (WU2017, FEATURE_REFS[feature], MATCHER_REFS[matcher_name]) if r)

    def factory(cfg: dict[str, Any]) -> HandcraftedMethod:
        return HandcraftedMethod(cfg, descriptor, matcher)

    factory.__module__ = __name__
    register_method(f"{feature}_{matcher_name}", label=label, family="handcrafted",
                    reference=reference, config=config,
                    rules={"resize": OneOf(tuple(RESIZE)), **MATCHER_RULES[matcher_name]})(factory)


def _register_grid() -> None:
    """Every descriptor x matcher pair; the paper's rows keep its labels."""
    for feature in DESCRIPTORS:
        for name, matcher in MATCHERS.items():
            label = f"{feature.upper()}+{MATCHER_LABELS.get(name, name.upper())}"
            register_pair(feature, name, matcher, label)


_register_grid()
