"""Wu et al., ICCV 2017: the four deep baselines of Table 1 (deep_methods.md section 5).

All four train with the softmax identity loss and are tested with Euclidean
distance on the penultimate feature. No public implementation exists; the
structures follow the spec's definitions:

- ``one_stream``: one shared network (grey 1-channel input; ``color=true``: RGB).
- ``two_stream``: a modality-specific stem (conv1/bn/relu/maxpool; ``specific=
  stem+layer1`` also layer1), RGB stream 3-channel and IR stream 1-channel grey,
  shared deeper layers.
- ``asym_fc``: shared backbone + GAP, a modality-specific FC (the test feature),
  a shared classifier.
- ``zero_padding``: one-stream with a 2-channel input, RGB grey in channel 1 and IR
  in channel 2, the other channel zero; conv1 channels start as the sum of the
  ImageNet RGB filters.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from reidbench.errors import ReidbenchError
from reidbench.methods.deep.backbones import build_backbone, feature_dim, float32_head, modality_stems, stages
from reidbench.methods.deep.config import TWO_STREAM_SPLITS, WU_ARCHITECTURES
from reidbench.methods.deep.encoding import InputEncoder
from reidbench.methods.deep.losses import identity_loss
from reidbench.methods.deep.method import DeepMethod, make_optimizer, make_scheduler
from reidbench.methods.deep.task import Amp, Batch, Task


def classify(classifier: nn.Module, feat: torch.Tensor) -> torch.Tensor:
    """Identity logits of the (float32) pooled feature, in float32 under any autocast."""
    with float32_head(feat):
        return classifier(feat)


class OneStream(nn.Module):
    """Encoder -> backbone -> GAP feature (the test feature) -> classifier."""

    def __init__(self, cfg: dict[str, Any], encoding: str, num_classes: int, progress: bool):
        super().__init__()
        self.encoder = InputEncoder(encoding)
        self.backbone = build_backbone(cfg["backbone"], cfg["weights"], self.encoder.channels,
                                       cfg["last_stride"], progress)
        self.classifier = nn.Linear(feature_dim(self.backbone), num_classes)

    def features(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return self.backbone(self.encoder(x, modalities))

    def forward(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return classify(self.classifier, self.features(x, modalities, n_rgb))


class TwoStream(nn.Module):
    """Modality-specific stems ('transition blocks'), shared deeper layers."""

    def __init__(self, cfg: dict[str, Any], num_classes: int, progress: bool):
        super().__init__()
        specific = cfg["specific"]
        if specific not in TWO_STREAM_SPLITS:
            raise ReidbenchError(f"unknown two-stream split '{specific}' (known: {', '.join(TWO_STREAM_SPLITS)})")
        with_layer1 = specific == "stem+layer1"
        encoders = [InputEncoder("rgb"), InputEncoder("rgb" if cfg["color"] else "grey")]
        self.streams, net = modality_stems(cfg["backbone"], cfg["weights"], encoders, cfg["last_stride"], progress,
                                           with_layer1)
        self.shared = stages(net, 2 if with_layer1 else 1)  # the deeper layers of the IR copy: identical init
        self.classifier = nn.Linear(feature_dim(net), num_classes)

    def features(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return self.shared(self.streams(x, modalities, n_rgb))

    def forward(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return classify(self.classifier, self.features(x, modalities, n_rgb))


class AsymFC(nn.Module):
    """Shared backbone + GAP, a modality-specific FC (the test feature), shared classifier."""

    def __init__(self, cfg: dict[str, Any], num_classes: int, progress: bool):
        super().__init__()
        self.encoder = InputEncoder("rgb" if cfg["color"] else "grey")
        self.backbone = build_backbone(cfg["backbone"], cfg["weights"], self.encoder.channels,
                                       cfg["last_stride"], progress)
        dim = feature_dim(self.backbone)
        self.fcs = nn.ModuleList([nn.Linear(dim, cfg["fc_dim"]), nn.Linear(dim, cfg["fc_dim"])])
        self.classifier = nn.Linear(cfg["fc_dim"], num_classes)

    def features(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        g = self.backbone(self.encoder(x, modalities))
        # Both FCs run on every row (they are tiny), so every parameter gets a gradient
        # each step, which DDP requires.
        with float32_head(g):
            return torch.where(modalities[:, None] == 1, self.fcs[1](g), self.fcs[0](g))

    def forward(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return classify(self.classifier, self.features(x, modalities, n_rgb))


def build_network(arch: str, cfg: dict[str, Any], num_classes: int, progress: bool) -> nn.Module:
    if arch == "one_stream":
        return OneStream(cfg, "rgb" if cfg["color"] else "grey", num_classes, progress)
    if arch == "zero_padding":
        return OneStream(cfg, "zero_pad", num_classes, progress)
    if arch == "two_stream":
        return TwoStream(cfg, num_classes, progress)
    if arch == "asym_fc":
        return AsymFC(cfg, num_classes, progress)
    raise ReidbenchError(f"unknown architecture '{arch}' (known: {', '.join(WU_ARCHITECTURES)})")


class WuTask(Task):
    """One network, one optimiser, softmax identity loss."""

    columns: ClassVar[tuple[str, ...]] = ("l_ide", "l_total", "lr")

    def __init__(self, arch: str, cfg: dict[str, Any], num_classes: int, device: torch.device, progress: bool):
        self.arch = arch
        self.cfg = cfg
        self.net = build_network(arch, cfg, num_classes, progress)
        self.networks = {"net": self.net}
        opt = make_optimizer(self.net.parameters(), cfg, cfg["lr"], device)
        self.optimizers = {"net": opt}
        self.schedulers = {"net": make_scheduler(opt, cfg["lr_schedule"], int(cfg["steps"]))}

    def train_step(self, step: int, batch: Batch, nets: Mapping[str, nn.Module],
                   amp: Amp) -> tuple[str, dict[str, torch.Tensor | float]]:
        lr = float(self.optimizers["net"].param_groups[0]["lr"])
        with amp.autocast():
            logits = nets["net"](batch.images, batch.modalities, batch.n_rgb)
        loss = identity_loss(logits, batch.labels)
        amp.step(loss, self.optimizers["net"], "net")
        self.schedulers["net"].step()
        return "train", {"l_ide": loss.detach(), "l_total": loss.detach(), "lr": lr}

    def embed(self, images: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return self.net.features(images, modalities, n_rgb)

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        shared = "RGB 3-channel, IR replicated" if c.get("color") else "grey 1-channel (mean 0.449, std 0.226)"
        inputs = {
            "one_stream": shared,
            "asym_fc": shared,
            "two_stream": "RGB stream 3-channel; IR stream " + ("3-channel replicated" if c.get("color")
                                                                  else "1-channel grey"),
            "zero_padding": "2-channel zero-padded grey (RGB in channel 1, IR in channel 2)",
        }[self.arch]
        channels = sorted({m.channels for m in self.net.modules() if isinstance(m, InputEncoder)})
        adapted = c["weights"] != "none" and any(ch != 3 for ch in channels)
        out: dict[str, Any] = {
            "architecture": self.arch, "input": inputs, "loss": "softmax identity cross-entropy",
            "feature": "penultimate (" + ("modality-specific FC output" if self.arch == "asym_fc" else "GAP") +
                       "), Euclidean at test",
            "backbone": {"name": c["backbone"], "weights": c["weights"], "last_stride": c["last_stride"],
                         "input_channels": channels,
                         "conv1": "each input channel = sum of the pretrained RGB filters" if adapted
                         else "as built"},
            "optimizer": {"type": c["optimizer"], "lr": c["lr"], "momentum": c["momentum"],
                          "weight_decay": c["weight_decay"], "lr_schedule": c["lr_schedule"]},
        }
        if self.arch == "two_stream":
            out["specific"] = c["specific"]
        if self.arch == "asym_fc":
            out["fc_dim"] = c["fc_dim"]
        return out


class WuBaseline(DeepMethod):
    """One of Wu et al.'s four networks; ``name`` is the architecture."""

    preset_values: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"lr": 1e-2},
        "cpu": {"lr": 5e-2},
    }

    def build_task(self, config: dict[str, Any], num_classes: int, device: torch.device, progress: bool) -> Task:
        return WuTask(self.name, config, num_classes, device, progress)
