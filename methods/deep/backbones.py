"""Backbones: torchvision ResNets as in the paper, and small ResNets for CPU runs.

Every backbone is a torchvision-style ResNet (``conv1 bn1 relu maxpool
layer1..4``), so two-stream stems, last-stride changes and input-channel
adaptation work the same way on all of them.
"""
from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from reidbench.errors import ReidbenchError
from reidbench.methods.deep.config import BACKBONES, IMAGENET_URLS, offline_weights_error, weights_file
from reidbench.methods.deep.encoding import InputEncoder

# name -> (torchvision constructor, ImageNet weights enum member) for the real ResNets
TORCHVISION = {
    "resnet50": (torchvision.models.resnet50, "ResNet50_Weights"),
    "resnet18": (torchvision.models.resnet18, "ResNet18_Weights"),
}
# Small from-scratch ResNets for CPU: one BasicBlock per stage, channel widths as given.
MINI_WIDTHS = {
    "resnet_mini": (16, 32, 64, 128),
    "resnet_tiny": (8, 16, 32, 64),
}
if set(TORCHVISION) | set(MINI_WIDTHS) != set(BACKBONES):  # config.BACKBONES is the list users see
    raise ImportError("methods.deep.config.BACKBONES and the backbone tables disagree")
if any(getattr(torchvision.models, enum).IMAGENET1K_V1.url != IMAGENET_URLS[name]  # the torch-free pre-check's list
       for name, (_, enum) in TORCHVISION.items()):
    raise ImportError("methods.deep.config.IMAGENET_URLS and torchvision's ImageNet weights disagree")


def float32_head(x: torch.Tensor) -> torch.autocast:
    """Autocast off for what follows pooling (heads, embeddings, discriminators).

    Features and logits decide the losses and the test ranking, so they keep
    float32's 24 mantissa bits under any autocast; the convolutions before them
    carry the cost, the heads are cheap. A no-op where autocast is off.
    """
    return torch.autocast(x.device.type, enabled=False)


class GlobalAvgPool(nn.Module):
    """The spatial mean in float32: GAP whose backward is deterministic on CUDA (AdaptiveAvgPool2d's may
    not be). Under autocast the feature map is bf16/fp16; the pooled feature is float32 all the same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean((2, 3))


class MiniResNet(nn.Module):
    """A ResNet-10-shaped network with reduced widths, attribute names as torchvision's."""

    def __init__(self, widths: tuple[int, int, int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != width:
                down = nn.Sequential(nn.Conv2d(inplanes, width, 1, stride, bias=False), nn.BatchNorm2d(width))
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, width, stride, down)))
            inplanes = width
        self.avgpool = GlobalAvgPool()
        self.fc = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """GAP feature, as torchvision's ResNet with ``fc = Identity``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x)


def stem(model: nn.Module) -> nn.Sequential:
    """conv1, bn1, relu, maxpool: the 'transition block' a two-stream network duplicates."""
    return nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)


def stages(model: nn.Module, first: int) -> nn.Sequential:
    """layer<first>..layer4 followed by global average pooling."""
    layers = [getattr(model, f"layer{i}") for i in range(first, 5)]
    return nn.Sequential(*layers, GlobalAvgPool())


class ModalityStems(nn.Module):
    """Modality-specific streams over a modality-major batch: the first ``n_rgb`` rows
    go through stream 0, the rest through stream 1.

    The split is a slice at a count the host knows, so it needs no device sync and
    keeps the batch's memory layout (channels-last on GPU); each stream's BatchNorm
    sees only its own modality.
    """

    def __init__(self, encoders: list[InputEncoder], streams: list[nn.Module]):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.streams = nn.ModuleList(streams)

    def forward(self, x: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        bounds = ((0, n_rgb), (n_rgb, len(x)))
        parts = [stream(enc(x[a:b], modalities[a:b]))
                 for enc, stream, (a, b) in zip(self.encoders, self.streams, bounds) if b > a]
        return torch.cat(parts) if len(parts) > 1 else parts[0]


def modality_stems(name: str, weights: str, encoders: list[InputEncoder], last_stride: int, progress: bool,
                   with_layer1: bool = False) -> tuple[ModalityStems, nn.Module]:
    """A backbone per modality: their stems (and layer1) become the specific streams.

    Returns the streams and the last backbone, whose deeper layers are shared (with
    loaded weights every copy starts the same).
    """
    streams = []
    for enc in encoders:
        net = build_backbone(name, weights, enc.channels, last_stride, progress)
        streams.append(nn.Sequential(stem(net), *([net.layer1] if with_layer1 else [])))
    return ModalityStems(encoders, streams), net


def feature_dim(model: nn.Module) -> int:
    """Channels of layer4's output (2048 for ResNet-50)."""
    last = model.layer4[-1]
    bn = last.bn3 if hasattr(last, "bn3") else last.bn2
    return bn.num_features


