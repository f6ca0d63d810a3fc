"""Hyper-parameter sweeps: one independent run per value of one config key (Fig. 3).

Each point is a plain :func:`reidbench.runner.run` with the override
``{method: {key: value}}`` into its own folder ``<out>/<key>=<value>/``, so
points can run in separate processes (``jobs``) and on separate devices
(round-robin), and a sweep that stops part-way continues where it stopped: a
point whose result file exists is not run again. The manifest ``sweep.json``
(rewritten atomically after every point) lists the points and their files.
"""
from __future__ import annotations

import json
import multiprocessing
import textwrap
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from matplotlib.figure import Figure

from reidbench import provenance
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.figures.canvas import new_figure
from reidbench.figures.runs import SETTING_LABELS
from reidbench.registry import get_method
from reidbench.runner import RunOptions, load_dataset, run
from reidbench.report import context_text
from reidbench.store import ensure_writable, write_json_atomic

MANIFEST = "sweep.json"
PLOTTED = ("r1", "mAP")


@dataclass(frozen=True)
class SweepOptions:
    method: str
    key: str
    values: tuple[str, ...]
    out: Path
    data: Path | None = None
    dataset: str | None = None
    protocol: str = "sysu"
    trials: int = 10
    seed: int = 0
    jobs: int = 1
    devices: tuple[str, ...] = ()
    cache: Path | None = None
    progress: bool = True


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


def parse_assignment(text: str) -> tuple[str, tuple[str, ...]]:
    """``key=v1,v2,...`` -> (key, values); values stay strings until the method's config types them."""
    key, sep, rest = text.partition("=")
    values = tuple(v.strip() for v in rest.split(",") if v.strip())
    if not sep or not key.strip() or not values:
        raise ReidbenchError(f"--set expects KEY=V1,V2,..., got '{text}'")
    if len(set(values)) != len(values):
        raise ReidbenchError(f"--set {key}: repeated values")
    if any("/" in v or v in (".", "..") for v in values):
        raise ReidbenchError(f"--set {key}: a value cannot contain '/' (it names a folder)")
    return key.strip(), values


def plan(opts: SweepOptions) -> list[SweepPoint]:
    """One point per value, devices assigned round-robin ('auto' when none given)."""
    devices = opts.devices or ("auto",)
    points = []
    for i, value in enumerate(opts.values):
        folder = opts.out / f"{opts.key}={value}"
        points.append(SweepPoint(value, folder, devices[i % len(devices)], opts.method, opts.protocol))
    return points


def run_sweep(opts: SweepOptions) -> dict[str, Any]:
    """Run the missing points (in parallel when ``jobs`` > 1) and return the manifest."""
    spec = get_method(opts.method)
    if opts.key not in spec.config:
        raise ReidbenchError(f"method '{opts.method}' has no config key '{opts.key}' "
                             f"(known: {', '.join(sorted(spec.config)) or 'none'})")
    for value in opts.values:  # type errors before any work
        spec.resolve({opts.key: value})
    if opts.jobs < 1:
        raise ReidbenchError(f"--jobs must be at least 1, got {opts.jobs}")
    for device in set(opts.devices):
        provenance.resolve_device(device)  # e.g. cuda:1 on a machine without CUDA
    ensure_writable(opts.out)
    data = load_dataset(opts.data, opts.dataset, opts.progress)  # generates a named dataset once, up front
    points = plan(opts)
    for p in points:
        if p.result is not None:
            _check_compatible(p, opts, data.fingerprint)
    todo = [p for p in points if p.result is None]
    done = {p.value: "existing" for p in points if p.result is not None}
    manifest = _manifest(opts, data, points, done)
    write_json_atomic(opts.out / MANIFEST, manifest)
    base = RunOptions(methods=[opts.method], data=opts.data, dataset=opts.dataset, protocol=opts.protocol,
                      trials=opts.trials, seed=opts.seed, cache=opts.cache,
                      progress=opts.progress and opts.jobs == 1)
    failures = []
    for point, error in _execute(base, opts, todo):
        if error is None:
            done[point.value] = "ran"
        else:
            failures.append(f"{opts.key}={point.value}: {error}")
        manifest = _manifest(opts, data, points, done)
        write_json_atomic(opts.out / MANIFEST, manifest)
    if failures:
        raise ReidbenchError(f"{len(failures)} sweep point(s) failed (the others are kept; run the same "
                             f"command again to retry): {'; '.join(failures)}")
    return manifest


def point_options(base: RunOptions, opts: SweepOptions, point: SweepPoint) -> RunOptions:
    return replace(base, device=point.device, results=point.folder,
                   overrides={opts.method: {opts.key: point.value}})


