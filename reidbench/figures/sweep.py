"""Hyper-parameter sweeps: one independent run per value of one config key (Fig. 3).

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
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from matplotlib.figure import Figure

from reidbench import provenance
from reidbench.data.sysu import SysuDataset
from reidbench.device import resolve_device
from reidbench.errors import ReidbenchError
from reidbench.figures.canvas import new_figure
from reidbench.figures.runs import SETTING_LABELS
from reidbench.parallel import run_items
from reidbench.registry import get_method
from reidbench.runner import RunOptions, load_dataset, run
from reidbench.report import context_text, dataset_text
from reidbench.store import ensure_writable, write_json_atomic

MANIFEST = "sweep.json"
PLOTTED = ("r1", "mAP")
TEST_SENSITIVITY = "test-set sensitivity (as in the paper's Fig. 3), not a selection"


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
        resolve_device(device)  # e.g. cuda:1 on a machine without CUDA
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
                      trials=opts.trials, seeds=(opts.seed,), cache=opts.cache,
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
    for i, _, error in run_items(run, [point_options(base, opts, p) for p in todo], opts.jobs):
        yield todo[i], error


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
        "scored_on": TEST_SENSITIVITY,
        "updated": provenance.now(),
    }


Points = list[tuple[str, dict[str, dict[str, Any]]]]  # (value, {panel: {"mean": ..., "std": ...}})
PANEL_LABELS = {**SETTING_LABELS, "val": "validation (all-search single-shot)"}


def load_points(out: Path, manifest: dict[str, Any]) -> tuple[Points, str]:
    """Every finished test point (value, its settings) in sweep order, and the figure title."""
    results = []
    for p in manifest["points"]:
        path = Path(out) / p["result"] if p.get("result") else None
        if path is not None and path.exists():
            results.append((p["value"], json.loads(path.read_text())))
    if not results:
        raise ReidbenchError(f"no finished sweep points under {out}")
    first = results[0][1]
    title = (f"{first['method']['label']}: {TEST_SENSITIVITY} of {manifest['key']}; mean ± std over "
             f"{first['protocol']['trials']} trials\n" + textwrap.fill(context_text([r for _, r in results]), 120))
    return [(v, r["settings"]) for v, r in results], title


def val_points(record: dict[str, Any], key: str) -> tuple[Points, str]:
    """The scored points of a tuning record over one key, and the figure title."""
    points = [(str(p["overrides"][key]), {"val": {"mean": p["scores"], "std": p["std"]}})
              for p in record["points"] if p.get("scores")]
    if not points:
        raise ReidbenchError("no finished validation points")
    title = (f"{record['method']}: {key} on the validation identities (mean ± std over {record['val_trials']} "
             f"galleries), a basis for choosing\n" + textwrap.fill(
                 f"{record['protocol']}; dataset {dataset_text(record['dataset'])}", 120))
    return points, title


def axis_values(values: list[str]) -> tuple[np.ndarray, bool]:
    """Numeric x positions when every value is a number, else 0..n-1 (categorical)."""
    try:
        return np.array([float(v) for v in values]), True
    except ValueError:
        return np.arange(len(values), dtype=np.float64), False


def sweep_series(points: Points, panel: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x positions, mean and std of ``metric`` in ``panel``, sorted by x."""
    x, _ = axis_values([v for v, _ in points])
    mean = np.array([entry[panel]["mean"][metric] for _, entry in points])
    std = np.array([entry[panel]["std"][metric] for _, entry in points])
    order = np.argsort(x, kind="stable")
    return x[order], mean[order], std[order]


def plot_sweep(points: Points, key: str, panels: list[str], title: str) -> Figure:
    """Rank-1 and mAP against the swept value, one panel per setting; bars: ±1 std."""
    values = [v for v, _ in points]
    x, numeric = axis_values(values)
    ncols = min(2, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = new_figure(5.2 * ncols, 3.6 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, panel in zip(axes, panels):
        for i, metric in enumerate(PLOTTED):
            xs, mean, std = sweep_series(points, panel, metric)
            ax.errorbar(xs, mean, yerr=std, marker="o", ms=4, capsize=3, color=f"C{i}", ls="-" if numeric else "none",
                        label="rank-1" if metric == "r1" else metric)
        ax.set_title(PANEL_LABELS[panel], fontsize=10)
        ax.set_xlabel(key)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if not numeric:
            ax.set_xticks(x, values)
            ax.set_xlim(-0.5, len(values) - 0.5)
        else:
            ax.set_xticks(np.sort(x), [values[i] for i in np.argsort(x, kind="stable")])
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return fig


def settings_of(points: Points, setting: str | None) -> list[str]:
    """The chosen panel, or every panel all points have, in Table-1 order."""
    have = [s for s in PANEL_LABELS if all(s in entry for _, entry in points)]
    if setting is None:
        return have
    if setting not in have:
        raise ReidbenchError(f"--setting {setting}: not in every sweep point (available: {', '.join(have)})")
    return [setting]
