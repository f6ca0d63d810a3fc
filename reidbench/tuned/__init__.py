"""Hyper-parameters of the built-in methods, tuned on the embedded default's validation identities.

``<dataset>/<method>/`` holds what ``reidbench tune --out`` wrote there: the run config
``<method>.toml`` and the tuning record ``tuning.json``. A run on that named dataset
uses them unless ``--defaults`` is given; a user's own ``--set`` values go on top
(the result then says which keys were changed by hand).
"""
from __future__ import annotations

from importlib import resources
from typing import Any

from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.runconfig import load_run_config


def shipped_tuning(dataset: str) -> dict[str, dict[str, Any]]:
    """{method: {"overrides", "tuning"}} tuned for ``dataset``; empty when none ship."""
    folder = resources.files("reidbench.tuned").joinpath(dataset)
    if not folder.is_dir():
        return {}
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        ref = entry.joinpath(f"{entry.name}.toml")
        if not ref.is_file():
            continue
        with resources.as_file(ref) as path:
            cfg = load_run_config(path)
        for name, info in cfg.tuned.items():
            out[name] = {"overrides": cfg.overrides.get(name, {}),
                         "tuning": {**info, "record": f"reidbench/tuned/{dataset}/{entry.name}/tuning.json"}}
    return out


def check_shipped(shipped: dict[str, dict[str, Any]], data: SysuDataset) -> None:
    """The shipped values belong to this exact dataset (same fingerprint)."""
    for name, base in shipped.items():
        if base["tuning"].get("fingerprint") != data.fingerprint:
            raise ReidbenchError(f"the tuned config shipped for {name} on {data.name} was made on another "
                                 "version of that dataset; run with --defaults, or tune again (`reidbench tune`)")
