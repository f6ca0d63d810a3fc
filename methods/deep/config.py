"""Configs of the deep methods and what each key accepts; importable without torch.

The registry needs every method's defaults and rules to list methods and to check
``--set`` values before any data is read; keeping them here (and torch out of
this module) lets ``reidbench list`` and argument errors answer in well under a
second. The modules that build networks import their names and defaults from here.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
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
    "log_every": 50,  # losses stay on the device and reach the host (and losses.csv) every N steps
    "erase": 0.0,  # random-erasing probability per training image (Zhong et al.)
    "compile": False,  # torch.compile the training forwards (CUDA: with CUDA graphs); opt-in, unmeasured on a GPU
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
    "log_every": Range(1, None),
    "erase": Range(0, 1),
}

# What each preset puts into unset keys, shared by all deep methods.
PRESET_VALUES: dict[str, dict[str, Any]] = {
    "paper": {"backbone": "resnet50", "weights": "imagenet", "input": "agw_288x144",
              "steps": 60000, "eval_every": 3000},
    # About a minute per method on 2 CPU cores with the embedded `small` dataset; val mAP
    # peaks somewhere in steps 400-2,000 and selection keeps the best.
    "cpu": {"backbone": "resnet_mini", "weights": "none", "input": "cpu_96x48",
            "steps": 2400, "eval_every": 400},
}

# ---------------------------------------------------------------- ImageNet weights
# torchvision's IMAGENET1K_V1 files of the real ResNets (backbones.py checks them against torchvision).
IMAGENET_URLS = {
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
}
PROBE_TIMEOUT_S = 5.0


def imagenet_cache_file(backbone: str) -> Path:
    """Where torch's hub keeps the ImageNet weights of ``backbone`` (torch.hub.get_dir's rule, without torch)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints" / Path(IMAGENET_URLS[backbone]).name


