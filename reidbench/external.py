"""Evaluating features computed elsewhere: npz files of ``features`` and ``paths``.

Paths are relative to the dataset root, as the dataset names its images. Where a layout's
paths alone say camera and identity (SYSU-MM01: ``Layout.feature_dataset``), the features
are scored from their paths, with ``--data`` optional; other layouts' features (RegDB,
LLCM) are scored against their dataset (``--data ROOT``: its split files). RegDB's trials
are separate splits, so it takes one file per trial (one model each); one file for every
trial is refused unless ``allow_shared`` (and then labelled). Scoring is the runner's
(:func:`reidbench.scoring.score_trials`), so the numbers are those a run would give.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reidbench.data.dataset import Dataset
from reidbench.data.imageset import ImageSet
from reidbench.data.layouts import LAYOUTS
from reidbench.errors import ReidbenchError
from reidbench.protocols import Protocol
from reidbench.scoring import score_trials, summarise

_ZIP_MAGIC = b"PK\x03\x04"  # an npz is a zip archive


def load_feature_file(path: Path) -> tuple[np.ndarray, list[str]]:
    """Read and validate the npz; every problem is one clear line.

    The features keep their stored dtype; rows are converted to float64 (and
    checked for NaN) only once the protocol has picked the ones it scores.
    """
    path = Path(path)
    if not path.is_file():
        raise ReidbenchError(f"feature file not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != _ZIP_MAGIC:
            raise ReidbenchError(f"{path}: not an npz file (expected numpy.savez output with 'features' and 'paths')")
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
    if np.issubdtype(feats.dtype, np.complexfloating):
        raise ReidbenchError(f"{path}: 'features' must be real numbers, got {feats.dtype}")
    if paths.ndim != 1 or not np.issubdtype(paths.dtype, np.str_):
        raise ReidbenchError(f"{path}: 'paths' must be a 1-D array of strings")
    if len(paths) != len(feats):
        raise ReidbenchError(f"{path}: {len(paths)} paths but {len(feats)} feature rows")
    names = [str(p).replace("\\", "/").removeprefix("./") for p in paths]
    if len(set(names)) != len(names):
        raise ReidbenchError(f"{path}: repeated paths")
    return feats, names


def evaluate_features(files: list[Path], protocol: Protocol, trials: int, distance: str,
                      reference: Dataset | None = None, *, allow_shared: bool = False,
                      ignore_extra: bool = False) -> dict[str, Any]:
    """Every setting of the protocol: percentages averaged over the trials, plus per-trial values.

    ``reference`` is the dataset of ``--data``: required where paths alone do not say camera and
    identity; otherwise it supplies the test identities and the complete listing.
    """
    if reference is not None:
        protocol.check_dataset(reference)
    layout = LAYOUTS.get(protocol.layout)
    if layout.feature_dataset is not None:
        if len(files) != 1:
            raise ReidbenchError(f"eval: {layout.label} takes one --features file")
        return _from_paths(files[0], protocol, layout.feature_dataset, trials, distance, reference, ignore_extra)
    if reference is None:
        raise ReidbenchError(f"eval: the {protocol.name} protocol needs --data, the dataset root (its split files)")
    return _against_dataset(files, reference, protocol, trials, distance, allow_shared, ignore_extra)


def _from_paths(path: Path, protocol: Protocol, feature_dataset: Callable[..., Dataset], trials: int, distance: str,
                reference: Dataset | None, ignore_extra: bool) -> dict[str, Any]:
    """One file scored from its paths (a listing-only dataset of the test images it holds)."""
    feats, names = load_feature_file(path)
    ours, extra = dataset_rows(names, reference, path, ignore_extra) if reference is not None else (names, 0)
    data = feature_dataset(ours, path, reference)
    protocol.check_dataset(data)
    notes = "; ".join(n for n in (protocol.features_note(data, reference), _ignored_note(extra, reference)) if n)
    source = _hand_over(feats, names, path)
    del feats  # scoring frees the whole file's array once it has the rows it scores
    return _counted(_score(protocol, data, trials, distance, source, notes), extra)


def _against_dataset(paths: list[Path], data: Dataset, protocol: Protocol, trials: int, distance: str,
                     allow_shared: bool, ignore_extra: bool) -> dict[str, Any]:
    """Features of a dataset's evaluation images, one file per trial where trials are splits."""
    note = ""
    if data.splits_per_trial and len(paths) != trials:
        if len(paths) != 1 or not allow_shared:
            raise ReidbenchError(f"{data.name}: each of the {trials} trials is its own train/test split, so give "
                                 f"{trials} feature files in trial order (--features once per trial), or one with "
                                 "--allow-shared-model (then one model has seen other trials' test identities)")
        note = "one model's features for every trial (--allow-shared-model): it saw other trials' test identities"
    elif not data.splits_per_trial and len(paths) != 1:
        raise ReidbenchError(f"{data.name}: give one feature file (its trials share their test images)")
    loaded = {i: load_feature_file(p) for i, p in enumerate(paths)}
    extra = sum(dataset_rows(names, data, paths[i], ignore_extra)[1] for i, (_, names) in loaded.items())
    note = "; ".join(n for n in (note, _ignored_note(extra, data)) if n)
    return _counted(_score(protocol, data, trials, distance,
                           lambda t: (*loaded[t if len(paths) > 1 else 0], paths[t if len(paths) > 1 else 0]), note),
                    extra)


