"""SYSU-MM01's settings: search mode (which RGB cameras form the gallery) x gallery shots.

Kept apart from :mod:`reidbench.protocols.sysu` (which reads the official trial table
with scipy), so that the settings load without it.
"""
from __future__ import annotations

from dataclasses import dataclass

from reidbench.protocols.settings import Setting

GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SHOTS = {"single": 1, "multi": 10}
_MODE_LABELS = {"all": "All-search", "indoor": "Indoor-search"}
_SHOT_LABELS = {"single": "Single-shot", "multi": "Multi-shot"}


@dataclass(frozen=True)
class SysuSetting(Setting):
    """A SYSU-MM01 setting: which RGB cameras form the gallery, and how many images per (camera, ID)."""

    mode: str
    shots: str

    @property
    def gallery_cams(self) -> tuple[int, ...]:
        return GALLERY_CAMS[self.mode]

    @property
    def num_shots(self) -> int:
        return SHOTS[self.shots]


def sysu_setting(mode: str, shots: str) -> SysuSetting:
    return SysuSetting(f"{mode}-{shots}", f"{_MODE_LABELS[mode]} {_SHOT_LABELS[shots]}", mode, shots)


ALL_SETTINGS = tuple(sysu_setting(m, s) for m in GALLERY_CAMS for s in SHOTS)
