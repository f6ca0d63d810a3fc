"""What a run is asked to do: :class:`RunOptions`, built one way from a run config plus flags.

``reidbench run`` and ``reidbench.run()`` both go through :func:`run_options`, so a
TOML run config means the same from the command line and from Python: its
``[tuned.METHOD]`` tables mark their ``[overrides.METHOD]`` as values chosen by
``reidbench tune`` (the row says "val-tuned"), every other override is manual, and
values given directly win over the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from reidbench.errors import ReidbenchError
from reidbench.launch import Launcher
from reidbench.protocols.settings import MAX_TRIALS
from reidbench.runconfig import RunConfig, load_run_config


@dataclass
class RunOptions:
    methods: list[str]
    data: Path | None = None
    dataset: str | None = None
    protocol: str | None = None  # default: the dataset layout's own
    settings: tuple[str, ...] | None = None  # setting keys; default: every setting of the protocol
    modes: tuple[str, ...] | None = None  # SYSU-MM01: all, indoor
    shots: tuple[str, ...] | None = None  # SYSU-MM01: single, multi
    trials: int = MAX_TRIALS
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    results: Path | None = None
    cache: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # manual: {method: {key: value}}
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # {method: {"overrides", "tuning"}}
    defaults: bool = False  # ignore the shipped tuned configs of the embedded default
    progress: bool = True
    resume: bool = False
    launcher: Launcher = field(default_factory=Launcher)  # local, or one Slurm job per method and seed


def run_options(config: Path | RunConfig | None = None, *, methods: Sequence[str] | None = None,
                data: Path | None = None, dataset: str | None = None, protocol: str | None = None,
                settings: Sequence[str] | None = None, modes: Sequence[str] | None = None,
                shots: Sequence[str] | None = None, trials: int | None = None, seeds: Sequence[int] | None = None,
                device: str | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                sets: Sequence[str] = (), **rest: Any) -> RunOptions:
    """A run config (a TOML file or a :class:`RunConfig`) with what is given here winning over it.

    ``overrides`` ({method: {key: value}}) and ``sets`` (``[METHOD:]KEY=VALUE``, as ``--set``)
    are manual values; ``rest`` are the other :class:`RunOptions` fields (results, cache,
    defaults, progress, resume, launcher).
    """
    source = config if isinstance(config, Path) else None
    cfg = load_run_config(config) if isinstance(config, Path) else config or RunConfig()
    if methods is None and not cfg.methods:
        raise ReidbenchError("run: the following arguments are required: --methods (or --config FILE)")
    names = expand_methods(list(methods if methods is not None else cfg.methods or ()))
    stray = [f"[{table}.{m}]" for table in ("overrides", "tuned") for m in getattr(cfg, table) if m not in names]
    if stray:
        raise ReidbenchError(f"{source or 'run config'}: {', '.join(stray)} for a method not in this run "
                             f"(methods: {', '.join(names)}); a typo, or add it to the methods")
    stray = [m for m in overrides or {} if m not in names]
    if stray:
        raise ReidbenchError(f"overrides for {', '.join(stray)}, which is not in this run "
                             f"(methods: {', '.join(names)})")
    tuned = {m: {"overrides": cfg.overrides.get(m, {}), "tuning": info} for m, info in cfg.tuned.items()}
    manual = {m: v for m, v in cfg.overrides.items() if m not in tuned}
    given = parse_overrides(list(sets), names)
    merged = {m: {**manual.get(m, {}), **(overrides or {}).get(m, {}), **given.get(m, {})} for m in names}
    pick = lambda value, key: value if value is not None else getattr(cfg, key)  # noqa: E731
    if data is None and dataset is None:
        data, dataset = cfg.data, cfg.dataset
    return RunOptions(methods=names, data=Path(data) if data is not None else None, dataset=dataset,
                      protocol=pick(protocol, "protocol"), settings=_tuple(pick(settings, "settings")),
                      modes=_tuple(pick(modes, "modes")), shots=_tuple(pick(shots, "shots")),
                      trials=_or(pick(trials, "trials"), MAX_TRIALS), seeds=tuple(_or(pick(seeds, "seeds"), (0,))),
                      device=_or(pick(device, "device"), "auto"), overrides=merged, tuned=tuned, **rest)


def expand_methods(names: list[str]) -> list[str]:
    """Method names with groups expanded: ``table1`` (the paper's rows, in its order),
    a family (``handcrafted``, ``deep``), ``all`` or a glob pattern (``lomo_*``, in registry
    order); duplicates dropped."""
    from fnmatch import fnmatchcase

    from reidbench.paper import paper_table
    from reidbench.registry import all_methods

    out: list[str] = []
    for name in names:
        if name == "table1":
            out += list(paper_table().index)
        elif name == "all":
            out += list(all_methods())
        elif name in ("handcrafted", "deep"):
            out += [n for n, spec in all_methods().items() if spec.family == name]
        elif any(ch in name for ch in "*?["):
            matched = [n for n in all_methods() if fnmatchcase(n, name)]
            if not matched:
                raise ReidbenchError(f"no method matches '{name}' (see `reidbench list`)")
            out += matched
        else:
            out.append(name)
    if not out:
        raise ReidbenchError("no methods given (e.g. --methods hog_cca,cmgan; see `reidbench list`)")
    return list(dict.fromkeys(out))


def parse_overrides(items: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """``[METHOD:]KEY=VALUE`` -> {method: {key: value}}; a bare key goes to every method that has it."""
    from reidbench.registry import get_method

    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        target, _, assignment = item.rpartition(":") if ":" in item.split("=", 1)[0] else ("", "", item)
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ReidbenchError(f"--set expects [METHOD:]KEY=VALUE, got '{item}'")
        if target:
            if target not in out:
                raise ReidbenchError(f"--set names method '{target}', which is not in --methods")
            out[target][key] = value
            continue
        owners = [m for m in methods if key in get_method(m).config]
        if not owners:
            raise ReidbenchError(f"--set {key}: no selected method has a config key '{key}'")
        for m in owners:
            out[m][key] = value
    return out


def _tuple(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value