def build_backbone(name: str, weights: str, in_channels: int = 3, last_stride: int = 2,
                   progress: bool = False) -> nn.Module:
    """A ResNet with ``weights`` (``imagenet``, ``none`` or a state-dict path) and ``in_channels`` inputs.

    With loaded weights, an input channel count other than 3 gets conv1 filters
    equal to the sum of the RGB filters in every channel, so a grey image gives
    the response of its 3-channel replicate (Wu et al.'s zero-padding init).
    """
    if name in TORCHVISION:
        model = TORCHVISION[name][0](weights=None)
        model.avgpool, model.fc = GlobalAvgPool(), nn.Identity()
    elif name in MINI_WIDTHS:
        model = MiniResNet(MINI_WIDTHS[name])
    else:
        raise ReidbenchError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})")
    pretrained = weights.lower() != "none"
    if pretrained:
        _load_weights(model, name, weights, progress)
    if in_channels != 3:
        adapt_conv1(model, in_channels, from_rgb=pretrained)
    if last_stride == 1:
        _remove_last_stride(model)
    elif last_stride != 2:
        raise ReidbenchError(f"last_stride must be 1 or 2, got {last_stride}")
    return model


def adapt_conv1(model: nn.Module, in_channels: int, from_rgb: bool) -> None:
    """Replace conv1 by one taking ``in_channels`` inputs (channel-sum init when ``from_rgb``)."""
    old = model.conv1
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    if from_rgb:
        with torch.no_grad():
            new.weight.copy_(old.weight.sum(1, keepdim=True).expand(-1, in_channels, -1, -1))
    else:
        nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    model.conv1 = new


def _remove_last_stride(model: nn.Module) -> None:
    """Stride 1 in layer4 (the re-ID 'last stride' trick): twice the final resolution."""
    for m in model.layer4[0].modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            m.stride = (1, 1)


def _load_weights(model: nn.Module, name: str, weights: str, progress: bool) -> None:
    if weights.lower() == "imagenet":
        if name not in TORCHVISION:
            raise ReidbenchError(f"backbone '{name}' has no ImageNet weights; use weights=none")
        state = _imagenet_state(name, progress)
    else:
        path = weights_file(weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unreadable file is the user's to fix
            raise ReidbenchError(f"cannot read weights file {path}: {exc}") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ReidbenchError(f"weights file {path} holds no state dict")
        state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ReidbenchError(
            f"weights do not fit backbone '{name}': missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")


def _imagenet_state(name: str, progress: bool) -> dict[str, Any]:
    enum = getattr(torchvision.models, TORCHVISION[name][1]).IMAGENET1K_V1
    try:
        return enum.get_state_dict(progress=progress, check_hash=True)
    except Exception as exc:  # offline, proxy, corrupt download: all need the same advice
        raise offline_weights_error(name, f"{type(exc).__name__}: {exc}") from None
