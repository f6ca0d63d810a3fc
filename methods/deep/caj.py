"""CAJ (Ye et al., Channel Augmented Joint Learning, ICCV 2021), as ``ICCV21_CAJ/`` of
``mangye16/Cross-Modal-Re-ID-baseline`` trains it, under the shared engine.

The network, optimiser and schedule shape are AGW's (``agw.py``: two-stream ResNet,
1-channel non-local blocks, GeM, BNNeck; SGD with the head at ``lr`` and the rest at
``lr x 0.1``), over CAJ's 100 epochs. What CAJ adds:

- every batch holds each RGB image twice: as drawn, and with its channels exchanged
  (one of R, G, B, chosen uniformly, copied to all three), beside the IR images, whose
  channels are exchanged too (R, G, B or kept, uniformly; kept images become grey-scale
  with probability 0.5). Labels repeat for the copy; both RGB versions go through the
  RGB stem;
- random erasing (p = 0.5) on every training image;
- the "enhanced squared difference" triplet (``TripletLoss_ADP``, alpha = gamma = 1,
  square = 1) in place of AGW's soft margin, plus the identity loss, on all 3 parts.

As in the official code, the channel operations act on ImageNet-normalised values (the
IR image's three equal channels differ there), so they are applied in that space and
mapped back before the network's own normalisation.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from reidbench.methods.deep.agw import AGW, AgwTask
from reidbench.methods.deep.encoding import IMAGENET_MEAN, IMAGENET_STD
from reidbench.methods.deep.losses import identity_loss, weighted_pair_distances
from reidbench.methods.deep.task import Amp, Batch, Task

CAJ_EPOCHS = 100
LUMA = (0.2989, 0.5870, 0.1140)  # the grey-scale weights of the official ChannelAdapGray


def channel_exchange(x: torch.Tensor, choice: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
    """Per image: channel ``choice`` (0-2) copied to all three, or (choice 3) the image itself,
    grey-scale where ``grey``. ``x`` is B x 3 x H x W in [0, 1]; the operation is done on the
    ImageNet-normalised values, as the official transforms do it after ``Normalize``."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    z = (x - mean) / std
    index = choice.clamp_max(2).view(-1, 1, 1, 1).expand(-1, 3, *z.shape[2:])
    replicated = z.gather(1, index)
    luma = (z * z.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True).expand_as(z)
    kept = torch.where(grey.view(-1, 1, 1, 1), luma, z)
    out = torch.where((choice < 3).view(-1, 1, 1, 1), replicated, kept)
    return out * std + mean


def squared_difference_triplet(features: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
    """CAJ's triplet (``TripletLoss_ADP``, alpha = gamma = 1, square = 1): AGW's softmax-weighted
    positive and softmin-weighted negative distances d_p, d_n per anchor, then the soft margin
    of ±(d_p - d_n)², the sign pushing d_p below d_n; the square is capped at 88 as there."""
    far_pos, near_neg = weighted_pair_distances(features, pids)
    diff = (far_pos - near_neg).pow(2).clamp_max(88.0)
    sign = torch.where(far_pos > near_neg, 1.0, -1.0)
    return F.softplus(sign * diff).mean()


class CajTask(AgwTask):
    """AGW's network and optimiser; CAJ's three-part batch and loss."""

    epochs: ClassVar[int] = CAJ_EPOCHS

    def __init__(self, cfg: dict[str, Any], num_classes: int, device: torch.device, progress: bool):
        super().__init__(cfg, num_classes, device, progress)
        # The engine has seeded torch with the run's seed; the draws stay on the host (4 bytes an image).
        self.generator = torch.Generator().manual_seed(torch.initial_seed() + 2)

    def augment(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """(images, labels, modalities, RGB rows): RGB, RGB channel-exchanged, IR channel-augmented."""
        n = batch.n_rgb
        rgb, ir = batch.images[:n], batch.images[n:]
        rgb_choice = torch.randint(0, 3, (n,), generator=self.generator).to(rgb.device)
        ir_choice = torch.randint(0, 4, (len(ir),), generator=self.generator).to(ir.device)
        ir_grey = (torch.rand(len(ir), generator=self.generator) < 0.5).to(ir.device)
        no_grey = torch.zeros(n, dtype=torch.bool, device=rgb.device)
        images = torch.cat([rgb, channel_exchange(rgb, rgb_choice, no_grey), channel_exchange(ir, ir_choice, ir_grey)])
        labels = torch.cat([batch.labels[:n], batch.labels[:n], batch.labels[n:]])
        modalities = torch.cat([batch.modalities[:n], batch.modalities[:n], batch.modalities[n:]])
        if batch.images.is_contiguous(memory_format=torch.channels_last) and not batch.images.is_contiguous():
            images = images.contiguous(memory_format=torch.channels_last)  # keep the engine's layout
        return images, labels, modalities, 2 * n

    def train_step(self, step: int, batch: Batch, nets: Mapping[str, nn.Module],
                   amp: Amp) -> tuple[str, dict[str, torch.Tensor | float]]:
        lr = float(self.optimizers["net"].param_groups[1]["lr"])
        images, labels, modalities, n_rgb = self.augment(batch)
        with amp.autocast():
            pooled, _, logits = nets["net"](images, modalities, n_rgb)
        l_ide = identity_loss(logits, labels)
        l_tri = squared_difference_triplet(pooled, labels)
        total = l_ide + l_tri
        amp.step(total, self.optimizers["net"], "net")
        self.schedulers["net"].step()
        return "train", {"l_ide": l_ide.detach(), "l_tri": l_tri.detach(), "l_total": total.detach(), "lr": lr}

    def extra_state(self) -> dict[str, Any]:
        return {"channel_generator": self.generator.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("channel_generator") is not None:
            self.generator.set_state(state["channel_generator"])

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["loss"] = ("identity cross-entropy (BNNeck logits) + CAJ's squared-difference weighted triplet "
                       "(TripletLoss_ADP, alpha = gamma = 1, square = 1) on the pooled feature, over all 3 parts")
        out["batch"] += " + each RGB image again, channel-exchanged (3 parts)"
        out["augmentation"] += ("; channel exchange: RGB copy R/G/B uniformly; IR R/G/B/kept uniformly, "
                                "kept -> grey-scale with p 0.5 (on normalised values)")
        return out


class CAJ(AGW):
    """CAJ under the shared engine; presets from ``ICCV21_CAJ/train_ext.py``."""

    preset_values: ClassVar[dict[str, dict[str, Any]]] = {
        # 100 epochs of 695 iterations (8 identities x 4 per modality, as AGW); validation every 2 epochs.
        "paper": {"lr": 0.1, "steps": CAJ_EPOCHS * 695, "eval_every": 2 * 695},
        "cpu": {"lr": 0.1, "steps": 1000, "eval_every": 200},
    }

    def build_task(self, config: dict[str, Any], num_classes: int, device: torch.device, progress: bool) -> Task:
        return CajTask(config, num_classes, device, progress)
