"""Hyper-parameter sweeps: one independent run per value of one config key (Fig. 3).

The figure is :mod:`reidbench.figures.sweep`.

On the test galleries (the default, as the paper's Fig. 3) a sweep is a
sensitivity figure, never a way to choose: everything it writes says so. Each
point is a plain :func:`reidbench.runner.run` with the override
``{method: {key: value}}`` into its own folder ``<out>/<key>=<value>/``, so points
can run in separate processes (``jobs``) and on separate devices (round-robin),
and a sweep that stops part-way continues where it stopped: a point whose result
file exists is not run again. The manifest ``sweep.json`` (rewritten atomically
after every point) lists the points and their files. ``--on val`` scores the
points on the validation protocol instead, through ``reidbench tune``'s machinery.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reidbench import provenance
from reidbench.atomic import check_writable, ensure_writable
from reidbench.data.dataset import Dataset
from reidbench.device import resolve_device
from reidbench.errors import ReidbenchError
from reidbench.launch import PointOptions, run_points
from reidbench.protocols.validation import TEST_SENSITIVITY
from reidbench.registry import get_method
from reidbench.messages import say
from reidbench.options import check_range, check_seed
from reidbench.protocols import get_protocol
from reidbench.protocols.settings import MAX_TRIALS
from reidbench.runner import RunOptions, load_dataset, protocol_for, requested_protocol, run
from reidbench.store import write_json_atomic

MANIFEST = "sweep.json"


@dataclass(frozen=True, kw_only=True)
class SweepOptions(PointOptions):
    method: str
    key: str
    values: tuple[str, ...]
    out: Path
    protocol: str | None = None  # default: the dataset layout's own
    trials: int = MAX_TRIALS


@dataclass(frozen=True)
class SweepPoint:
    value: str
    folder: Path
    device: str
    method: str
    protocol: str

    @property
    def result(self) -> Path | None:
        """The point's result file, once it has run (its name carries the config digest)."""
        found = sorted(self.folder.glob(f"{self.method}__{self.protocol}__*.json"))
        return found[0] if found else None


def parse_assignment(text: str, flag: str = "--set") -> tuple[str, tuple[str, ...]]:
    """``key=v1,v2,...`` -> (key, values); values stay strings until the method's config types them.
    Errors name ``flag``, the option the user typed (``--set`` of sweep, ``--grid`` of tune)."""
    key, sep, rest = text.partition("=")
    values = tuple(v.strip() for v in rest.split(",") if v.strip())
    if not sep or not key.strip() or not values:
        raise ReidbenchError(f"{flag} expects KEY=V1,V2,..., got '{text}'")
    if len(set(values)) != len(values):
        raise ReidbenchError(f"{flag} {key}: repeated values")
    if any("/" in v or v in (".", "..") for v in values):
        raise ReidbenchError(f"{flag} {key}: a value cannot contain '/' (it names a folder)")
    return key.strip(), values


def plan(opts: SweepOptions, protocol: str) -> list[SweepPoint]:
    """One point per value, devices assigned round-robin."""
    return [SweepPoint(value, opts.out / f"{opts.key}={value}", opts.device_for(i), opts.method, protocol)
            for i, value in enumerate(opts.values)]


def run_sweep(opts: SweepOptions) -> dict[str, Any]:
    """Run the missing points (in parallel processes or as Slurm jobs) and return the manifest."""
    spec = get_method(opts.method)
    check_seed(opts.seed)
    check_range("--trials", opts.trials, 1, MAX_TRIALS)
    early = requested_protocol(opts.protocol, opts.data, opts.dataset)
    if early is not None:  # checked before the dataset is read (or generated)
        get_protocol(early).check_trials(opts.trials)
    if opts.key not in spec.config:
        raise ReidbenchError(f"method '{opts.method}' has no config key '{opts.key}' "
                             f"(known: {', '.join(sorted(spec.config)) or 'none'})")
    for value in opts.values:  # type errors before any work
        spec.resolve({opts.key: value})
    for device in set(opts.devices):
        resolve_device(device)  # e.g. cuda:1 on a machine without CUDA
    check_writable(opts.out)
    data = load_dataset(opts.data, opts.dataset, opts.progress)  # generates a named dataset once, up front
    protocol = protocol_for(data, opts.protocol)
    protocol.check_trials(opts.trials)
    ensure_writable(opts.out)
    points = plan(opts, protocol.name)
    for p in points:
        if p.result is not None:
            _check_compatible(p, opts, data.fingerprint)
    todo = [p for p in points if p.result is None]
    done = {p.value: "existing" for p in points if p.result is not None}

    def write_manifest() -> dict[str, Any]:
        current = _manifest(opts, protocol.name, data, points, done)
        write_json_atomic(opts.out / MANIFEST, current)
        return current

    manifest = write_manifest()
    base = RunOptions(methods=[opts.method], data=opts.data, dataset=opts.dataset, protocol=protocol.name,
                      trials=opts.trials, seeds=(opts.seed,), cache=opts.cache, progress=opts.point_progress)
    items = [replace(base, device=p.device, results=p.folder, overrides={opts.method: {opts.key: p.value}})
             for p in todo]

    def report(n: int, i: int, _: Any, error: str | None) -> None:
        nonlocal manifest
        if error is None:
            done[todo[i].value] = "ran"
        outcome = "done" if error is None else "failed"
        say(f"sweep {opts.method} [{n}/{len(todo)}] {opts.key}={todo[i].value}: {outcome}")
        manifest = write_manifest()

    run_points(run, items, opts.launcher, "sweep point", lambda i: f"{opts.key}={todo[i].value}", report)
    return manifest


def _check_compatible(point: SweepPoint, opts: SweepOptions, fingerprint: str) -> None:
    """An existing point is reused only if it was made with this sweep's data, seed and trials."""
    try:
        r = json.loads(point.result.read_text())
        made = (r["dataset"]["fingerprint"], r["seed"], r["protocol"]["trials"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ReidbenchError(f"unreadable sweep point {point.result}; delete it to run the point again") from None
    if made != (fingerprint, opts.seed, opts.trials):
        raise ReidbenchError(f"{point.result} was made with another dataset, --seed or --trials; "
                             "choose another --out or delete it")


def _manifest(opts: SweepOptions, protocol: str, data: Dataset, points: list[SweepPoint],
              done: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "reidbench-sweep",
        "method": opts.method, "key": opts.key, "values": list(opts.values),
        "protocol": protocol, "dataset": {"name": data.name, "root": str(data.root),
                                               "fingerprint": data.fingerprint},
        "trials": opts.trials, "seed": opts.seed,
        "points": [{"value": p.value, "device": p.device, "status": done.get(p.value, "pending"),
                    "result": str(p.result.relative_to(opts.out)) if p.result else None} for p in points],
        "scored_on": TEST_SENSITIVITY,
        "updated": provenance.now(),
    }
