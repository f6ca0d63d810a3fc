"""Run configs as TOML files: what ``reidbench run --config`` reads, ``tune`` and ``config`` write.

A file names what a run needs, every key optional (the command line wins over it)::

    methods = ["hog_cca", "cmgan"]
    dataset = "synthetic-small"        # or: data = "/path/to/SYSU-MM01" (relative to this file)
    protocol = "sysu"                  # default: the dataset layout's own
    seeds = [0, 1, 2]
    trials = 10
    modes = ["all", "indoor"]          # SYSU-MM01; any protocol: settings = ["v2t", "t2v"]
    shots = ["single", "multi"]
    device = "cpu"

    [overrides.hog_cca]                # config values; a method's keys and rules apply
    pca_dim = 300

    [tuned.hog_cca]                    # the overrides above were chosen by `reidbench tune`
    record = "tunes/synthetic-small/hog_cca/tuning.json"
    metric = "mAP"
    score = 18.4
    dataset = "synthetic-small"
    fingerprint = "..."

It is read with the standard library's ``tomllib`` and written with ``tomli-w``.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reidbench.atomic import atomic_open
from reidbench.errors import ReidbenchError

if TYPE_CHECKING:
    from reidbench.store import Result

_LISTS = {"methods": str, "seeds": int, "settings": str, "modes": str, "shots": str}
_SCALARS = {"dataset": str, "data": str, "protocol": str, "trials": int, "device": str}
_TABLES = ("overrides", "tuned")


@dataclass(frozen=True)
class RunConfig:
    """What a config file says; None where it is silent."""

    methods: tuple[str, ...] | None = None
    dataset: str | None = None
    data: Path | None = None
    protocol: str | None = None
    seeds: tuple[int, ...] | None = None
    trials: int | None = None
    settings: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    shots: tuple[str, ...] | None = None
    device: str | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_run_config(path: Path) -> RunConfig:
    """Read and check a run config; every problem is one line naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ReidbenchError(f"run config not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReidbenchError(f"{path}: not a valid TOML run config ({exc})") from None
    unknown = sorted(set(raw) - set(_LISTS) - set(_SCALARS) - set(_TABLES))
    if unknown:
        raise ReidbenchError(f"{path}: unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join([*_LISTS, *_SCALARS, *_TABLES])})")
    out: dict[str, Any] = {}
    for key, kind in _LISTS.items():
        if key in raw:
            value = raw[key]
            if not isinstance(value, list) or not value or not all(_is(v, kind) for v in value):
                raise ReidbenchError(f"{path}: '{key}' must be a non-empty list of {kind.__name__}s")
            out[key] = tuple(value)
    for key, kind in _SCALARS.items():
        if key in raw:
            if not _is(raw[key], kind):
                raise ReidbenchError(f"{path}: '{key}' must be a {kind.__name__}")
            out[key] = raw[key]
    _check_ranges(path, out)
    if "data" in out:
        data = Path(out["data"]).expanduser()
        out["data"] = data if data.is_absolute() else path.parent / data
    for key in _TABLES:
        table = raw.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise ReidbenchError(f"{path}: [{key}.METHOD] entries must be tables of values")
        out[key] = {name: dict(values) for name, values in table.items()}
    for name, info in out.get("tuned", {}).items():
        if "record" in info:
            record = Path(info["record"])
            info["record"] = str(record if record.is_absolute() else path.parent / record)
    return RunConfig(**out)


def _check_ranges(path: Path, values: dict[str, Any]) -> None:
    """Trials and seeds in the ranges their flags take, named as the file spells them."""
    from reidbench.options import check_range, check_seed
    from reidbench.protocols.settings import MAX_TRIALS

    if "trials" in values:
        check_range(f"{path}: 'trials'", values["trials"], 1, MAX_TRIALS)
    for seed in values.get("seeds", ()):
        check_seed(seed, f"{path}: 'seeds'")


def dump_run_config(cfg: RunConfig, header: str = "") -> str:
    """The TOML text of a run config (keys it is silent on are left out)."""
    import tomli_w

    body: dict[str, Any] = {}
    for f in fields(RunConfig):
        value = getattr(cfg, f.name)
        if value is None or value == {}:
            continue
        body[f.name] = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value
    text = tomli_w.dumps(body)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + text


def write_run_config(path: Path, cfg: RunConfig, header: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as fh:
        fh.write(dump_run_config(cfg, header))
    return path


def config_from_results(results: list[Result]) -> RunConfig:
    """A run config that runs these results again: same methods, configs, seeds, dataset and settings."""
    first = results[0]
    dataset = first["dataset"]
    for r in results[1:]:
        if r["dataset"]["fingerprint"] != dataset["fingerprint"] or r["protocol"]["name"] != first["protocol"]["name"]:
            raise ReidbenchError("results of one run config must share their dataset and protocol")
    overrides, tuned = {}, {}
    for r in results:
        name, origin = r["method"]["name"], r["method"].get("origin", {})
        values = {**origin.get("base", {}), **r["method"].get("changed", {})}
        if values:
            overrides[name] = values
        if origin.get("tuning"):
            tuned[name] = origin["tuning"]
    settings = {key for r in results for key in r["settings"]}
    return RunConfig(
        methods=tuple(dict.fromkeys(r["method"]["name"] for r in results)),
        dataset=dataset["name"] if dataset.get("named") else None,
        data=None if dataset.get("named") else Path(dataset["root"]),
        protocol=first["protocol"]["name"],
        seeds=tuple(sorted({r["seed"] for r in results})),
        trials=first["protocol"]["trials"],
        settings=tuple(sorted(settings)),
        device=first["device"]["device"],
        overrides=overrides, tuned=tuned)


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))
