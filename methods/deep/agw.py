"""AGW (Ye et al., TPAMI 2021): the cross-modality baseline of ``mangye16/Cross-Modal-Re-ID-baseline``.

A two-stream ResNet (modality-specific stem, shared layer1-4, last stride 1) with
non-local blocks after the last two blocks of layer2 and the last three of layer3,
GeM pooling (p = 3), a BNNeck (BN without bias) and a bias-free classifier. Loss:
identity cross-entropy on the BNNeck logits plus the weighted-regularisation
triplet on the pooled feature. SGD (nesterov, momentum 0.9, weight decay 5e-4),
the head at ``lr`` and everything else at ``lr x base_lr_mult``, AGW's schedule
(10 warm-up epochs, x0.1 at epoch 20 and x0.01 at 50 of 81) spread over the step
budget. Test feature: the L2-normalised BNNeck (or pooled) feature, ranked by
cosine. As the official code: 1-channel non-local blocks, no random erasing
(``nonlocal_width=half`` and ``erase`` are options). Unlike the original code, which
keeps the epoch with the best rank-1 on the test gallery, checkpoints are selected
on the validation identities (``train_ids=train``), or the official 395-identity
training set is used with the last checkpoint (``train_ids=train+val``).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reidbench.data.imageset import ImageSet, concat
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext
from reidbench.methods.deep.backbones import feature_dim, float32_head, modality_stems
from reidbench.methods.deep.config import AGW_TEST_FEATURES, NONLOCAL_WIDTHS
from reidbench.methods.deep.encoding import InputEncoder
from reidbench.methods.deep.losses import identity_loss, weighted_regularization_triplet
from reidbench.methods.deep.method import DeepMethod, make_optimizer
from reidbench.methods.deep.task import Amp, Batch, Task

# AGW's schedule in its own epochs: linear warm-up over 10, x0.1 from 20, x0.01 from 50, 81 in all.
AGW_EPOCHS, WARMUP_EPOCHS, MILESTONES = 81, 10, (20, 50)
# Non-local blocks per stage (layer1..layer4), after that many last blocks of the stage.
NONLOCAL_BLOCKS = (0, 2, 3, 0)


def agw_lr_factor(step: int, steps: int, epochs: int = AGW_EPOCHS) -> float:
    """The learning-rate factor at ``step`` of ``steps``, AGW's ``epochs`` (81; CAJ: 100) mapped onto the budget."""
    epoch = step * epochs // steps
    if epoch < WARMUP_EPOCHS:
        return (epoch + 1) / WARMUP_EPOCHS
    return 0.1 ** sum(epoch >= m for m in MILESTONES)


