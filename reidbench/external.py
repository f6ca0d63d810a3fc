"""Evaluating features computed elsewhere: npz files of ``features`` and ``paths``.

Paths are relative to the dataset root, as the dataset names its images. SYSU-MM01
features can be scored from their paths alone (``cam3/0006/0001.jpg``: camera,
identity and position in the sorted folder, so the official trial table applies
whenever the file covers the folders completely); RegDB and LLCM features are scored
against their dataset (``--data ROOT``: its split files). RegDB's trials are separate
splits, so it takes one file per trial (one model each); one file for every trial is
refused unless ``allow_shared`` (and then labelled).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reidbench.data.dataset import Dataset
from reidbench.data.layouts import LAYOUTS
from reidbench.data.sysu import CAMERAS, SysuDataset, _check_test_ids
from reidbench.errors import ReidbenchError
from reidbench.protocols import get_protocol
from reidbench.protocols.agw import SysuAgw
from reidbench.protocols.sysu import official_table, official_test_ids
from reidbench.scoring import evaluate_plan, summarise

_PATH = re.compile(r"^cam([1-6])/(\d{4})/(\d{4})\.jpg$")


_ZIP_MAGIC = b"PK\x03\x04"  # an npz is a zip archive


def load_feature_file(path: Path, sysu_paths: bool = True) -> tuple[np.ndarray, list[str]]:
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
    for name in names if sysu_paths else ():
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


def missing_test_images(data: SysuDataset, reference: SysuDataset | None) -> int | None:
    """Test images of the reference listing absent from the feature file (None: no reference fits).

    The reference is the dataset given with ``--data``, else SYSU-MM01's official listing
    when the test identities are the official ones.
    """
    cells = [(cam, pid) for cam in CAMERAS for pid in data.ids("test")]
    if reference is not None:
        return sum(max(0, reference.count(*c) - data.count(*c)) for c in cells)
    if data.ids("test") != official_test_ids():
        return None
    table = official_table()
    return sum(max(0, (table[c].shape[1] if c in table else 0) - data.count(*c)) for c in cells)


def agw_coverage_warning(data: SysuDataset, reference: SysuDataset | None) -> str:
    """Why sysu-agw galleries of these features may differ from the AGW code's draws ('' if they do not)."""
    missing = missing_test_images(data, reference)
    if missing == 0:
        return ""
    what = (f"lacks {missing} test image(s) of {'the dataset' if reference is not None else 'SYSU-MM01'}"
            if missing else "cannot be checked against a full listing (pass --data ROOT)")
    return (f"the feature file {what}; sysu-agw draws its galleries from the images present, "
            "so they differ from the AGW code's draws on the full dataset")


def evaluate_feature_file(path: Path, protocol_name: str = "sysu", trials: int = 10,
                          distance: str = "euclidean", reference: SysuDataset | None = None, *,
                          ignore_extra: bool = False) -> dict[str, Any]:
    """SYSU-MM01 features: every setting, percentages averaged over the trials, plus per-trial values.

    ``reference`` (the dataset of ``--data``) supplies the test identities and the
    complete listing the AGW-lineage galleries are checked against.
    """
    feats, names = load_feature_file(path)
    ours, extra = dataset_rows(names, reference, path, ignore_extra) if reference is not None else (names, 0)
    data = dataset_from_paths(ours, reference.ids("test") if reference is not None else None)
    protocol = get_protocol(protocol_name)
    protocol.check_dataset(data)
    warning = agw_coverage_warning(data, reference) if protocol_name == SysuAgw.name else ""
    notes = "; ".join(n for n in (warning, _ignored_note(extra, reference)) if n)
    source = _hand_over(feats, names, path)
    del feats  # scoring frees the whole file's array once it has the rows it scores
    return _counted(_score(protocol, data, trials, distance, source, notes), extra)


def evaluate_dataset_features(paths: list[Path], data: Dataset, protocol_name: str | None, trials: int,
                              distance: str, allow_shared: bool = False, *,
                              ignore_extra: bool = False) -> dict[str, Any]:
    """Features of a dataset's evaluation images (any layout), one file per trial where trials are splits."""
    protocol = get_protocol(protocol_name or LAYOUTS.get(data.kind).default_protocol)
    protocol.check_dataset(data)
    note = ""
    if data.splits_per_trial and len(paths) != trials:
        if len(paths) != 1 or not allow_shared:
            raise ReidbenchError(f"{data.name}: each of the {trials} trials is its own train/test split, so give "
                                 f"{trials} feature files in trial order (--features once per trial), or one with "
                                 "--allow-shared-model (then one model has seen other trials' test identities)")
        note = "one model's features for every trial (--allow-shared-model): it saw other trials' test identities"
    elif not data.splits_per_trial and len(paths) != 1:
        raise ReidbenchError(f"{data.name}: give one feature file (its trials share their test images)")
    loaded = {i: load_feature_file(p, sysu_paths=False) for i, p in enumerate(paths)}
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


def _score(protocol: Any, data: Dataset, trials: int, distance: str, features_of: Any, note: str) -> dict[str, Any]:
    """The runner's scoring on given features: ``features_of(trial) -> (features, paths, file)``."""
    galleries = {s.key: protocol.galleries(data, s, trials) for s in protocol.settings}
    groups = [[t] for t in range(trials)] if data.splits_per_trial else [list(range(trials))]
    metrics: dict[str, list] = {s.key: [] for s in protocol.settings}
    for group in groups:
        feats, names, file = features_of(group[0])
        images = protocol.evaluation_set(data, group[0])
        row = {name: i for i, name in enumerate(names)}
        missing = [p for p in images.paths if p not in row]
        if missing:
            raise ReidbenchError(f"{file}: no features for {len(missing)} of the {len(images)} images the protocol "
                                 f"scores (first: {missing[0]})")
        e = _scored_rows(feats, [row[p] for p in images.paths], names, file)
        del feats  # the rest of the file is not needed: a whole-dataset file must not stay alive
        plan = {s.key: ([protocol.probes(data, s, t) for t in group], [galleries[s.key].indices[t] for t in group])
                for s in protocol.settings}
        for key, ms in evaluate_plan(e, images, plan, distance, protocol.match_rule(data)).items():
            metrics[key] += ms
    out = {}
    for key, ms in metrics.items():
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
