"""Identity x modality batch sampler with a saveable state.

A global batch holds P identities, each with k RGB and k IR images (cmGAN's
Algorithm 1 draws one pair per identity: P = 10, k = 1). An epoch is one pass
over the training identities in a shuffled order; the remainder that does not
fill a batch is dropped and the next epoch reshuffles.

Every rank draws the *same* global batch from the shared seed and keeps its own
slice of identities, so the union over ranks is the single-process batch and
rank 0's saved state is every rank's state.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from reidbench.errors import ReidbenchError


class IdentityModalitySampler:
    """Draws batches of dataset indices, ``k`` RGB then ``k`` IR per identity."""

    def __init__(self, pids: np.ndarray, modalities: np.ndarray, ids_per_batch: int,
                 per_modality: int, seed: int, rank: int = 0, world_size: int = 1):
        pids = np.asarray(pids)
        modalities = np.asarray(modalities)
        self.pools: list[tuple[np.ndarray, np.ndarray]] = []
        for pid in np.unique(pids):
            rgb = np.flatnonzero((pids == pid) & (modalities == 0))
            ir = np.flatnonzero((pids == pid) & (modalities == 1))
            if len(rgb) and len(ir):
                self.pools.append((rgb, ir))
        if ids_per_batch < 1 or per_modality < 1:
            raise ReidbenchError("ids_per_batch and imgs_per_modality must be at least 1")
        if ids_per_batch % world_size:
            raise ReidbenchError(
                f"ids_per_batch={ids_per_batch} does not split over {world_size} processes; "
                "choose a multiple of the world size")
        # A training set smaller than one batch (toy data) gets batches of all its
        # identities, rounded down to a multiple of the world size; the report says so.
        usable = len(self.pools) - len(self.pools) % world_size
        if usable < world_size:
            raise ReidbenchError(
                f"only {len(self.pools)} training identities have both RGB and IR images; "
                f"training needs at least {world_size}")
        self.ids_per_batch = min(ids_per_batch, usable)
        self.per_modality = per_modality
        self.rank = rank
        self.world_size = world_size
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.epoch = 0
        self.cursor = 0
        self.order = self.rng.permutation(len(self.pools))

    @property
    def batches_per_epoch(self) -> int:
        return len(self.pools) // self.ids_per_batch

    @property
    def global_batch_size(self) -> int:
        return self.ids_per_batch * 2 * self.per_modality

    def next_global(self) -> np.ndarray:
        """The next global batch: identity-major, each identity k RGB then k IR."""
        if self.cursor + self.ids_per_batch > len(self.order):
            self.epoch += 1
            self.cursor = 0
            self.order = self.rng.permutation(len(self.pools))
        chosen = self.order[self.cursor:self.cursor + self.ids_per_batch]
        self.cursor += self.ids_per_batch
        parts = []
        for ident in chosen:
            for pool in self.pools[ident]:
                parts.append(self.rng.choice(pool, self.per_modality,
                                             replace=len(pool) < self.per_modality))
        return np.concatenate(parts)

    def shard(self, global_batch: np.ndarray) -> np.ndarray:
        """This rank's identities of a global batch (whole identities, both modalities)."""
        per_rank = len(global_batch) // self.world_size
        return global_batch[self.rank * per_rank:(self.rank + 1) * per_rank]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "epoch": self.epoch,
                "cursor": self.cursor, "order": self.order.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
        self.cursor = int(state["cursor"])
        self.order = np.asarray(state["order"], dtype=np.int64)