class NonLocal(nn.Module):
    """Embedded dot-product non-local block (Wang et al., CVPR 2018): every position adds
    a 1/N-weighted sum over all positions. The output BN starts at zero, so the block
    starts as the identity and keeps a pretrained stage's function.

    Positions are read channels-last (a free view of a channels-last tensor on GPU).
    The 1x1 projections run under the caller's autocast; the products over positions
    and the output projection run in float32: theta.phi summed over the channels,
    and the attention summed over the positions, pass fp16's 65,504 once the 1x1
    weights grow, and the resulting inf/NaN would stop training. The output BN bounds
    what goes back to the residual stream's dtype.
    """

    def __init__(self, channels: int, inner: int | None = None):
        """``inner`` channels of theta/phi/g: C/2 when not given (Wang et al.), 1 in the official AGW."""
        super().__init__()
        inner = max(1, channels // 2) if inner is None else inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape

        def positions(t: torch.Tensor) -> torch.Tensor:  # B x HW x C
            return t.permute(0, 2, 3, 1).reshape(b, h * w, -1)

        theta, phi, g = (positions(conv(x)).float() for conv in (self.theta, self.phi, self.g))
        with float32_head(x):
            attention = theta @ phi.transpose(1, 2) / (h * w)
            y = (attention @ g).reshape(b, h, w, -1).permute(0, 3, 1, 2)
            return x + self.out(y).to(x.dtype)


def nonlocal_inner(channels: int, width: str) -> int:
    """Inner channels of a non-local block: 1 in the official AGW code (``reduc_ratio // reduc_ratio``),
    or C/2 (Wang et al.'s default, ``width="half"``)."""
    if width not in NONLOCAL_WIDTHS:
        raise ReidbenchError(f"unknown nonlocal_width '{width}' (known: {', '.join(NONLOCAL_WIDTHS)})")
    return 1 if width == "official" else max(1, channels // 2)


def with_nonlocal(stage: nn.Sequential, count: int, width: str) -> nn.Sequential:
    """The stage with a non-local block (inner width per ``nonlocal_inner``) after each of its last ``count`` blocks."""
    blocks = list(stage)
    first = max(0, len(blocks) - count)
    out: list[nn.Module] = []
    for i, block in enumerate(blocks):
        out.append(block)
        if i >= first:
            channels = _out_channels(block)
            out.append(NonLocal(channels, nonlocal_inner(channels, width)))
    return nn.Sequential(*out)


def _out_channels(block: nn.Module) -> int:
    last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
    return last_bn.num_features


def gem(x: torch.Tensor, p: float) -> torch.Tensor:
    """Generalised-mean pooling over positions, in float32 (x^p overflows fp16)."""
    return x.float().clamp_min(1e-6).pow(p).mean((2, 3)).pow(1.0 / p)


class AGWNet(nn.Module):
    """Two-stream ResNet with non-local blocks, GeM and a BNNeck."""

    def __init__(self, cfg: dict[str, Any], num_classes: int, progress: bool):
        super().__init__()
        self.streams, net = modality_stems(cfg["backbone"], cfg["weights"], [InputEncoder("rgb"), InputEncoder("rgb")],
                                           cfg["last_stride"], progress)
        stages = [getattr(net, f"layer{i + 1}") for i in range(4)]
        if cfg["nonlocal"]:
            stages = [with_nonlocal(s, n, cfg["nonlocal_width"]) if n else s for s, n in zip(stages, NONLOCAL_BLOCKS)]
        self.shared = nn.Sequential(*stages)
        self.gem_p = float(cfg["gem_p"])
        dim = feature_dim(net)
        self.bnneck = nn.BatchNorm1d(dim)
        self.bnneck.bias.requires_grad_(False)  # BN without a learnt shift
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.dim = dim

    def forward(self, x: torch.Tensor, modalities: torch.Tensor,
                n_rgb: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pooled feature, BNNeck feature, identity logits)."""
        pooled = gem(self.shared(self.streams(x, modalities, n_rgb)), self.gem_p)
        with float32_head(pooled):
            neck = self.bnneck(pooled)
            return pooled, neck, self.classifier(neck)

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.bnneck.parameters(), *self.classifier.parameters()]


class AgwTask(Task):
    """One network, one optimiser with two rates, identity + weighted-regularisation triplet loss."""

    columns: ClassVar[tuple[str, ...]] = ("l_ide", "l_tri", "l_total", "lr")
    epochs: ClassVar[int] = AGW_EPOCHS  # the official schedule's length, mapped onto the step budget

    def __init__(self, cfg: dict[str, Any], num_classes: int, device: torch.device, progress: bool):
        if cfg["test_feature"] not in AGW_TEST_FEATURES:
            raise ReidbenchError(f"unknown test_feature '{cfg['test_feature']}' "
                                 f"(known: {', '.join(AGW_TEST_FEATURES)})")
        self.cfg = cfg
        self.net = AGWNet(cfg, num_classes, progress)
        self.networks = {"net": self.net}
        head = {id(p) for p in self.net.head_parameters()}
        base = [p for p in self.net.parameters() if id(p) not in head]
        lr = float(cfg["lr"])
        opt = make_optimizer([{"params": base, "lr": lr * float(cfg["base_lr_mult"])},
                              {"params": self.net.head_parameters(), "lr": lr}], cfg, lr, device)
        steps = int(cfg["steps"])
        self.optimizers = {"net": opt}
        self.schedulers = {"net": torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: agw_lr_factor(s, steps, self.epochs))}

    def train_step(self, step: int, batch: Batch, nets: Mapping[str, nn.Module],
                   amp: Amp) -> tuple[str, dict[str, torch.Tensor | float]]:
        lr = float(self.optimizers["net"].param_groups[1]["lr"])
        with amp.autocast():
            pooled, _, logits = nets["net"](batch.images, batch.modalities, batch.n_rgb)
        l_ide = identity_loss(logits, batch.labels)
        l_tri = weighted_regularization_triplet(pooled, batch.labels)
        total = l_ide + l_tri
        amp.step(total, self.optimizers["net"], "net")
        self.schedulers["net"].step()
        return "train", {"l_ide": l_ide.detach(), "l_tri": l_tri.detach(), "l_total": total.detach(), "lr": lr}

    def embed(self, images: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        pooled, neck, _ = self.net(images, modalities, n_rgb)
        return F.normalize((neck if self.cfg["test_feature"] == "bn" else pooled).float(), dim=1)

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "network": {"backbone": c["backbone"], "weights": c["weights"], "last_stride": c["last_stride"],
                        "specific": "stem (conv1/bn1/relu/maxpool) per modality, layer1-4 shared",
                        "nonlocal": f"after the last {NONLOCAL_BLOCKS[1]} blocks of layer2 and "
                                    f"{NONLOCAL_BLOCKS[2]} of layer3" if c["nonlocal"] else "none",
                        "pooling": f"GeM p={c['gem_p']}", "neck": "BNNeck (no bias), bias-free classifier",
                        "input": "RGB 3-channel, IR replicated, ImageNet mean/std"},
            "loss": "identity cross-entropy (BNNeck logits) + weighted-regularisation triplet (pooled feature, "
                    "both modalities mixed, soft margin)",
            "feature": f"{'BNNeck' if c['test_feature'] == 'bn' else 'GeM-pooled'} ({self.net.dim}-d), "
                       "L2-normalised, cosine",
            "optimizer": {"type": c["optimizer"], "nesterov": c["nesterov"], "momentum": c["momentum"],
                          "weight_decay": c["weight_decay"], "lr_head": c["lr"],
                          "lr_base": c["lr"] * c["base_lr_mult"],
                          "schedule": f"{self.epochs} epochs over {c['steps']} steps: linear warm-up over "
                                      f"{WARMUP_EPOCHS}, x0.1 at {MILESTONES[0]}, x0.01 at {MILESTONES[1]} "
                                      f"({math.ceil(c['steps'] / self.epochs)} steps per epoch)"},
            "batch": f"{c['ids_per_batch']} identities x ({c['imgs_per_modality']} RGB + {c['imgs_per_modality']} IR)",
            "augmentation": f"flip, zero-pad + crop, random erasing p={c['erase']}",
            "nonlocal_inner": "1 channel (official)" if c["nonlocal_width"] == "official" else "C/2",
            "training_identities": c["train_ids"],
            "selection": "validation identities (the original code selects on the test gallery)"
            if c["train_ids"] == "train" else "none: a fixed budget, the last checkpoint (train+val, as the "
                                               "official code trains; no test image is read)",
        }


class AGW(DeepMethod):
    """AGW under the shared engine; the ranking distance is cosine."""

    distance: ClassVar[str] = "cosine"
    preset_values: ClassVar[dict[str, dict[str, Any]]] = {
        # 81 epochs of AGW's 695 iterations; validation every 2 of its epochs.
        "paper": {"lr": 0.1, "steps": AGW_EPOCHS * 695, "eval_every": 2 * 695},
        "cpu": {"lr": 0.1, "steps": 810, "eval_every": 135},
    }

    def build_task(self, config: dict[str, Any], num_classes: int, device: torch.device, progress: bool) -> Task:
        return AgwTask(config, num_classes, device, progress)

    def fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> None:
        """``train_ids=train+val`` trains on both splits and leaves nothing to select on."""
        if self.config["train_ids"] == "train+val":
            train, val = with_val_identities(train, val), None
        super().fit(train, val, ctx)

    def tags(self, resolved: dict[str, Any]) -> list[str]:
        return super().tags(resolved) + (["train+val"] if resolved["train_ids"] == "train+val" else [])


def with_val_identities(train: ImageSet, val: ImageSet | None) -> ImageSet:
    """The training and validation identities as one training set (the official SYSU code's 395)."""
    if val is None or len(val) == 0:
        raise ReidbenchError("train_ids=train+val needs validation identities, and this dataset has none")
    if np.intersect1d(train.pids, val.pids).size:
        raise ReidbenchError("train_ids=train+val: the train and val splits share identities")
    return concat(train, val)
