"""The four SYSU-MM01 settings: search mode x number of gallery shots."""
from __future__ import annotations

from dataclasses import dataclass

PROBE_CAMS = (3, 6)
GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SHOTS = {"single": 1, "multi": 10}
MAX_TRIALS = 10


@dataclass(frozen=True)
class Setting:
    """One column group of Table 1, e.g. all-search single-shot (``all-single``)."""

    mode: str
    shots: str

    @property
    def key(self) -> str:
        return f"{self.mode}-{self.shots}"

    @property
    def gallery_cams(self) -> tuple[int, ...]:
        return GALLERY_CAMS[self.mode]

    @property
    def num_shots(self) -> int:
        return SHOTS[self.shots]


ALL_SETTINGS = tuple(Setting(m, s) for m in GALLERY_CAMS for s in SHOTS)
