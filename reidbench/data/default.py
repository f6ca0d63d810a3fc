"""The embedded default dataset: the synthetic replica, generated on first use."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from reidbench.data.sysu import SysuDataset, load_sysu
from reidbench.errors import ReidbenchError

DATASETS = {"synthetic-small": "small", "synthetic-tiny": "tiny", "synthetic-full": "full"}
DEFAULT_DATASET = "synthetic-small"
SYNTH_SEED = 0


def cache_home() -> Path:
    """``$REIDBENCH_HOME``, else the platform's user cache folder (``~/.cache/reidbench`` on Linux,
    ``~/Library/Caches/reidbench`` on macOS, ``%LOCALAPPDATA%\\reidbench\\Cache`` on Windows)."""
    if os.environ.get("REIDBENCH_HOME"):
        return Path(os.environ["REIDBENCH_HOME"]).expanduser()
    return platformdirs.user_cache_path("reidbench", appauthor=False)


def named_layout(name: str) -> str:
    """The layout (Dataset.kind) of a named dataset, known without generating it."""
    if name not in DATASETS:
        raise ReidbenchError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)}; or use --data ROOT)")
    return "sysu"


def is_named(data: SysuDataset) -> bool:
    """True for a built-in dataset that any machine regenerates, byte for byte, from its name."""
    return data.name in DATASETS and data.root.parent == cache_home() / "datasets"


def named_dataset(name: str, progress: bool = True) -> SysuDataset:
    """A synthetic dataset by name, generated into the cache the first time."""
    if name not in DATASETS:
        raise ReidbenchError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)}; or use --data ROOT)")
    from reidbench.data.synth import GENERATOR_VERSION, generate

    # The generator version is in the folder name so an upgrade never reuses old images.
    root = cache_home() / "datasets" / f"{name}-seed{SYNTH_SEED}-v{GENERATOR_VERSION}"
    if not root.exists():
        print(f"reidbench: generating the {name} dataset into {root} (first use only)", file=sys.stderr)
        root.parent.mkdir(parents=True, exist_ok=True)
        generate(root, preset=DATASETS[name], seed=SYNTH_SEED, progress=progress)
    return load_sysu(root, name=name)