def dataset_rows(names: list[str], data: Dataset, file: Path, ignore_extra: bool) -> tuple[list[str], int]:
    """The feature rows naming images of ``data``, and how many do not: those are an error naming the
    first few, unless ``ignore_extra`` (rows outside the dataset must never change a number)."""
    known = set(data.listing())
    extra = [name for name in names if name not in known]
    if extra and not ignore_extra:
        raise ReidbenchError(f"{file}: {len(extra)} feature row(s) are not images of {data.name} "
                             f"(first: {', '.join(extra[:3])}); fix their paths, or pass --ignore-extra-rows "
                             "to leave them out (counted in the output)")
    return ([name for name in names if name in known] if extra else names), len(extra)


def _ignored_note(extra: int, data: Dataset | None) -> str:
    return (f"ignored {extra} feature row(s) that are not images of {data.name} (--ignore-extra-rows)"
            if extra and data is not None else "")


def _counted(out: dict[str, Any], extra: int) -> dict[str, Any]:
    """Each setting's summary with the number of feature rows left out (``ignored_rows``)."""
    return {key: {**res, "ignored_rows": extra} for key, res in out.items()}


def _score(protocol: Protocol, data: Dataset, trials: int, distance: str,
           features_of: Callable[[int], tuple[np.ndarray, list[str], Path]], note: str) -> dict[str, Any]:
    """The runner's scoring on given features: ``features_of(trial) -> (features, paths, file)``."""
    settings = list(protocol.settings)
    galleries = {s.key: protocol.galleries(data, s, trials) for s in settings}

    def scored_rows(group: list[int], images: ImageSet) -> np.ndarray:
        feats, names, file = features_of(group[0])
        row = {name: i for i, name in enumerate(names)}
        missing = [p for p in images.paths if p not in row]
        if missing:
            raise ReidbenchError(f"{file}: no features for {len(missing)} of the {len(images)} images the protocol "
                                 f"scores (first: {missing[0]})")
        return _scored_rows(feats, [row[p] for p in images.paths], names, file)  # the rest of the file is let go

    scores = score_trials(protocol, data, settings, galleries, trials, distance, scored_rows)
    assert scores is not None  # features_of always gives features
    out = {}
    for key, ms in scores.metrics.items():
        sm = summarise(ms, galleries[key])
        out[key] = {**sm["mean"], "trials": sm["trials"], "num_valid_probes": sm["num_valid_probes"],
                    "gallery_source": sm["gallery_source"], "cmc": protocol.cmc, "exclude": data.cameras.exclude,
                    "protocol": protocol.name,
                    "gallery_note": "; ".join(n for n in (sm["gallery_note"], note) if n)}
    return out


def _hand_over(feats: np.ndarray, names: list[str], file: Path) -> Callable[[int], tuple[np.ndarray, list[str], Path]]:
    """``features_of`` for a file whose trials share their images (one scoring group): it gives the
    array away, keeping no reference, so that scoring can free it."""
    held = [(feats, names, file)]
    return lambda trial: held.pop()


def _scored_rows(feats: np.ndarray, rows: list[int], names: list[str], path: Path) -> np.ndarray:
    """The protocol's rows, float32 kept as float32 (the evaluation works in float64 on exactly
    these values) and other types as float64; NaN or inf there is an error."""
    out = feats[rows]
    out = out if out.dtype in (np.float32, np.float64) else out.astype(np.float64)
    bad = ~np.isfinite(out).all(1)
    if bad.any():
        first = rows[int(np.flatnonzero(bad)[0])]
        raise ReidbenchError(f"{path}: features contain NaN or infinite values (first in row {first}, {names[first]})")
    return out
