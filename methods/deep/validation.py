"""Checkpoint selection on the validation identities (``reidbench.protocols.validation``), never on test."""
from __future__ import annotations

from reidbench.protocols.validation import ValProtocol

__all__ = ["ValProtocol", "selection_score"]


def selection_score(metrics: dict[str, float], select: str) -> float:
    """The number model selection maximises."""
    if select == "mAP_r1":
        return (metrics["mAP"] + metrics["r1"]) / 2
    return metrics["mAP"]
