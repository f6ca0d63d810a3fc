"""The :class:`Method` every deep model is: presets, then the engine, then embedding.

Presets fill the config keys left at their "unset" value (``"auto"`` or 0):
``paper`` is the full GPU recipe (ResNet-50 with ImageNet weights, 288 x 144,
~60k batches), ``cpu`` a small from-scratch network on small images for a few
minutes on a laptop, and ``auto`` picks ``paper`` on CUDA and ``cpu`` otherwise.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reidbench.data.imageset import ImageSet
from reidbench.errors import ReidbenchError
from reidbench.methods.base import Method, RunContext
from reidbench.methods.deep.config import LR_SCHEDULES, OPTIMIZERS, PRESET_VALUES, PRESETS
from reidbench.methods.deep.data import get_profile
from reidbench.methods.deep.engine import Engine, EngineSettings
from reidbench.methods.deep.losslog import LOSS_LOG
from reidbench.methods.deep.task import Task

def _unset(value: Any) -> bool:
    if isinstance(value, str):
        return value == "auto"
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0


def resolve_preset(config: dict[str, Any], device: str,
                   method_values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The config with its preset chosen and every unset key filled in."""
    name = config["preset"]
    if name not in PRESETS:
        raise ReidbenchError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    if name == "auto":
        name = "paper" if str(device).startswith("cuda") else "cpu"
    values = {**PRESET_VALUES[name], **method_values.get(name, {})}
    out = dict(config, preset=name)
    for key, value in values.items():
        if key in out and _unset(out[key]):
            out[key] = value
    left = sorted(k for k, v in out.items() if k in values and _unset(v))
    if left:
        raise ReidbenchError(f"config keys still unset after preset '{name}': {', '.join(left)}")
    return out


def make_optimizer(params: Any, config: dict[str, Any], lr: float, device: torch.device) -> torch.optim.Optimizer:
    """SGD with momentum (the default; nesterov where the config asks) or Adam, with the config's weight decay.

    On CUDA the fused kernels: one launch per step, and with fp16 they read the grad
    scaler's found-inf flag on the device instead of the scaler asking the host.
    """
    kind = config["optimizer"]
    fused = device.type == "cuda"
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=config["weight_decay"],
                               nesterov=bool(config.get("nesterov", False)), fused=fused)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=config["weight_decay"], fused=fused)
    raise ReidbenchError(f"unknown optimizer '{kind}' (known: {', '.join(OPTIMIZERS)})")


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str,
                   updates: int) -> torch.optim.lr_scheduler.LRScheduler:
    """``constant``, or ``step``: x0.1 after 50 % and 75 % of this optimiser's updates."""
    if kind == "constant":
        milestones: list[int] = []
    elif kind == "step":
        milestones = [max(1, updates // 2), max(1, updates * 3 // 4)]
    else:
        raise ReidbenchError(f"unknown lr_schedule '{kind}' (known: {', '.join(LR_SCHEDULES)})")
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)


class DeepMethod(Method):
    """Resolves the preset, trains through the engine, embeds with the selected weights."""

    #: per-method preset values, e.g. learning rates: {"cpu": {...}, "paper": {...}}
    preset_values: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, config: dict[str, Any], name: str):
        super().__init__(config)
        self.name = name  # the registry name: checkpoints and logs carry it
        self.engine: Engine | None = None
        self.resolved: dict[str, Any] | None = None

    @abc.abstractmethod
    def build_task(self, config: dict[str, Any], num_classes: int, device: torch.device, progress: bool) -> Task:
        """The method's networks, optimisers (for ``device``) and training step."""

    def resolved_config(self, device: str) -> dict[str, Any]:
        return resolve_preset(self.config, device, self.preset_values)

    def tags(self, resolved: dict[str, Any]) -> list[str]:
        return [f"{resolved['preset']} preset"]  # a CPU-preset row is not the paper's recipe

    def fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> None:
        cfg = self.resolved_config(ctx.device)
        self.resolved = cfg
        settings = EngineSettings(
            method=self.name, config=cfg, steps=cfg["steps"], eval_every=cfg["eval_every"],
            ckpt_every=cfg["ckpt_every"] or cfg["eval_every"], ids_per_batch=cfg["ids_per_batch"],
            per_modality=cfg["imgs_per_modality"], profile=get_profile(cfg["input"]), amp=cfg["amp"],
            channels_last=cfg["channels_last"], select=cfg["select"], val_seed=cfg["val_seed"],
            eval_batch=cfg["eval_batch"], deterministic=cfg["deterministic"], log_every=cfg["log_every"],
            erase=cfg["erase"], compile=cfg["compile"])
        self.engine = Engine(settings, lambda n, device: self.build_task(cfg, n, device, ctx.progress))
        self.engine.fit(train, val, ctx)

    def embed(self, images: ImageSet, ctx: RunContext) -> np.ndarray:
        if self.engine is None:
            raise ReidbenchError(f"{self.name}: embed() called before fit()")
        return self.engine.embed(images, ctx)

    def artifacts(self, ctx: RunContext) -> dict[str, Path]:
        return {LOSS_LOG: Path(ctx.work_dir) / LOSS_LOG}

    def provenance(self) -> dict[str, Any]:
        if self.engine is None or self.resolved is None:
            return {}
        task = self.engine.task
        return {"preset": self.resolved["preset"], "config": dict(self.resolved),
                "training": self.engine.report, "decisions": task.describe() if task else {},
                "resumed_from_step": self.engine.report.get("resumed_from_step")}
