"""Which results a table or figure shows, how each row is labelled, and what a cell holds.

The one owner of that rule, for ``table``, ``--baseline``, ``plot cmc`` and
``report``. A row is one method config (resolved, with its origin) under one
protocol and trial count; the runs of that config with different seeds are one
row, its cells the mean over seeds of each seed's mean over trials. Per method the
default view shows the rows without manual overrides (the registry default or a
tuned config), unless ``variants="all"``; a method that only has manual variants
shows those. A row's label carries the method's tags (e.g. ``cpu preset``,
``val-tuned``) and what sets it apart, e.g. ``HOG+CCA [pca_dim=300]`` or
``cmGAN [cpu preset; 3 seeds]``. Results of different datasets or protocols are
never mixed in one selection.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from reidbench.config import tuned_in_effect
from reidbench.errors import ReidbenchError
from reidbench.paper import paper_order
from reidbench.store import Result

VARIANTS = ("default", "all")
DEFAULT_SEEDS = (0,)


@dataclass(frozen=True)
class Row:
    """One config's results, one per seed (ascending)."""

    results: tuple[Result, ...]
    label: str
    variant: str  # "" for a config without manual overrides, at seed 0 with the most trials here
    shown: bool = True  # in the default view (see the module docstring)
    own_config: bool = True  # the method's default or tuned config at the most trials, whatever its seeds

    @property
    def result(self) -> Result:
        """The first seed's result: what every seed shares (method, protocol, dataset)."""
        return self.results[0]

    @property
    def method(self) -> str:
        return self.result["method"]["name"]

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.results]


def variant_of(results: list[Result], default_trials: int | None = None) -> str:
    """What sets these runs apart from the method's default: manual changes, seeds, trials."""
    first = results[0]
    parts = [f"{k}={v}" for k, v in sorted(first["method"].get("changed", {}).items())]
    seeds = sorted(r["seed"] for r in results)
    if len(seeds) > 1:
        parts.append(f"{len(seeds)} seeds")
    elif tuple(seeds) != DEFAULT_SEEDS:
        parts.append(f"seed={seeds[0]}")
    if default_trials is not None and first["protocol"]["trials"] != default_trials:
        parts.append(f"trials={first['protocol']['trials']}")
    return ", ".join(parts)


def row_key(result: Result) -> str:
    """What the seeds of one row share: method, resolved config, origin and trial count."""
    m = result["method"]
    return json.dumps([m["name"], m.get("resolved", m["config"]), m.get("origin", {}).get("kind"),
                       result["protocol"]["trials"]], sort_keys=True, default=str)


def results_protocol(results: list[Result]) -> str:
    """The protocol a folder of results is shown under when none is named: its only one, or,
    among several, its dataset's default (``sysu`` beside ``sysu-agw`` on SYSU-MM01)."""
    from reidbench.data.layouts import LAYOUTS

    found = sorted({r["protocol"]["name"] for r in results})
    if len(found) == 1:
        return found[0]
    defaults = {LAYOUTS.get(r["dataset"]["layout"]).default_protocol for r in results
                if r["dataset"].get("layout") in LAYOUTS.all()}
    if len(defaults) == 1 and defaults <= set(found):
        return defaults.pop()
    raise ReidbenchError(f"results for several protocols here ({', '.join(found)}); pick one with --protocol")


def select_rows(results: list[Result], protocol: str | None, methods: list[str] | None = None,
                variants: str = "default") -> list[Row]:
    """Rows in the paper's order (other methods after it, by name); see the module docstring.
    ``protocol=None``: :func:`results_protocol`."""
    if variants not in VARIANTS:
        raise ReidbenchError(f"unknown --variants '{variants}' (known: {', '.join(VARIANTS)})")
    if protocol is None and results:
        protocol = results_protocol(results)
    chosen = [r for r in results if r["protocol"]["name"] == protocol]
    if not chosen:
        found = sorted({r["protocol"]["name"] for r in results})
        raise ReidbenchError(f"no results for protocol '{protocol}' here"
                             + (f" (found: {', '.join(found)}; pick one with --protocol)" if found else ""))
    check_one_dataset(chosen)
    groups: dict[str, list[Result]] = {}
    for r in sorted(chosen, key=lambda r: r["seed"]):
        groups.setdefault(row_key(r), []).append(r)
    by_method: dict[str, list[list[Result]]] = {}
    for group in groups.values():
        by_method.setdefault(group[0]["method"]["name"], []).append(group)
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
        plain = [not g[0]["method"].get("changed") for g in by_method[name]]
        runs = [Row(tuple(g), _label(g[0], variant_of(g, trials)), variant_of(g, trials), ok or not any(plain),
                    ok and g[0]["protocol"]["trials"] == trials) for g, ok in zip(by_method[name], plain)]
        rows += sorted((row for row in runs if row.shown or variants == "all"),
                       key=lambda row: (row.variant != "", row.label))
    return rows


def default_row(rows: list[Row], method: str) -> Row:
    """The row standing for ``method`` (its first, default row when there is one)."""
    mine = [row for row in rows if row.method == method]
    if not mine:
        raise ReidbenchError(f"no result for '{method}' here (available: {', '.join(sorted({r.method for r in rows}))})")
    return mine[0]


def check_one_dataset(results: list[Result]) -> None:
    datasets = sorted({(r["dataset"]["name"], r["dataset"]["fingerprint"]) for r in results})
    if len(datasets) > 1:
        listed = ", ".join(f"{name} ({fp[:8]})" for name, fp in datasets)
        raise ReidbenchError(f"these results come from {len(datasets)} different datasets ({listed}); "
                             "keep one dataset per results folder")


def _label(result: Result, variant: str) -> str:
    """The Table-1 label, then the method's tags (e.g. ``cpu preset``), then the variant."""
    tags = [t for t in result["method"].get("tags", [])
            if t != "val-tuned" or tuned_in_effect(result["method"].get("origin", {}))]
    parts = "; ".join(p for p in (", ".join(tags), variant) if p)
    return f"{result['method']['label']} [{parts}]" if parts else result["method"]["label"]
