"""The contract every method fulfils: fit on training images, embed any images.

The runner owns the data and the protocol; a method only sees :class:`ImageSet`
objects and a :class:`RunContext`, so a method cannot peek at test galleries.
"""
from __future__ import annotations

import abc
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from reidbench.atomic import atomic_open
from reidbench.data.imageset import ImageSet



def seed_everything(seed: int, torch: bool = True) -> None:
    """Seed Python, numpy and (with ``torch``) torch on the CPU and every CUDA device from the run's seed.

    torch is imported here, not at module load, and only when asked for, so runs of
    numpy-only methods never import it.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if torch:
        import torch as torch_module

        torch_module.manual_seed(seed)


@dataclass
class RunContext:
    """What the runner lends a method: seed, device, cache and a work folder."""

    seed: int = 0
    device: str = "cpu"
    cache_dir: Path = Path(".cache")
    work_dir: Path = Path(".cache/work")
    dataset_fingerprint: str = ""
    progress: bool = True
    resume: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    def cached(self, namespace: str, key: dict[str, Any], images: ImageSet,
               compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Return ``compute()`` for ``images``, cached on disk by key and dataset.

        The file name hashes the key, the dataset fingerprint and the image
        listing, so any change to one of them recomputes.
        """
        blob = json.dumps({"key": key, "data": self.dataset_fingerprint,
                           "images": images.key()}, sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:20]
        path = Path(self.cache_dir) / namespace / f"{digest}.npy"
        if path.exists():
            return np.load(path)
        value = np.asarray(compute())
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            np.save(fh, value)
        return value


class Method(abc.ABC):
    """A re-identification method: learns from training images, embeds images.

    Subclasses set ``distance`` when Euclidean distance between embeddings is not
    the right ranking (``"cosine"`` or ``"neg_dot"``).
    """

    distance: ClassVar[str] = "euclidean"

    def __init__(self, config: dict[str, Any]):
        self.config = dict(config)

    def resolved_config(self, device: str) -> dict[str, Any]:
        """The config as it runs on ``device`` (e.g. presets filled in): part of a result's identity."""
        return dict(self.config)

    def tags(self, resolved: dict[str, Any]) -> list[str]:
        """Facts of the resolved config every row label must show (e.g. ``cpu preset``)."""
        return []

    def fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> None:
        """Learn from ``train`` (and select on ``val``); the default learns nothing. The runner fits one
        instance once per scoring group (once per trial where trials are splits, as RegDB's): each fit
        starts afresh."""

    @abc.abstractmethod
    def embed(self, images: ImageSet, ctx: RunContext) -> np.ndarray:
        """Return an N x D float array, one row per image of ``images``."""

    def provenance(self) -> dict[str, Any]:
        """Extra facts for the result file (training steps, checkpoints, ...); a fit that continued
        from a checkpoint says so as ``"resumed_from_step": N`` (the runner reports it per trial)."""
        return {}

    def artifacts(self, ctx: RunContext) -> dict[str, Path]:
        """Files the result's figures need (e.g. a loss log), copied beside the result file.

        Called even when cached embeddings spare the fit, so look in ``ctx.work_dir``.
        """
        return {}
