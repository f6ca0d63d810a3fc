"""Your runs beside reference results, cell by cell: identical, within the seed spread, or not.

The first thing to run after the main job. A result of the same identity (method, resolved config,
seed, protocol, trials, dataset) as a reference result holds the same per-trial numbers bit for bit
when both ran on pinned CPU kernels (``reidbench.kernels``). Where they differ, the reference row's
seed spread (its runs with other seeds) says whether the difference is one another seed would give.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from reidbench.selection import row_key
from reidbench.store import Result, SettingSummary

IDENTICAL, WITHIN, DIFFERS = "identical", "within seed spread", "differs"
SPREAD_METRICS = ("r1", "mAP")
WITHIN_SDS = 2.0  # a seed's mean lies within two seed standard deviations of the reference seed's


@dataclass(frozen=True)
class Check:
    """One of your results against the reference result of the same identity."""

    method: str
    label: str
    seed: int
    settings: tuple[str, ...]
    verdict: str
    largest: float  # the largest |difference| of a setting's mean r1 or mAP, in points
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "label": self.label, "seed": self.seed, "settings": list(self.settings),
                "verdict": self.verdict, "largest_difference": self.largest, "note": self.note}


@dataclass(frozen=True)
class Comparison:
    checks: list[Check]
    not_run: list[str]  # reference results with no run of yours (method, seed)
    unmatched: list[str]  # your results with no reference of the same identity

    def agrees(self, exact: bool = False) -> bool:
        allowed = (IDENTICAL,) if exact else (IDENTICAL, WITHIN)
        return all(c.verdict in allowed for c in self.checks)


def compare(mine: list[Result], reference: list[Result]) -> Comparison:
    """Every result of ``mine`` beside the reference result of the same identity."""
    by_id = {r["id"]: r for r in reference}
    spreads = _seed_spreads(reference)
    checks = [_check(r, by_id[r["id"]], spreads.get(row_key(r), {})) for r in mine if r["id"] in by_id]
    mine_ids = {r["id"] for r in mine}
    return Comparison(checks,
                      not_run=[_name(r) for r in reference if r["id"] not in mine_ids],
                      unmatched=[_name(r) for r in mine if r["id"] not in by_id])


def _check(result: Result, ref: Result, spread: dict[tuple[str, str], float]) -> Check:
    shared = tuple(k for k in ref["settings"] if k in result["settings"])
    identical = all(_per_trial(result["settings"][k]) == _per_trial(ref["settings"][k]) for k in shared)
    gaps = {(k, m): abs(result["settings"][k]["mean"][m] - ref["settings"][k]["mean"][m])
            for k in shared for m in SPREAD_METRICS}
    largest = max(gaps.values(), default=0.0)
    if identical:
        verdict, note = IDENTICAL, ""
    elif spread and all(gap <= WITHIN_SDS * spread[key] for key, gap in gaps.items()):
        verdict, note = WITHIN, f"largest gap {largest:.2f} within {WITHIN_SDS:g} seed sd"
    else:
        verdict = DIFFERS
        note = "no seed spread in the reference (one seed)" if not spread else \
            f"beyond {WITHIN_SDS:g} seed sd"
    kernels = result.get("kernels") or {}
    if verdict != IDENTICAL and not kernels.get("pinned"):
        note += f"; your run's CPU kernels were not pinned ({kernels.get('reason') or 'not recorded'})"
    return Check(result["method"]["name"], result["method"]["label"], result["seed"], shared, verdict, largest,
                 note.strip("; "))


def _per_trial(setting: SettingSummary) -> tuple[Any, Any]:
    """Every per-trial number of a setting: the metrics and the CMC curves."""
    return setting["trials"], setting.get("cmc_trials")


def _seed_spread(results: list[Result]) -> dict[tuple[str, str], float]:
    """Per (setting, metric): the standard deviation over seeds of each seed's mean."""
    keys = set.intersection(*(set(r["settings"]) for r in results))
    return {(k, m): statistics.stdev(r["settings"][k]["mean"][m] for r in results)
            for k in keys for m in SPREAD_METRICS}


def _seed_spreads(reference: list[Result]) -> dict[str, dict[tuple[str, str], float]]:
    rows: dict[str, list[Result]] = {}
    for r in reference:
        rows.setdefault(row_key(r), []).append(r)
    return {key: _seed_spread(runs) for key, runs in rows.items() if len({r["seed"] for r in runs}) > 1}


def _name(result: Result) -> str:
    return f"{result['method']['name']} (seed {result['seed']}, {result['protocol']['name']})"


def render(comparison: Comparison) -> str:
    """A plain-text table, one line per result, then what was not compared."""
    lines = [f"{'method':<40} {'seed':>4}  {'verdict':<19} {'largest gap':>11}  note"]
    for c in comparison.checks:
        lines.append(f"{c.label:<40} {c.seed:>4}  {c.verdict:<19} {c.largest:>10.2f}   {c.note}".rstrip())
    if comparison.not_run:
        lines.append(f"not run here ({len(comparison.not_run)}): {', '.join(comparison.not_run)}")
    if comparison.unmatched:
        lines.append(f"no reference of the same identity ({len(comparison.unmatched)}): "
                     f"{', '.join(comparison.unmatched)}")
    return "\n".join(lines)
