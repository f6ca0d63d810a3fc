"""Result files: one JSON per (method, protocol) run, written atomically."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from reidbench.atomic import atomic_open
from reidbench.errors import ReidbenchError

SCHEMA = 1


def result_path(results_dir: Path, method: str, protocol: str) -> Path:
    return Path(results_dir) / f"{method}__{protocol}.json"


def ensure_writable(results_dir: Path) -> Path:
    """Create the results folder and check it takes files, before hours of work."""
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ReidbenchError(f"results directory is not writable: {results_dir} ({exc.strerror})") from None
    return results_dir


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


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    """Every result file in a folder (sorted by name); a corrupt file is a clear error."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReidbenchError(f"results directory not found: {results_dir}")
    out = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReidbenchError(f"unreadable result file {path}: {exc}") from None
        if payload.get("schema") != SCHEMA or "settings" not in payload:
            continue  # not a reidbench result (e.g. a sweep manifest)
        payload["_path"] = str(path)
        out.append(payload)
    return out


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