def weights_file(weights: str) -> Path:
    """The local state-dict file that ``weights=PATH`` names; it must exist."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ReidbenchError(f"weights file not found: {path} (weights= takes imagenet, none or a path)")
    return path


def offline_weights_error(backbone: str, cause: str) -> ReidbenchError:
    """The one line that says how to run without downloading ImageNet weights."""
    url, cached = IMAGENET_URLS[backbone], imagenet_cache_file(backbone)
    return ReidbenchError(
        f"ImageNet weights for {backbone} are not cached at {cached} and cannot be downloaded "
        f"({' '.join(cause.split())}); "
        f"download {url} into {cached.parent} (or set TORCH_HOME), pass a local state dict with "
        "--set weights=PATH, or train from scratch with --set weights=none")


def check_weights(config: dict[str, Any]) -> None:
    """Weights a run will need are there (or downloadable) before any image is decoded.

    Decidable from the config alone: ``weights=PATH`` and ImageNet weights asked for
    explicitly (``weights=imagenet``, or ``preset=paper`` with ``weights=auto``). With
    ``preset=auto`` the device decides, and the engine loads the weights before it
    decodes a training image.
    """
    weights, preset = str(config["weights"]), config["preset"]
    if weights.lower() not in ("auto", "imagenet", "none"):
        weights_file(weights)
        return
    if not (weights.lower() == "imagenet" or (weights == "auto" and preset == "paper")):
        return
    backbone = config["backbone"] if config["backbone"] != "auto" else PRESET_VALUES["paper"]["backbone"]
    if backbone not in IMAGENET_URLS or imagenet_cache_file(backbone).is_file():
        return  # a backbone without ImageNet weights fails when built, before any decoding
    try:  # urllib honours the proxy settings torch's download would use
        urllib.request.urlopen(urllib.request.Request(IMAGENET_URLS[backbone], method="HEAD"),
                               timeout=PROBE_TIMEOUT_S).close()
    except (urllib.error.URLError, OSError) as exc:
        raise offline_weights_error(backbone, f"offline? {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------- cmGAN

CMGAN_EMBEDDINGS = ("gap", "fc")
TRIPLET_MINING = ("all", "batch_hard", "random")
SCHEDULES = ("k_then_1", "paper_literal")
ADVERSARIES = ("alternate", "grl")
# eq. 1 and eq. 6 sum the RGB and IR terms of each pair and average over the M pairs,
# which is twice the mean over images.
PAIR_REDUCTIONS = ("image_mean", "pair_sum")

CMGAN_CONFIG: dict[str, Any] = {
    "embedding": "gap",  # gap | fc
    "id_hidden": 512,
    "margin": 1.4,
    "mining": "all",  # all | batch_hard | random
    "squared": True,
    "normalize": "auto",  # L2-normalised common feature (triplet, D, test) or raw: set by the preset
    "reduction": "auto",  # triplet: mean | sum over the triplets formed: set by the preset
    "optimizer": "auto",  # sgd | adam for both optimisers: set by the preset (the paper names none)
    "pair_reduction": "auto",  # l_ide and l_dis: image_mean | pair_sum (eqs. 1 and 6 as written)
    "alpha": 1.0,
    "beta": 1.0,
    "gamma": 0.05,
    "k_gen": 5,
    "eta": 1.0,
    "d_loss_scale": "auto",  # eta*gamma | a number (1 = eta of 1/gamma): set by the preset
    "schedule": "k_then_1",  # k_then_1 | paper_literal (e % K != 0: K-1 generator steps)
    "adversary": "alternate",  # alternate | grl
    "lr_g": 0.0,
    "lr_d": 0.0,
    "lr_schedule": "constant",
    "dis_diverge": 10.0,  # stop when the running mean of l_dis exceeds this (0: never)
    # The paper's 4.4: once the triplet loss falls below 0.1, raise the (generator's) learning rate;
    # it gives no factor. 1 = never.
    "lr_raise": 1.0,
    "lr_raise_below": 0.1,
}


class _ScaleRule(Rule):
    """``auto``, ``eta*gamma`` or a positive number (as text, as the command line gives it)."""

    def accepts(self, value: Any) -> bool:
        text = str(value).replace(" ", "")
        if text in ("auto", "eta*gamma", "gamma*eta"):
            return True
        try:
            return float(text) > 0
        except ValueError:
            return False

    def describe(self) -> str:
        return "'auto', 'eta*gamma' or a positive number"


CMGAN_RULES: dict[str, Rule] = {
    "embedding": OneOf(CMGAN_EMBEDDINGS),
    "id_hidden": Range(1, None),
    "margin": Range(0, None),
    "mining": OneOf(TRIPLET_MINING),
    "normalize": OneOf(("auto", "true", "false", True, False)),
    "reduction": OneOf(("auto", "mean", "sum")),
    "optimizer": OneOf(("auto", *OPTIMIZERS)),
    "pair_reduction": OneOf(("auto", *PAIR_REDUCTIONS)),
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
    "lr_raise": Range(1, None),
    "lr_raise_below": Range(0, None, open="lo"),
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
    check_weights(config)


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

# ---------------------------------------------------------------- AGW (Ye et al., TPAMI 2021)

AGW_TEST_FEATURES = ("bn", "pool")
# Non-local inner width: "official" = 1 channel (the official model.py's reduc_ratio // reduc_ratio),
# "half" = C/2 (Wang et al.'s default, what reidbench used before).
NONLOCAL_WIDTHS = ("official", "half")
# Training identities: "train" (checkpoint selected on the val identities) or "train+val" (the official
# code's 395 SYSU identities: a fixed budget, the last checkpoint, nothing selected).
TRAIN_IDS = ("train", "train+val")

AGW_CONFIG: dict[str, Any] = {
    # AGW's recipe where it differs from the common defaults
    "last_stride": 1,
    "ids_per_batch": 8,
    "imgs_per_modality": 4,
    # no random erasing (COMMON_CONFIG's 0): AGW's train.py has none; it belongs to CAJ
    "lr": 0.0,  # the head's rate: set by the preset
    "base_lr_mult": 0.1,  # stems, shared layers and non-local blocks train at lr x this
    "nesterov": True,
    "nonlocal": True,  # non-local blocks after the last 2 blocks of layer2 and 3 of layer3
    "nonlocal_width": "official",  # official (1 channel) | half (C/2)
    "train_ids": "train",  # train | train+val (TRAIN_IDS)
    "gem_p": 3.0,
    "test_feature": "bn",  # bn: after the BNNeck | pool: the GeM output; L2-normalised either way
}
AGW_RULES: dict[str, Rule] = {
    "lr": Range(0, None),
    "base_lr_mult": Range(0, None),
    "gem_p": Range(1, None),
    "test_feature": OneOf(AGW_TEST_FEATURES),
    "nonlocal_width": OneOf(NONLOCAL_WIDTHS),
    "train_ids": OneOf(TRAIN_IDS),
}
