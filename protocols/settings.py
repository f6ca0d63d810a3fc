"""Settings: the column groups of a protocol's table (SYSU: search mode x gallery shots)."""
from __future__ import annotations

from dataclasses import dataclass

MAX_TRIALS = 10
GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SHOTS = {"single": 1, "multi": 10}
_MODE_LABELS = {"all": "All-search", "indoor": "Indoor-search"}
_SHOT_LABELS = {"single": "Single-shot", "multi": "Multi-shot"}


@dataclass(frozen=True)
class Setting:
    """One column group of a table, e.g. all-search single-shot (``all-single``) or visible->thermal."""

    key: str
    group: str  # the column group's title


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
