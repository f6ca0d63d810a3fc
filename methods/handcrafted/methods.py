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
from reidbench.methods.handcrafted.craft import CRAFT
from reidbench.methods.handcrafted.lfda import LFDA
from reidbench.methods.handcrafted.lomo import lomo
from reidbench.methods.handcrafted.pca import Euclidean
from reidbench.registry import register_method

DESCRIPTORS = {
    "hog": Descriptor("hog", HOG_SIZE, hog_batch, version="skimage-dalal-triggs-1"),
    "lomo": Descriptor("lomo", (128, 48), lomo, version="lomo-octave-exact-1"),
}
MATCHERS: dict[str, type] = {"euclidean": Euclidean, "cca": CCA, "lfda": LFDA, "craft": CRAFT, "cdfe": CDFE}
WU2017 = "Wu et al., RGB-Infrared Cross-Modality Person Re-Identification, ICCV 2017"
FEATURE_REFS = {"hog": "Dalal and Triggs, CVPR 2005", "lomo": "Liao et al., CVPR 2015"}
MATCHER_REFS = {"euclidean": "", "cca": "Hotelling 1936; Hardoon et al. 2004",
                "lfda": "Sugiyama, JMLR 2007", "craft": "Chen et al., TPAMI 2018",
                "cdfe": "Lin and Tang, ECCV 2006"}


class HandcraftedMethod(Method):
    """Descriptor + cross-modality matcher."""

    def __init__(self, config: dict[str, Any], descriptor: Descriptor, matcher: type):
        super().__init__(config)
        if config["resize"] not in RESIZE:
            raise ReidbenchError(f"resize must be one of {', '.join(RESIZE)}, got '{config['resize']}'")
        self.descriptor = descriptor
        params = {k: v for k, v in config.items() if k != "resize"}
        self.matcher = matcher(**params)

    def fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> None:
        X = self.descriptor.extract(train, ctx, self.config["resize"])
        self.matcher.fit(X, train.pids, train.modalities)

    def embed(self, images: ImageSet, ctx: RunContext) -> np.ndarray:
        X = self.descriptor.extract(images, ctx, self.config["resize"])
        return np.asarray(self.matcher.transform(X, images.modalities), dtype=np.float32)

    def provenance(self) -> dict[str, Any]:
        return {"descriptor": self.descriptor.name, "descriptor_version": self.descriptor.version,
                "descriptor_size": list(self.descriptor.size), "resize": self.config["resize"]}


def matcher_defaults(matcher: type) -> dict[str, Any]:
    """Constructor keyword defaults: they become the method's config."""
    sig = inspect.signature(matcher.__init__)
    return {name: p.default for name, p in sig.parameters.items()
            if name != "self" and p.default is not inspect.Parameter.empty}


def register_pair(feature: str, matcher_name: str, matcher: type, label: str) -> None:
    descriptor = DESCRIPTORS[feature]
    config = {"resize": "bicubic", **matcher_defaults(matcher)}
    reference = "; ".join(r for r in (WU2017, FEATURE_REFS[feature], MATCHER_REFS[matcher_name]) if r)

    def factory(cfg: dict[str, Any]) -> HandcraftedMethod:
        return HandcraftedMethod(cfg, descriptor, matcher)

    factory.__module__ = __name__
    register_method(f"{feature}_{matcher_name}", label=label, family="handcrafted",
                    reference=reference, config=config)(factory)


def _register_grid() -> None:
    """Every descriptor x matcher pair; the paper's rows keep its labels."""
    for feature in DESCRIPTORS:
        for name, matcher in MATCHERS.items():
            label = f"{feature.upper()}+{'Euclidean' if name == 'euclidean' else name.upper()}"
            register_pair(feature, name, matcher, label)


_register_grid()
