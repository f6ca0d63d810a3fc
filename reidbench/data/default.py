"""Named datasets (the replicas, generated on first use) and the cache folder they live in."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from reidbench.data.dataset import Dataset
from reidbench.errors import ReidbenchError

DEFAULT_DATASET = "synthetic-small"  # the embedded default: the SYSU-MM01 replica
SYNTH_SEED = 0


def cache_home() -> Path:
    """``$REIDBENCH_HOME``, else the platform's user cache folder (``~/.cache/reidbench`` on Linux,
    ``~/Library/Caches/reidbench`` on macOS, ``%LOCALAPPDATA%\\reidbench\\Cache`` on Windows)."""
    if os.environ.get("REIDBENCH_HOME"):
        return Path(os.environ["REIDBENCH_HOME"]).expanduser()
    return platformdirs.user_cache_path("reidbench", appauthor=False)


def _lookup(name: str):
    from reidbench.data.layouts import named_datasets

    named = named_datasets()
    if name not in named:
        raise ReidbenchError(f"unknown dataset '{name}' (known: {', '.join(named)}; or use --data ROOT)")
    return named[name]


def named_layout(name: str) -> str:
    """The layout (Dataset.kind) of a named dataset, known without generating it."""
    return _lookup(name)[0].kind


def is_named(data: Dataset) -> bool:
    """True for a built-in dataset that any machine regenerates, byte for byte, from its name."""
    from reidbench.data.layouts import named_datasets

    return data.name in named_datasets() and data.root.parent == cache_home() / "datasets"


def named_dataset(name: str, progress: bool = True) -> Dataset:
    """A replica by name, generated into the cache the first time."""
    layout, preset = _lookup(name)
    # The generator version is in the folder name so an upgrade never reuses old images.
    root = cache_home() / "datasets" / f"{name}-seed{SYNTH_SEED}-v{layout.version}"
    if not root.exists():
        print(f"reidbench: generating the {name} dataset into {root} (first use only)", file=sys.stderr)
        root.parent.mkdir(parents=True, exist_ok=True)
        layout.generate(root, preset=preset, seed=SYNTH_SEED, progress=progress)
    return layout.load(root, name)
