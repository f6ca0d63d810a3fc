"""How figures find a result's dataset again on any machine (``store.dataset_record`` names it).

A built-in named dataset (the synthetic replicas) is regenerated from its name, byte
for byte, wherever the result is read; any other dataset is read from the root the
run used or from a root the user gives. Either way the fingerprint must match.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from reidbench.data.default import named_dataset
from reidbench.data.dataset import Dataset
from reidbench.data.layouts import load
from reidbench.errors import ReidbenchError


def dataset_of(record: Mapping[str, Any], root: Path | None = None, progress: bool = False) -> Dataset:
    """The dataset a result was made on: ``root`` if given, else by name (named datasets), else its root."""
    if root is not None:
        data = load(root)
    elif record.get("named"):
        data = named_dataset(record["name"], progress=progress)
    else:
        data = load(Path(record["root"]))
    if data.fingerprint != record["fingerprint"]:
        raise ReidbenchError(f"the dataset at {data.root} is not the one this result used (fingerprint "
                             f"{data.fingerprint}, result {record['fingerprint']}); pass its root with --data")
    return data
