"""The synthetic replica's presets: how many IDs of each official list, count caps, crop heights.

Pure data, so the command line can offer the names without loading the generator.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """How many IDs of each official list to keep, count caps and crop heights.

    ``None`` for an ID count keeps the whole list; ``None`` for a cap keeps real counts.
    """

    name: str
    n_train: int | None
    n_val: int | None
    n_test: int | None
    cap_test_rgb: int | None
    cap_test_ir: int | None
    cap_other: int | None
    height_range: tuple[int, int]
    include_unavailable: bool  # also write IDs outside train/val/test (real folders)
    description: str


PRESETS: dict[str, Preset] = {
    "full": Preset(
        "full", n_train=None, n_val=None, n_test=None,
        cap_test_rgb=None, cap_test_ir=None, cap_other=None,
        height_range=(160, 400), include_unavailable=True,
        description="every real (cam, ID) folder and count: 45,863 images, 2,298 folders; "
                    "split 296/99/96",
    ),
    "small": Preset(
        "small", n_train=64, n_val=16, n_test=32,
        cap_test_rgb=12, cap_test_ir=8, cap_other=6,
        height_range=(96, 192), include_unavailable=False,
        description="embedded default: 3,854 images, 523 folders, evenly spaced real IDs",
    ),
    "tiny": Preset(
        "tiny", n_train=8, n_val=4, n_test=8,
        cap_test_rgb=10, cap_test_ir=4, cap_other=3,
        height_range=(64, 128), include_unavailable=False,
        description="for tests: 467 images, 92 folders, evenly spaced real IDs",
    ),
}
