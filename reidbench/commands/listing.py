"""``reidbench list``: the registered methods, their family and Table-1 label; one method's details."""
from __future__ import annotations

import argparse
import json
from typing import Any


def add(sub: argparse._SubParsersAction) -> None:
    listing = sub.add_parser("list", help="list the registered methods (or show one)")
    listing.add_argument("method", nargs="?", help="show this method's config, allowed values and reference")
    listing.add_argument("--json", action="store_true", help="print JSON (a list, or one method's object)")
    listing.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from reidbench.registry import all_methods, get_method

    if args.method is not None:
        facts = details(get_method(args.method))
        print(json.dumps(facts, default=str) if args.json else _text(facts))
        return 0
    specs = all_methods()
    if args.json:
        print(json.dumps([summary(spec) for spec in specs.values()]))
        return 0
    width = max(len(n) for n in specs)
    for name, spec in specs.items():
        print(f"{name:{width}s}  {spec.family:11s}  {spec.label}")
    return 0


def summary(spec: Any) -> dict[str, Any]:
    return {"name": spec.name, "family": spec.family, "label": spec.label, "reference": spec.reference,
            "source": spec.source}


def details(spec: Any) -> dict[str, Any]:
    """What a user needs before ``--set``: the default config, each key's allowed values and the
    values tuned for the embedded default (which ``run`` uses there)."""
    from reidbench.data.default import DEFAULT_DATASET
    from reidbench.tuned import shipped_tuning

    tuned = shipped_tuning(DEFAULT_DATASET).get(spec.name)
    return {**summary(spec), "config": spec.config,
            "rules": {key: rule.describe() for key, rule in spec.rules.items()},
            "checks": spec.check.__doc__.strip() if spec.check is not None and spec.check.__doc__ else None,
            "tuned": {"dataset": DEFAULT_DATASET, "values": tuned["overrides"],
                      "record": tuned["tuning"]["record"]} if tuned else None}


def _text(facts: dict[str, Any]) -> str:
    lines = [f"{facts['name']}: {facts['label']} ({facts['family']}; from {facts['source']})"]
    if facts["reference"]:
        lines.append(f"reference: {facts['reference']}")
    lines.append("config (defaults; change with --set KEY=VALUE):")
    width = max((len(k) for k in facts["config"]), default=0)
    for key, value in facts["config"].items():
        rule = facts["rules"].get(key)
        lines.append(f"  {key:{width}s} = {json.dumps(value, default=str)}" + (f"  ({rule})" if rule else ""))
    if facts["checks"]:
        lines.append(f"also checked: {facts['checks']}")
    if facts["tuned"]:
        values = ", ".join(f"{k}={v}" for k, v in facts["tuned"]["values"].items())
        lines.append(f"tuned on {facts['tuned']['dataset']}'s validation identities (used there unless "
                     f"--defaults): {values} ({facts['tuned']['record']})")
    return "\n".join(lines)
