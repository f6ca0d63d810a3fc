"""Result files: one JSON per run identity, written atomically, never silently replaced.

A result's identity is its method, resolved config, seed, protocol, number of trials
and dataset fingerprint; the file is ``<method>__<protocol>__<id>.json`` with ``id`` a
digest of that identity. A second run of the same identity (for example of other
settings) merges its settings into the file and records itself in ``history``; a run
of another config, seed or dataset gets its own file beside it.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TypedDict

import numpy as np

from reidbench import kernels, provenance
from reidbench.atomic import atomic_open
from reidbench.data.default import DEFAULT_DATASET, is_named
from reidbench.errors import ReidbenchError

if TYPE_CHECKING:
    from reidbench.data.dataset import Dataset
    from reidbench.protocols import Protocol
    from reidbench.registry import MethodSpec

SCHEMA = 2  # the JSON Schema of this version ships as reidbench/schema/result-2.schema.json
RUNS_DIR = Path("runs")  # where runs write by default: untracked, relative to the working folder


class MethodRecord(TypedDict):
    """Which method, with which config, and where that config came from."""

    name: str
    label: str
    family: str
    reference: str
    source: str
    config: dict[str, Any]  # as asked (defaults, tuned and manual values)
    resolved: dict[str, Any]  # as it ran on the device (presets filled in): part of the identity
    origin: dict[str, Any]  # kind (default | tuned | manual), base (tuned values), tuning (record), manual
    changed: dict[str, Any]  # manual values that differ from the base
    tags: list[str]  # facts every row label shows ("cpu preset", "val-tuned")


class ProtocolRecord(TypedDict):
    name: str
    label: str
    distance: str
    trials: int
    cmc: str  # identity or image
    exclude: str  # what a probe never meets (the dataset's rule)
    models: str  # "one per trial" (trials are splits) or "one for all trials"


class DatasetRecord(TypedDict):
    """What a result says about its data (``data.record.dataset_of`` finds the data again)."""

    name: str
    named: bool  # a built-in replica, regenerated from its name anywhere
    root: str
    fingerprint: str
    num_images: int
    ids: dict[str, int]
    layout: str
    layout_label: str
    synthetic: dict[str, Any] | None  # SYNTHETIC.json of a generated replica; None for real data


class _SettingRequired(TypedDict):
    mean: dict[str, float]  # metric -> mean over trials, percent
    std: dict[str, float]
    trials: list[dict[str, float]]
    num_valid_probes: int
    gallery_size: list[int]
    gallery_source: str
    gallery_note: str
    cmc_mean: list[float]
    cmc_trials: list[list[float]]


class SettingSummary(_SettingRequired, total=False):
    embeddings_digest: str  # which embeddings scored it (a file may merge runs)


class _ResultRequired(TypedDict):
    schema: int
    id: str
    method: MethodRecord
    protocol: ProtocolRecord
    dataset: DatasetRecord
    settings: dict[str, SettingSummary]
    seed: int
    device: dict[str, Any]
    kernels: dict[str, Any]
    versions: dict[str, Any]
    git: dict[str, Any]
    timings: dict[str, float]
    created: str
    method_provenance: dict[str, Any]
    retrieval: dict[str, Any]  # trial, top_k, ranks (setting -> encoded rank matrix)
    artifacts: dict[str, Any]  # files (stored beside the result), local (this machine's cache)


class Result(_ResultRequired, total=False):
    """One result file: the one owner of its keys (the JSON Schema checks files, this checks code)."""

    history: list[dict[str, Any]]  # every run merged into the file
    _path: str  # where it was read from (added by load_results, never written)


def method_record(spec: MethodSpec, config: dict[str, Any], resolved: dict[str, Any], origin: dict[str, Any],
                  tags: list[str]) -> MethodRecord:
    return {"name": spec.name, "label": spec.label, "family": spec.family, "reference": spec.reference,
            "source": spec.source, "config": config, "resolved": resolved, "origin": origin,
            "changed": origin["manual"], "tags": tags}


def dataset_record(data: Dataset) -> DatasetRecord:
    return {"name": data.name, "named": is_named(data), "root": str(data.root), "fingerprint": data.fingerprint,
            "num_images": data.num_images, "ids": data.id_counts(), "layout": data.kind, "layout_label": data.label,
            "synthetic": data.synthetic}


def protocol_record(protocol: Protocol, data: Dataset, distance: str, trials: int) -> ProtocolRecord:
    return {"name": protocol.name, "label": protocol.label, "distance": distance, "trials": trials,
            "cmc": protocol.cmc, "exclude": data.cameras.exclude,
            "models": "one per trial" if data.splits_per_trial else "one for all trials"}


def new_result(method: MethodRecord, protocol: ProtocolRecord, dataset: DatasetRecord, seed: int,
               settings: dict[str, SettingSummary], *, device: dict[str, Any], timings: dict[str, float],
               method_provenance: dict[str, Any], retrieval: dict[str, Any], local: dict[str, str]) -> Result:
    """A result of this version: its identity, and the provenance of this process (kernels, versions, git)."""
    return {
        "schema": SCHEMA,
        "id": result_id(method["name"], method["resolved"], seed, protocol["name"], protocol["trials"],
                        dataset["fingerprint"]),
        "method": method, "protocol": protocol, "dataset": dataset, "settings": settings, "seed": seed,
        "device": device, "kernels": kernels.record(), "versions": provenance.versions(),
        "git": provenance.git_state(), "timings": timings, "created": provenance.now(),
        "method_provenance": method_provenance, "retrieval": retrieval, "artifacts": {"local": local},
    }


def result_id(method: str, config: dict[str, Any], seed: int, protocol: str, trials: int,
              fingerprint: str) -> str:
    """Digest of what makes two results comparable rows of the same table cell."""
    blob = json.dumps({"method": method, "config": config, "seed": seed, "protocol": protocol,
                       "trials": trials, "dataset": fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def result_path(results_dir: Path, payload: Result) -> Path:
    return Path(results_dir) / f"{payload['method']['name']}__{payload['protocol']['name']}__{payload['id']}.json"


def default_results_dir(dataset_name: str) -> Path:
    return RUNS_DIR / dataset_name


DEFAULT_RESULTS = default_results_dir(DEFAULT_DATASET)  # where `reidbench run` writes by default


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write to a temporary file in the same folder, then rename: never half a file."""
    path = Path(path)
    text = json.dumps(payload, indent=1, sort_keys=False, default=_jsonable)
    try:
        with atomic_open(path, "w") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise ReidbenchError(f"cannot write result file {path}: {exc.strerror}") from None
    return path


