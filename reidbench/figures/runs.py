"""Picking result files for figures: the latest run of each method, in Table-1 order."""
from __future__ import annotations

from typing import Any

from reidbench.errors import ReidbenchError
from reidbench.report import SETTINGS, paper_table

SETTING_LABELS = {key: f"{mode} {shots}" for key, mode, shots in SETTINGS}


def select_runs(results: list[dict[str, Any]], protocol: str = "sysu",
                methods: list[str] | None = None) -> list[dict[str, Any]]:
    """The newest result of each method under ``protocol`` (rows ordered as the paper's table)."""
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted((r for r in results if r["protocol"]["name"] == protocol), key=lambda r: r.get("created", "")):
        latest[r["method"]["name"]] = r
    if not latest:
        raise ReidbenchError(f"no results for protocol '{protocol}' in this folder")
    if methods:
        missing = [m for m in methods if m not in latest]
        if missing:
            raise ReidbenchError(f"no result for method(s) {', '.join(missing)} under protocol '{protocol}' "
                                 f"(available: {', '.join(sorted(latest))})")
        return [latest[m] for m in methods]
    order = {name: i for i, name in enumerate(paper_table().index)}
    return [latest[n] for n in sorted(latest, key=lambda n: (order.get(n, len(order)), n))]


def check_setting(setting: str) -> str:
    if setting not in SETTING_LABELS:
        raise ReidbenchError(f"unknown setting '{setting}' (known: {', '.join(SETTING_LABELS)})")
    return setting
