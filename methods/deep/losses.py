"""Losses: identity cross-entropy, cross-modality triplet, modality discrimination.

All losses run in float32 whatever the autocast dtype of the features.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from reidbench.errors import ReidbenchError
from reidbench.methods.deep.config import TRIPLET_MINING



def pairwise_distances(x: torch.Tensor, squared: bool) -> torch.Tensor:
    """B x B Euclidean distances (squared if asked), exact zeros on the diagonal."""
    sq = (x * x).sum(1)
    d = (sq[:, None] + sq[None, :] - 2.0 * x @ x.t()).clamp_min(0.0)
    d = d * (1.0 - torch.eye(len(x), device=x.device, dtype=x.dtype))
    # sqrt has an infinite slope at 0; the floor only touches (near-)identical pairs.
    return d if squared else d.clamp_min(1e-12).sqrt()


def cross_modality_triplet(features: torch.Tensor, pids: torch.Tensor, modalities: torch.Tensor,
                           margin: float, mining: str = "all", squared: bool = True,
                           normalize: bool = False, reduction: str = "mean") -> torch.Tensor:
    """Triplets whose positive and negative lie in the modality the anchor is not in.

    Both directions (RGB anchors, IR anchors) are pooled. ``all`` takes every
    valid (a, p, n); ``batch_hard`` the farthest positive and nearest negative per
    anchor; ``random`` one valid positive and negative per anchor (torch's global
    generator, so resume replays it). ``mean`` averages over the triplets formed.
    """
    if mining not in TRIPLET_MINING:
        raise ReidbenchError(f"unknown triplet mining '{mining}' (known: {', '.join(TRIPLET_MINING)})")
    if reduction not in ("mean", "sum"):
        raise ReidbenchError(f"unknown triplet reduction '{reduction}' (mean or sum)")
    x = features.float()
    if normalize:
        x = F.normalize(x, dim=1)
    d = pairwise_distances(x, squared)
    cross = modalities[:, None] != modalities[None, :]
    same = pids[:, None] == pids[None, :]
    pos = cross & same
    neg = cross & ~same
    anchors = pos.any(1) & neg.any(1)
    if mining == "all":
        # loss[a, p, n] over valid positives p and negatives n of each anchor a
        terms = (d[:, :, None] - d[:, None, :] + margin).clamp_min(0.0)
        valid = (pos[:, :, None] & neg[:, None, :]) & anchors[:, None, None]
        losses = terms[valid]
    else:
        if mining == "batch_hard":
            d_ap = d.masked_fill(~pos, float("-inf")).amax(1)
            d_an = d.masked_fill(~neg, float("inf")).amin(1)
        else:
            d_ap = _random_pick(d, pos)
            d_an = _random_pick(d, neg)
        losses = (d_ap - d_an + margin).clamp_min(0.0)[anchors]
    if losses.numel() == 0:
        return x.sum() * 0.0  # no valid triplet: a zero that keeps the graph
    return losses.mean() if reduction == "mean" else losses.sum()


def _random_pick(d: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """d[a, j] for one uniformly drawn j with mask[a, j] per row (rows without one: any value)."""
    scores = torch.rand(d.shape, dtype=torch.float32).to(d.device)
    scores = scores.masked_fill(~mask, -1.0)
    return d.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)


def modality_loss(logits: torch.Tensor, modalities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator cross-entropy (mean over samples) and its accuracy."""
    logits = logits.float()
    loss = F.cross_entropy(logits, modalities)
    acc = (logits.argmax(1) == modalities).float().mean()
    return loss, acc


def identity_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy over training identities (eq. 1), mean over the batch."""
    return F.cross_entropy(logits.float(), labels)
