"""Range checks of numeric options, made before any work and worded with the flag the user typed.

One home for the limits every command shares: a seed is what torch, numpy and the
replica generators all accept; counts are at least 1.
"""
from __future__ import annotations

from reidbench.errors import ReidbenchError

MAX_SEED = 2**64 - 1  # torch.manual_seed's largest seed (numpy's legacy seeding takes it modulo 2**32)


def check_seed(seed: int, flag: str = "--seed") -> int:
    """A seed in 0..2**64-1, the range torch accepts."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ReidbenchError(f"{flag} must be a non-negative integer below 2**64, got {seed!r}")
    return seed


def check_range(flag: str, value: int, low: int, high: int | None = None) -> int:
    """``value`` when ``low <= value <= high`` (no upper bound with ``high=None``); else one line naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReidbenchError(f"{flag} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ReidbenchError(f"{flag} must be {bound}, got {value}")
    return value
