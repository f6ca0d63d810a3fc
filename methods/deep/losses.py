"""Losses: identity cross-entropy, cross-modality triplet, AGW's weighted-regularisation
triplet, modality discrimination.

All losses run in float32 whatever the autocast dtype of the features. None has a
data-dependent shape (no boolean-mask indexing): valid pairs and triplets are
masks that weight reductions, so a loss never makes the host wait for the GPU.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from reidbench.errors import ReidbenchError
from reidbench.methods.deep.config import TRIPLET_MINING


class TripletLoss(NamedTuple):
    """The reduced loss and the fraction of valid triplets whose hinge is active (> 0)."""

    loss: torch.Tensor
    active: torch.Tensor


def pairwise_distances(x: torch.Tensor, squared: bool) -> torch.Tensor:
    """B x B Euclidean distances (squared if asked), exact zeros on the diagonal."""
    sq = (x * x).sum(1)
    d = (sq[:, None] + sq[None, :] - 2.0 * x @ x.t()).clamp_min(0.0)
    d = d * (1.0 - torch.eye(len(x), device=x.device, dtype=x.dtype))
    # sqrt has an infinite slope at 0; the floor only touches (near-)identical pairs.
    return d if squared else d.clamp_min(1e-12).sqrt()


def cross_modality_triplet(features: torch.Tensor, pids: torch.Tensor, modalities: torch.Tensor,
                           margin: float, mining: str = "all", squared: bool = True,
                           normalize: bool = False, reduction: str = "mean") -> TripletLoss:
    """Triplets whose positive and negative lie in the modality the anchor is not in.

    Both directions (RGB anchors, IR anchors) are pooled. ``all`` takes every
    valid (a, p, n); ``batch_hard`` the farthest positive and nearest negative per
    anchor; ``random`` one valid positive and negative per anchor (torch's generator
    of the features' device, whose state checkpoints keep). ``mean`` averages over
    the triplets formed; without any, the loss is a zero that keeps the graph.
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
        # terms[a, p, n] over valid positives p and negatives n of each anchor a
        terms = (d[:, :, None] - d[:, None, :] + margin).clamp_min(0.0)
        valid = (pos[:, :, None] & neg[:, None, :]).to(x.dtype)
    else:
        if mining == "batch_hard":
            d_ap = d.masked_fill(~pos, float("-inf")).amax(1)
            d_an = d.masked_fill(~neg, float("inf")).amin(1)
        else:
            d_ap = _random_pick(d, pos)
            d_an = _random_pick(d, neg)
        # rows without a valid triplet may hold inf - inf: zero them before weighting
        terms = torch.where(anchors, d_ap - d_an + margin, torch.zeros_like(d_ap)).clamp_min(0.0)
        valid = anchors.to(x.dtype)
    count = valid.sum()
    total = (terms * valid).sum()
    active = ((terms > 0).to(x.dtype) * valid).sum() / count.clamp_min(1.0)
    return TripletLoss(total / count.clamp_min(1.0) if reduction == "mean" else total, active)


def _random_pick(d: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """d[a, j] for one uniformly drawn j with mask[a, j] per row (rows without one: any value)."""
    scores = torch.rand(d.shape, dtype=torch.float32, device=d.device)
    scores = scores.masked_fill(~mask, -1.0)
    return d.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)


def weighted_regularization_triplet(features: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
    """AGW's triplet without a margin: per anchor, a softmax-weighted positive distance
    (far positives weigh more) against a softmin-weighted negative distance (near
    negatives weigh more), through the soft margin log(1 + exp(d_p - d_n)); mean over
    anchors. Pairs of either modality count, the anchor itself among its positives.
    """
    far_pos, near_neg = weighted_pair_distances(features, pids)
    return F.softplus(far_pos - near_neg).mean()


def weighted_pair_distances(features: torch.Tensor, pids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor, AGW's softmax-weighted positive distance and softmin-weighted negative distance
    (the anchor itself among its positives); AGW's and CAJ's triplets differ only in what follows."""
    x = features.float()
    d = pairwise_distances(x, squared=False)
    pos = (pids[:, None] == pids[None, :]).to(x.dtype)
    neg = 1.0 - pos
    return (d * _softmax_weights(d * pos, pos)).sum(1), (d * _softmax_weights(-d * neg, neg)).sum(1)


def _softmax_weights(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of ``scores`` over each row's masked entries (0 elsewhere)."""
    shifted = scores - (scores * mask).amax(1, keepdim=True)
    e = shifted.exp() * mask
    return e / (e.sum(1, keepdim=True) + 1e-6)


def modality_loss(logits: torch.Tensor, modalities: torch.Tensor,
                  pair_factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator cross-entropy (mean over samples, times ``pair_factor``) and its accuracy."""
    logits = logits.float()
    loss = F.cross_entropy(logits, modalities) * pair_factor
    acc = (logits.argmax(1) == modalities).float().mean()
    return loss, acc


def identity_loss(logits: torch.Tensor, labels: torch.Tensor, pair_factor: float = 1.0) -> torch.Tensor:
    """Softmax cross-entropy over training identities, mean over the batch times ``pair_factor``.

    ``pair_factor`` 2 gives eq. 1 as written (and eq. 6 for :func:`modality_loss`):
    each pair's RGB and IR terms summed, averaged over the pairs.
    """
    return F.cross_entropy(logits.float(), labels) * pair_factor
