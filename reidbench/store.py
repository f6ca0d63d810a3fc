"""Result files: one JSON per run identity, written atomically, never silently replaced.

A result's identity is its method, resolved config, seed, protocol, number of trials
and dataset fingerprint; the file is ``<method>__<protocol>__<id>.json`` with ``id`` a
digest of that identity. A second run of the same identity (for example of other
settings) merges its settings into the file and records itself in ``history``; a run
of another config, seed or dataset gets its own file beside it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from reidbench.atomic import atomic_open
from reidbench.data.default import DEFAULT_DATASET
from reidbench.errors import ReidbenchError

SCHEMA = 2  # the JSON Schema of this version ships as reidbench/schema/result-2.schema.json
RUNS_DIR = Path("runs")  # where runs write by default: untracked, relative to the working folder


def result_id(method: str, config: dict[str, Any], seed: int, protocol: str, trials: int,
              fingerprint: str) -> str:
    """Digest of what makes two results comparable rows of the same table cell."""
    blob = json.dumps({"method": method, "config": config, "seed": seed, "protocol": protocol,
                       "trials": trials, "dataset": fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def result_path(results_dir: Path, payload: dict[str, Any]) -> Path:
    return Path(results_dir) / f"{payload['method']['name']}__{payload['protocol']['name']}__{payload['id']}.json"


def default_results_dir(dataset_name: str) -> Path:
    return RUNS_DIR / dataset_name


DEFAULT_RESULTS = default_results_dir(DEFAULT_DATASET)  # where `reidbench run` writes by default


def write_json_atomic(path: Path, payload: dict[str, Any]) -> Path:
    """Write to a temporary file in the same folder, then rename: never half a file."""
    path = Path(path)
    text = json.dumps(payload, indent=1, sort_keys=False, default=_jsonable)
    try:
        with atomic_open(path, "w") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise ReidbenchError(f"cannot write result file {path}: {exc.strerror}") from None
    return path


def save_result(results_dir: Path, payload: dict[str, Any]) -> Path:
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


def read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReidbenchError(f"unreadable result file {path}: {exc}") from None


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    """Every result file in a folder (sorted by name), each with its ``_path``."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReidbenchError(f"results directory not found: {results_dir}")
    out = []
    for path in sorted(results_dir.glob("*.json")):
        payload = read_result(path)
        if not isinstance(payload, dict) or "settings" not in payload or "method" not in payload:
            continue  # not a reidbench result (e.g. a sweep manifest)
        if payload.get("schema") != SCHEMA:
            raise ReidbenchError(f"{path} is a result of schema {payload.get('schema')}, this reidbench reads "
                                 f"schema {SCHEMA}; re-run it with this version (`reidbench run`)")
        payload["_path"] = str(path)
        out.append(payload)
    return out


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
