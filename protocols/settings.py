"""Settings: the column groups of a protocol's table (each protocol defines its own; SYSU-MM01's
search mode x gallery shots are in :mod:`reidbench.protocols.sysu_settings`)."""
from __future__ import annotations

from dataclasses import dataclass

MAX_TRIALS = 10


@dataclass(frozen=True)
class Setting:
    """One column group of a table, e.g. all-search single-shot (``all-single``) or visible->thermal."""

    key: str
    group: str  # the column group's title
