"""The training state a checkpoint holds, as one object.

:class:`TrainState` owns every part a resumed run needs to continue exactly like
an uninterrupted one: the networks, every optimiser, scheduler and grad scaler,
the sampler, the augmenter, the task's own state, the model selection, the global
RNG states, the step and the training time. Saving and restoring go through its
``state_dict`` / ``load_state_dict``, so no part can be saved and then forgotten
on restore.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from reidbench.methods.deep.data import Augmenter
from reidbench.methods.deep.rng import capture_rng_state, restore_rng_state
from reidbench.methods.deep.sampler import IdentityModalitySampler
from reidbench.methods.deep.task import Amp, Task


@dataclass
class Selection:
    """Model selection on validation IDs: the best score so far and its weights."""

    best_score: float = -math.inf
    best_step: int | None = None
    best_metrics: dict[str, float] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    best_networks: dict[str, dict[str, torch.Tensor]] | None = None

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class TrainState:
    """Everything a checkpoint restores; ``step`` counts the finished training steps."""

    def __init__(self, task: Task, amp: Amp, sampler: IdentityModalitySampler, augmenter: Augmenter,
                 device: torch.device):
        self.task = task
        self.amp = amp
        self.sampler = sampler
        self.augmenter = augmenter
        self.device = device
        self.selection = Selection()
        self.step = 0
        self.train_time = 0.0  # seconds of training steps (and log flushes), over all resumed parts

    def state_dict(self) -> dict[str, Any]:
        """A snapshot that ``torch.load(..., weights_only=True)`` reads back; the RNG states are taken now."""
        task = self.task
        return {
            "step": self.step, "epoch": self.sampler.epoch, "train_time_s": self.train_time,
            "networks": {n: m.state_dict() for n, m in task.networks.items()},
            "optimizers": {n: o.state_dict() for n, o in task.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in task.schedulers.items()},
            "amp": self.amp.state_dict(), "sampler": self.sampler.state_dict(),
            "augmenter": self.augmenter.state_dict(), "task": task.extra_state(),
            "selection": self.selection.state_dict(), "rng": capture_rng_state(self.device),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put every part back, the global RNG states last."""
        task = self.task
        for name, net in task.networks.items():
            net.load_state_dict(state["networks"][name])
        for name, opt in task.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in task.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        self.amp.load_state_dict(state["amp"])
        self.sampler.load_state_dict(state["sampler"])
        self.augmenter.load_state_dict(state["augmenter"])
        task.load_extra_state(state["task"])
        self.selection.load_state_dict(state["selection"])
        self.step, self.train_time = int(state["step"]), float(state["train_time_s"])
        restore_rng_state(state["rng"], self.device)
