"""Configs of the deep methods and what each key accepts; importable without torch.

The registry needs every method's defaults and rules to list methods and to check
``--set`` values before any data is read; keeping them here (and torch out of
this module) lets ``reidbench list`` and argument errors answer in well under a
second. The modules that build networks import their names and defaults from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reidbench.config import OneOf, OneOfOrPath, Range, Rule
from reidbench.errors import ReidbenchError

PRESETS = ("auto", "paper", "cpu")
BACKBONES = ("resnet50", "resnet18", "resnet_mini", "resnet_tiny")
AMP_MODES = ("auto", "off", "bf16", "fp16")
SELECT_METRICS = ("mAP", "mAP_r1")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("constant", "step")

@dataclass(frozen=True)
class InputProfile:
    """Input geometry and train-time augmentation; test images only get the resize."""

    name: str
    height: int
    width: int
    flip: bool
    pad: int


PROFILES: dict[str, InputProfile] = {p.name: p for p in (
    # AGW's recipe: resize, flip, zero-pad 10 + random crop back to size.
    InputProfile("agw_288x144", 288, 144, flip=True, pad=10),
    # The cmGAN-era alternative: square ImageNet size, flip only.
    InputProfile("paper_224", 224, 224, flip=True, pad=0),
    # Small inputs for CPU runs; the pad keeps AGW's pad/size ratio (10/144).
    InputProfile("cpu_96x48", 96, 48, flip=True, pad=3),
    InputProfile("cpu_64x32", 64, 32, flip=True, pad=2),
)}

# Keys every deep method has. Preset-controlled keys default to "auto" / 0.
COMMON_CONFIG: dict[str, Any] = {
    "preset": "auto",
    "backbone": "auto",
    "weights": "auto",  # imagenet | none | path to a state dict
    "last_stride": 2,
    "input": "auto",  # input profile
    "steps": 0,  # training batches (generator and discriminator steps alike)
    "eval_every": 0,  # validate (and checkpoint) every N steps
    "ckpt_every": 0,  # extra checkpoints; 0 = at validations only
    "ids_per_batch": 10,
    "imgs_per_modality": 1,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "amp": "auto",
    "channels_last": True,
    "deterministic": False,
    "select": "mAP",
    "val_seed": 0,
    "eval_batch": 256,
}

COMMON_RULES: dict[str, Rule] = {
    "preset": OneOf(PRESETS),
    "backbone": OneOf(("auto", *BACKBONES)),
    "weights": OneOfOrPath(("auto", "imagenet", "none")),
    "last_stride": OneOf((1, 2)),
    "input": OneOf(("auto", *PROFILES)),
    "steps": Range(0, None),
    "eval_every": Range(0, None),
    "ckpt_every": Range(0, None),
    "ids_per_batch": Range(2, None),
    "imgs_per_modality": Range(1, None),
    "optimizer": OneOf(OPTIMIZERS),
    "momentum": Range(0, 1, open="hi"),
    "weight_decay": Range(0, None),
    "amp": OneOf(AMP_MODES),
    "select": OneOf(SELECT_METRICS),
    "val_seed": Range(0, None),
    "eval_batch": Range(1, None),
}

# What each preset puts into unset keys, shared by all deep methods.
PRESET_VALUES: dict[str, dict[str, Any]] = {
    "paper": {"backbone": "resnet50", "weights": "imagenet", "input": "agw_288x144",
              "steps": 60000, "eval_every": 3000},
    # About 45 s per method on 2 CPU cores with the embedded `small` dataset; val mAP
    # peaks somewhere in steps 400-2,000 and selection keeps the best.
    "cpu": {"backbone": "resnet_mini", "weights": "none", "input": "cpu_96x48",
            "steps": 2400, "eval_every": 400},
}

# ---------------------------------------------------------------- cmGAN

CMGAN_EMBEDDINGS = ("gap", "fc")
TRIPLET_MINING = ("all", "batch_hard", "random")
SCHEDULES = ("k_then_1", "paper_literal")
ADVERSARIES = ("alternate", "grl")

CMGAN_CONFIG: dict[str, Any] = {
    "embedding": "gap",  # gap | fc
    "id_hidden": 512,
    "margin": 1.4,
    "mining": "all",  # all | batch_hard | random
    "squared": True,
    "normalize": "auto",  # L2-normalise features for the triplet: paper preset false, cpu preset true
    "reduction": "mean",  # mean | sum
    "alpha": 1.0,
    "beta": 1.0,
    "gamma": 0.05,
    "k_gen": 5,
    "eta": 1.0,
    "d_loss_scale": "eta*gamma",  # or a number, e.g. 1
    "schedule": "k_then_1",  # k_then_1 | paper_literal (e % K != 0: K-1 generator steps)
    "adversary": "alternate",  # alternate | grl
    "lr_g": 0.0,
    "lr_d": 0.0,
    "lr_schedule": "constant",
    "dis_diverge": 10.0,  # stop when the running mean of l_dis exceeds this (0: never)
}


class _ScaleRule(Rule):
    """``eta*gamma`` or a positive number (as text, as the command line gives it)."""

    def accepts(self, value: Any) -> bool:
        text = str(value).replace(" ", "")
        if text in ("eta*gamma", "gamma*eta"):
            return True
        try:
            return float(text) > 0
        except ValueError:
            return False

    def describe(self) -> str:
        return "'eta*gamma' or a positive number"


CMGAN_RULES: dict[str, Rule] = {
    "embedding": OneOf(CMGAN_EMBEDDINGS),
    "id_hidden": Range(1, None),
    "margin": Range(0, None),
    "mining": OneOf(TRIPLET_MINING),
    "normalize": OneOf(("auto", "true", "false", True, False)),
    "reduction": OneOf(("mean", "sum")),
    "alpha": Range(0, None),
    "beta": Range(0, None),
    "gamma": Range(0, None),
    "k_gen": Range(1, None),
    "eta": Range(0, None, open="lo"),
    "d_loss_scale": _ScaleRule(),
    "schedule": OneOf(SCHEDULES),
    "adversary": OneOf(ADVERSARIES),
    "lr_g": Range(0, None),
    "lr_d": Range(0, None),
    "lr_schedule": OneOf(LR_SCHEDULES),
    "dis_diverge": Range(0, None),
}


def check_cmgan(config: dict[str, Any]) -> None:
    """Rules that tie several cmGAN keys together (and the schedule's words, for direct callers)."""
    if config["schedule"] not in SCHEDULES:
        raise ReidbenchError(f"unknown schedule '{config['schedule']}' (known: {', '.join(SCHEDULES)})")
    if config["adversary"] not in ADVERSARIES:
        raise ReidbenchError(f"unknown adversary '{config['adversary']}' (known: {', '.join(ADVERSARIES)})")
    if config["schedule"] == "paper_literal" and config["k_gen"] < 2:
        raise ReidbenchError("k_gen must be at least 2 with schedule=paper_literal")
    if config["alpha"] <= 0 and config["beta"] <= 0:
        raise ReidbenchError("alpha and beta are both 0: the generator would learn nothing")


# ---------------------------------------------------------------- Wu et al. 2017

WU_ARCHITECTURES = ("one_stream", "two_stream", "asym_fc", "zero_padding")
TWO_STREAM_SPLITS = ("stem", "stem+layer1")

WU_CONFIG: dict[str, Any] = {
    "lr": 0.0,
    "lr_schedule": "step",
}
# Extra keys of single architectures.
ARCH_CONFIG: dict[str, dict[str, Any]] = {
    "one_stream": {"color": False},
    "two_stream": {"color": False, "specific": "stem"},  # stem | stem+layer1
    "asym_fc": {"color": False, "fc_dim": 512},
    "zero_padding": {},
}
WU_RULES: dict[str, Rule] = {
    "lr": Range(0, None),
    "lr_schedule": OneOf(LR_SCHEDULES),
    "specific": OneOf(TWO_STREAM_SPLITS),
    "fc_dim": Range(1, None),
}
