"""Evaluating features computed elsewhere: an npz of ``features`` and ``paths``.

Camera, identity and each image's position in its sorted folder come from the
paths (``cam3/0006/0001.jpg``, relative to the dataset root), so the official
trial table applies whenever the file covers the folders completely.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from reidbench.data.sysu import SysuDataset, _check_test_ids
from reidbench.errors import ReidbenchError
from reidbench.protocols import ALL_SETTINGS, get_protocol
from reidbench.protocols.sysu import official_test_ids

_PATH = re.compile(r"^cam([1-6])/(\d{4})/(\d{4})\.jpg$")


def load_feature_file(path: Path) -> tuple[np.ndarray, list[str]]:
    """Read and validate the npz; every problem is one clear line."""
    path = Path(path)
    if not path.is_file():
        raise ReidbenchError(f"feature file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("features", "paths") if k not in npz.files]
            if missing:
                raise ReidbenchError(f"{path}: missing key(s) {', '.join(missing)} (need 'features' and 'paths')")
            feats, paths = npz["features"], npz["paths"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ReidbenchError(f"{path}: not a readable npz file ({exc})") from None
    if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] == 0:
        raise ReidbenchError(f"{path}: 'features' must be an N x D array, got shape {feats.shape}")
    if not np.issubdtype(feats.dtype, np.number):
        raise ReidbenchError(f"{path}: 'features' must be numeric, got {feats.dtype}")
    if paths.ndim != 1 or not np.issubdtype(paths.dtype, np.str_):
        raise ReidbenchError(f"{path}: 'paths' must be a 1-D array of strings")
    if len(paths) != len(feats):
        raise ReidbenchError(f"{path}: {len(paths)} paths but {len(feats)} feature rows")
    feats = feats.astype(np.float64)
    if not np.isfinite(feats).all():
        bad = int(np.flatnonzero(~np.isfinite(feats).all(1))[0])
        raise ReidbenchError(f"{path}: features contain NaN or infinite values (first in row {bad}, {paths[bad]})")
    names = [str(p).replace("\\", "/").removeprefix("./") for p in paths]
    for name in names:
        if not _PATH.match(name):
            raise ReidbenchError(f"{path}: path '{name}' is outside the SYSU-MM01 layout "
                                 "(expected camK/NNNN/NNNN.jpg relative to the dataset root)")
    if len(set(names)) != len(names):
        raise ReidbenchError(f"{path}: repeated paths")
    return feats, names


def dataset_from_paths(names: list[str], test_ids: tuple[int, ...] | None = None) -> SysuDataset:
    """A listing-only dataset built from the paths; test IDs default to the official ones present."""
    files: dict[tuple[int, int], list[str]] = {}
    for name in names:
        m = _PATH.match(name)
        files.setdefault((int(m.group(1)), int(m.group(2))), []).append(name)
    present = {pid for _, pid in files}
    tests = tuple(sorted(present & set(test_ids if test_ids is not None else official_test_ids())))
    if not tests:
        raise ReidbenchError("no test identity of the protocol appears in the feature file's paths")
    listing = {k: tuple(sorted(v)) for k, v in files.items() if k[1] in tests}
    _check_test_ids(listing, tests, Path("<feature file>"))
    return SysuDataset(Path("."), listing, {"train": (), "val": (), "test": tests}, name="features")


def evaluate_feature_file(path: Path, protocol_name: str = "sysu", trials: int = 10,
                          distance: str = "euclidean", test_ids: tuple[int, ...] | None = None) -> dict[str, Any]:
    """All four settings, as percentages averaged over the trials, plus per-trial values."""
    from reidbench.runner import evaluate_settings

    feats, names = load_feature_file(path)
    data = dataset_from_paths(names, test_ids)
    protocol = get_protocol(protocol_name)
    row = {name: i for i, name in enumerate(names)}
    probes, pool = protocol.probes(data), protocol.pool(data)
    q = feats[[row[p] for p in probes.paths]]
    g = feats[[row[p] for p in pool.paths]]
    gals = {s.key: protocol.galleries(data, s, trials) for s in ALL_SETTINGS}
    summaries = evaluate_settings(q, g, probes, pool, gals, distance)
    return {key: {**sm["mean"], "trials": sm["trials"], "num_valid_probes": sm["num_valid_probes"],
                  "gallery_source": sm["gallery_source"], "gallery_note": sm["gallery_note"]}
            for key, sm in summaries.items()}
