"""Which results a table or figure shows, and how each row is labelled.

The one owner of that rule, for ``table``, ``--baseline``, ``plot cmc`` and
``report``: per method, the run of its default config (every seed and trial count
of it, each labelled), unless ``variants="all"``; a method that only has runs of
other configs shows those. A non-default row carries what makes it differ, e.g.
``HOG+CCA [pca_dim=300]`` or ``cmGAN [seed=3]``. Results of different datasets or
protocols are never mixed in one selection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reidbench.errors import ReidbenchError
from reidbench.paper import paper_order

VARIANTS = ("default", "all")
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Row:
    """One result as a table row."""

    result: dict[str, Any]
    label: str
    variant: str  # "" for the default config at seed 0 with the protocol's trials

    @property
    def method(self) -> str:
        return self.result["method"]["name"]


def variant_of(result: dict[str, Any], default_trials: int | None = None) -> str:
    """What sets this run apart from the method's default: changed keys, seed, trials."""
    parts = [f"{k}={v}" for k, v in sorted(result["method"].get("changed", {}).items())]
    if result.get("seed", DEFAULT_SEED) != DEFAULT_SEED:
        parts.append(f"seed={result['seed']}")
    if default_trials is not None and result["protocol"]["trials"] != default_trials:
        parts.append(f"trials={result['protocol']['trials']}")
    return ", ".join(parts)


def select_rows(results: list[dict[str, Any]], protocol: str, methods: list[str] | None = None,
                variants: str = "default") -> list[Row]:
    """Rows in the paper's order (other methods after it, by name); see the module docstring."""
    if variants not in VARIANTS:
        raise ReidbenchError(f"unknown --variants '{variants}' (known: {', '.join(VARIANTS)})")
    chosen = [r for r in results if r["protocol"]["name"] == protocol]
    if not chosen:
        found = sorted({r["protocol"]["name"] for r in results})
        raise ReidbenchError(f"no results for protocol '{protocol}' here"
                             + (f" (found: {', '.join(found)}; pick one with --protocol)" if found else ""))
    check_one_dataset(chosen)
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in chosen:
        by_method.setdefault(r["method"]["name"], []).append(r)
    if methods:
        missing = [m for m in methods if m not in by_method]
        if missing:
            raise ReidbenchError(f"no result for method(s) {', '.join(missing)} under protocol '{protocol}' "
                                 f"(available: {', '.join(sorted(by_method))})")
    order = paper_order()
    names = methods or sorted(by_method, key=lambda n: (order.get(n, len(order)), n))
    trials = max(r["protocol"]["trials"] for r in chosen)
    rows = []
    for name in names:
        runs = [Row(r, _label(r, variant_of(r, trials)), variant_of(r, trials)) for r in by_method[name]]
        if variants == "default":
            plain = [row for row in runs if not row.result["method"].get("changed")]
            runs = plain or runs
        rows += sorted(runs, key=lambda row: (row.variant != "", row.variant))
    return rows


def default_row(rows: list[Row], method: str) -> Row:
    """The row standing for ``method`` (its default variant when there is one)."""
    mine = [row for row in rows if row.method == method]
    if not mine:
        raise ReidbenchError(f"no result for '{method}' here (available: {', '.join(sorted({r.method for r in rows}))})")
    return mine[0]


def check_one_dataset(results: list[dict[str, Any]]) -> None:
    datasets = sorted({(r["dataset"]["name"], r["dataset"]["fingerprint"]) for r in results})
    if len(datasets) > 1:
        listed = ", ".join(f"{name} ({fp[:8]})" for name, fp in datasets)
        raise ReidbenchError(f"these results come from {len(datasets)} different datasets ({listed}); "
                             "keep one dataset per results folder")


def _label(result: dict[str, Any], variant: str) -> str:
    """The Table-1 label, then the method's own tags (e.g. ``cpu preset``), then the variant."""
    parts = "; ".join(p for p in (", ".join(result["method"].get("tags", [])), variant) if p)
    return f"{result['method']['label']} [{parts}]" if parts else result["method"]["label"]