def save_result(results_dir: Path, payload: Result) -> Path:
    """Write a result; a file of the same identity keeps the settings this run did not evaluate."""
    path = result_path(results_dir, payload)
    entry = {"created": payload["created"], "settings": sorted(payload["settings"]),
             "git": payload["git"].get("commit")}
    if path.exists():
        old = read_result(path)
        if old.get("id") == payload["id"]:
            payload = {**payload, "settings": {**old["settings"], **payload["settings"]},
                       "history": [*old.get("history", []), entry]}
            if old.get("retrieval") and payload.get("retrieval"):
                ranks = {**old["retrieval"]["ranks"], **payload["retrieval"]["ranks"]}
                payload["retrieval"] = {**payload["retrieval"], "ranks": ranks}
            return write_json_atomic(path, payload)
    return write_json_atomic(path, {**payload, "history": [entry]})


def read_result(path: Path) -> Result:
    """A result file, checked against the shipped schema before anything trusts it; one line naming
    the file and its first problem otherwise."""
    return _checked(Path(path), _read_json(Path(path)))


def _checked(path: Path, payload: Any) -> Result:
    problem = result_problem(payload)
    if problem:
        raise ReidbenchError(f"{path} is not a valid reidbench result: {problem}")
    return payload


def result_problem(payload: Any) -> str | None:
    """What makes ``payload`` no result this version reads (None: it is one)."""
    from reidbench.schemacheck import first_problem

    if not isinstance(payload, dict):
        return "not a JSON object"
    version = payload.get("schema")
    if isinstance(version, int) and not isinstance(version, bool) and version != SCHEMA:
        return (f"a result of schema {version}, this reidbench reads schema {SCHEMA}; "
                "re-run it with this version (`reidbench run`)")
    return first_problem(payload, _schema()) or _settings_problem(payload) or _stored_ranks_problem(payload)


def load_results(results_dir: Path) -> list[Result]:
    """Every result file in a folder (sorted by name), each with its ``_path``; other reidbench JSON
    there (a sweep manifest, a tuning record) is skipped, a broken result is an error."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReidbenchError(f"results directory not found: {results_dir}")
    out = []
    for path in sorted(results_dir.glob("*.json")):
        payload = _read_json(path)
        if not _meant_as_result(path, payload):
            continue
        result = _checked(path, payload)
        result["_path"] = str(path)
        out.append(result)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReidbenchError(f"unreadable result file {path}: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_RESULT_NAME = re.compile(r"^[^.].*__.+__[0-9a-f]{10}\.json$")


def _meant_as_result(path: Path, payload: Any) -> bool:
    """A result by its name or its keys; other JSON (``sweep.json``, ``tuning.json``) is not one."""
    if _RESULT_NAME.match(path.name):
        return True
    return isinstance(payload, dict) and ("schema" in payload or "settings" in payload
                                          or isinstance(payload.get("method"), dict))


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _settings_problem(payload: dict[str, Any]) -> str | None:
    """Per-setting lists that disagree with the protocol's trial count (tables and figures pair them)."""
    trials = payload["protocol"]["trials"]
    for key, summary in payload["settings"].items():
        for name in ("trials", "gallery_size"):
            if len(summary[name]) != trials:
                return f"settings.{key}.{name}: {len(summary[name])} entries for {trials} trial(s)"
        if not summary["cmc_mean"]:
            return f"settings.{key}.cmc_mean: empty"
    return None


def _stored_ranks_problem(payload: dict[str, Any]) -> str | None:
    """Stored retrievals whose bytes do not hold their declared shape (the schema cannot say so)."""
    for key, blob in payload["retrieval"]["ranks"].items():
        try:
            size = len(base64.b64decode(blob["data"], validate=True))
        except ValueError:
            return f"retrieval.ranks.{key}.data: not base64"
        if size != blob["shape"][0] * blob["shape"][1] * np.dtype(blob["dtype"]).itemsize:
            return f"retrieval.ranks.{key}.data: {size} bytes do not hold shape {blob['shape']} of {blob['dtype']}"
    return None


def schema_path() -> Path:
    """The JSON Schema file results of this version follow (package data, for other tools too)."""
    return Path(__file__).with_name("schema") / f"result-{SCHEMA}.schema.json"


def sidecar(result_path_: Path, name: str) -> Path:
    """A file stored beside a result (``<stem>.<name>``): what its figures need travels with it."""
    return Path(result_path_).with_name(f"{Path(result_path_).stem}.{name}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