def _execute(base: RunOptions, opts: SweepOptions, todo: list[SweepPoint]
             ) -> Iterator[tuple[SweepPoint, str | None]]:
    """Yield (point, error message or None) as points finish."""
    if opts.jobs == 1 or len(todo) <= 1:
        for p in todo:
            try:
                run(point_options(base, opts, p))
                yield p, None
            except Exception as exc:  # one failed point (bad value, OOM) must not lose the others
                yield p, _describe(exc)
        return
    # spawn, not fork: a child must not inherit a parent's CUDA or thread-pool state.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(opts.jobs, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(run, point_options(base, opts, p)): p for p in todo}
        for fut in as_completed(futures):
            try:
                fut.result()
                yield futures[fut], None
            except Exception as exc:  # as above, and a crashed worker process
                yield futures[fut], _describe(exc)


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ReidbenchError) else f"{type(exc).__name__}: {exc}"


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


def _manifest(opts: SweepOptions, data: SysuDataset, points: list[SweepPoint], done: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "reidbench-sweep",
        "method": opts.method, "key": opts.key, "values": list(opts.values),
        "protocol": opts.protocol, "dataset": {"name": data.name, "root": str(data.root),
                                               "fingerprint": data.fingerprint},
        "trials": opts.trials, "seed": opts.seed,
        "points": [{"value": p.value, "device": p.device, "status": done.get(p.value, "pending"),
                    "result": str(p.result.relative_to(opts.out)) if p.result else None} for p in points],
        "scored_on": "test galleries (a figure of the paper's kind; choose values with `reidbench tune`)",
        "updated": provenance.now(),
    }


def load_points(out: Path, manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(value, result) of every finished point, in sweep order."""
    pts = []
    for p in manifest["points"]:
        path = Path(out) / p["result"] if p.get("result") else None
        if path is not None and path.exists():
            pts.append((p["value"], json.loads(path.read_text())))
    if not pts:
        raise ReidbenchError(f"no finished sweep points under {out}")
    return pts


def axis_values(values: list[str]) -> tuple[np.ndarray, bool]:
    """Numeric x positions when every value is a number, else 0..n-1 (categorical)."""
    try:
        return np.array([float(v) for v in values]), True
    except ValueError:
        return np.arange(len(values), dtype=np.float64), False


def sweep_series(points: list[tuple[str, dict[str, Any]]], setting: str, metric: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x positions, mean and std over trials of ``metric`` in ``setting``, sorted by x."""
    x, _ = axis_values([v for v, _ in points])
    mean = np.array([r["settings"][setting]["mean"][metric] for _, r in points])
    std = np.array([r["settings"][setting]["std"][metric] for _, r in points])
    order = np.argsort(x, kind="stable")
    return x[order], mean[order], std[order]


def plot_sweep(points: list[tuple[str, dict[str, Any]]], key: str, settings: list[str]) -> Figure:
    """Rank-1 and mAP against the swept value, one panel per setting; bars: ±1 std over trials."""
    values = [v for v, _ in points]
    x, numeric = axis_values(values)
    ncols = min(2, len(settings))
    nrows = -(-len(settings) // ncols)
    fig = new_figure(5.2 * ncols, 3.6 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    label = points[0][1]["method"]["label"]
    trials = points[0][1]["protocol"]["trials"]
    for ax, setting in zip(axes, settings):
        for i, metric in enumerate(PLOTTED):
            xs, mean, std = sweep_series(points, setting, metric)
            ax.errorbar(xs, mean, yerr=std, marker="o", ms=4, capsize=3, color=f"C{i}", ls="-" if numeric else "none",
                        label="rank-1" if metric == "r1" else metric)
        ax.set_title(SETTING_LABELS[setting], fontsize=10)
        ax.set_xlabel(key)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if not numeric:
            ax.set_xticks(x, values)
            ax.set_xlim(-0.5, len(values) - 0.5)
        else:
            ax.set_xticks(np.sort(x), [values[i] for i in np.argsort(x, kind="stable")])
    for ax in axes[len(settings):]:
        ax.set_visible(False)
    context = textwrap.fill(context_text([r for _, r in points]), 120)
    fig.suptitle(f"{label}: effect of {key} on the TEST galleries (mean ± std over {trials} trials)\n{context}",
                 fontsize=9)
    return fig


def settings_of(points: list[tuple[str, dict[str, Any]]], setting: str | None) -> list[str]:
    """The chosen setting, or every setting all points have, in Table-1 order."""
    have = [s for s in SETTING_LABELS if all(s in r["settings"] for _, r in points)]
    if setting is None:
        return have
    if setting not in have:
        raise ReidbenchError(f"--setting {setting}: not in every sweep point (available: {', '.join(have)})")
    return [setting]
