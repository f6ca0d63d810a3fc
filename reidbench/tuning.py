"""``reidbench tune``: hyper-parameters chosen on the validation identities, never on test.

Each point of a grid (the product of ``--grid KEY=v1,v2`` axes, or ``--budget N``
points drawn from it with the seed) fits the method on the training identities and
scores it with :class:`reidbench.protocols.validation.ValProtocol`; no test image is
read (only the train and val images are even decoded in the pre-flight check). The
tuning record ``tuning.json`` holds the grid, every point's validation scores and
time, and the chosen point; it is rewritten atomically after each point, so an
interrupted tune resumes where it stopped. The chosen config is written as a run
config (``<method>.toml``) that ``reidbench run --config`` uses. Points can run in
parallel processes and on several devices, as sweep points do.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reidbench import kernels, provenance
from reidbench.atomic import check_writable, ensure_writable
from reidbench.data.validate import check_images
from reidbench.device import check_device_name
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext, seed_everything
from reidbench.launch import PointOptions, run_points
from reidbench.protocols.validation import SELECT_BY, VAL_LABEL, VAL_METRICS, ValProtocol
from reidbench.registry import get_method
from reidbench.runconfig import RunConfig, write_run_config
from reidbench.messages import say
from reidbench.options import check_range, check_seed
from reidbench.runner import load_dataset, run_device
from reidbench.store import dataset_record, write_json_atomic
from reidbench.workspace import Workspace, model_key, tune_tag

RECORD = "tuning.json"
MAX_VAL_TRIALS = 100  # seeded validation galleries: more only costs time
TUNES_DIR = Path("tunes")


@dataclass(frozen=True, kw_only=True)
class TuneOptions(PointOptions):
    method: str
    grid: tuple[tuple[str, tuple[str, ...]], ...]  # (key, values) axes, in order
    metric: str = "mAP"
    budget: int | None = None
    out: Path | None = None
    val_trials: int = 10


@dataclass(frozen=True)
class PointTask:
    """Everything one point needs, picklable for a worker process."""

    method: str
    overrides: dict[str, Any]
    data: Path | None
    dataset: str | None
    seed: int
    device: str
    workspace: Workspace
    val_trials: int
    progress: bool
    resume: bool = False  # a requeued Slurm job continues a deep point's training


def grid_points(grid: tuple[tuple[str, tuple[str, ...]], ...], budget: int | None, seed: int) -> list[dict[str, str]]:
    """The grid's product in order, or ``budget`` of its points drawn without replacement."""
    keys = [k for k, _ in grid]
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(values for _, values in grid))]
    if budget is None or budget >= len(points):
        return points
    if budget < 1:
        raise ReidbenchError(f"--budget must be at least 1, got {budget}")
    pick = np.sort(np.random.default_rng(seed).choice(len(points), size=budget, replace=False))
    return [points[i] for i in pick]


def score_point(task: PointTask) -> dict[str, Any]:
    """Fit on the training identities, score on the validation protocol (percent)."""
    data = load_dataset(task.data, task.dataset, progress=False)
    spec = get_method(task.method)
    method = spec.create(task.overrides)
    device = run_device(task.device, [spec])
    key = model_key(spec, method.resolved_config(device), task.seed)
    ctx = RunContext(seed=task.seed, device=device, cache_dir=task.workspace.root,
                     work_dir=task.workspace.work_dir(tune_tag(task.method, key, data.fingerprint)),
                     dataset_fingerprint=data.fingerprint, progress=task.progress, resume=task.resume)
    seed_everything(task.seed, torch=spec.needs_torch)
    start = time.perf_counter()
    method.fit(data.train, data.val, ctx)
    val = ValProtocol.build(data.val, seed=0, trials=task.val_trials)
    if val is None:
        raise ReidbenchError(f"{data.name} has no validation identities with IR and RGB images to tune on")
    scores = val.evaluate(lambda images: np.asarray(method.embed(images, ctx), dtype=np.float64))
    return {"scores": {k: 100 * scores[k] for k in VAL_METRICS},
            "std": {k: 100 * v for k, v in scores["std"].items()},
            "num_valid": scores["num_valid"], "time_s": round(time.perf_counter() - start, 2),
            "device": device, "val": val.describe()}


def run_tune(opts: TuneOptions) -> tuple[dict[str, Any], Path]:
    """Score every missing point, write the record and the chosen run config; returns (record, config path)."""
    spec = get_method(opts.method)
    if opts.metric not in SELECT_BY:
        raise ReidbenchError(f"unknown --metric '{opts.metric}' (known: {', '.join(SELECT_BY)})")
    if not opts.grid:
        raise ReidbenchError("give at least one --grid KEY=V1,V2,...")
    check_seed(opts.seed)
    check_range("--val-trials", opts.val_trials, 1, MAX_VAL_TRIALS)
    if opts.budget is not None:
        check_range("--budget", opts.budget, 1)
    keys = [k for k, _ in opts.grid]
    if len(set(keys)) != len(keys):
        raise ReidbenchError("each --grid key may appear once")
    points = grid_points(opts.grid, opts.budget, opts.seed)
    typed = [_typed(spec, p) for p in points]  # every value checked against the key's rule before any work
    for device in opts.devices:
        check_device_name(device)
    data = load_dataset(opts.data, opts.dataset, opts.progress)
    check_writable(opts.out or TUNES_DIR / data.name / opts.method)
    workspace = Workspace.at(opts.cache)
    check_images(data, workspace.root, splits=("train", "val"), progress=opts.progress)
    out = ensure_writable(opts.out or TUNES_DIR / data.name / opts.method)  # made once the input is good
    record = _load_or_start(out / RECORD, opts, data, typed)
    todo = [i for i, p in enumerate(record["points"]) if p.get("scores") is None]
    tasks = [PointTask(opts.method, record["points"][i]["overrides"], opts.data, opts.dataset, opts.seed,
                       opts.device_for(n), workspace, opts.val_trials, opts.point_progress)
             for n, i in enumerate(todo)]

    def report(n: int, k: int, outcome: dict[str, Any] | None, error: str | None) -> None:
        point = record["points"][todo[k]]
        if error is None:
            point.update(outcome)
            s = outcome["scores"]
            say(f"tune {opts.method} [{n}/{len(tasks)}] {_show(point['overrides'])}: val mAP {s['mAP']:.2f}, "
                f"r1 {s['r1']:.2f} ({outcome['time_s']:.1f} s)")
        record["chosen"] = choose(record["points"], opts.metric)
        record["updated"] = provenance.now()
        write_json_atomic(out / RECORD, record)

    run_points(score_point, tasks, opts.launcher, "tuning point",
               lambda k: _show(record["points"][todo[k]]["overrides"]), report)
    if not tasks:  # resumed with every point scored: the record only needs its choice
        record["chosen"] = choose(record["points"], opts.metric)
        write_json_atomic(out / RECORD, record)
    return record, write_chosen_config(out, record, data)


def choose(points: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The best point by the metric (the other one breaks ties, then grid order)."""
    other = next(m for m in SELECT_BY if m != metric)
    done = [p for p in points if p.get("scores")]
    if not done:
        return None
    best = max(done, key=lambda p: (round(p["scores"][metric], 9), round(p["scores"][other], 9)))
    return {"overrides": best["overrides"], "scores": best["scores"]}


def points_digest(points: list[dict[str, Any]]) -> str:
    """Digest of what a tuning found, each point's config and scores: two identical tunings share it
    (wall times and devices, which differ between them, are left out)."""
    found = [{"overrides": p["overrides"], "scores": p.get("scores")} for p in points]
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16]


def write_chosen_config(out: Path, record: dict[str, Any], data: Any) -> Path:
    """The chosen point as a run config beside the record."""
    chosen, method = record["chosen"], record["method"]
    digest = points_digest(record["points"])
    cfg = RunConfig(methods=(method,),
                    dataset=data.name if record["dataset"]["named"] else None,
                    data=None if record["dataset"]["named"] else Path(data.root),
                    overrides={method: chosen["overrides"]},
                    tuned={method: {"record": RECORD, "metric": record["metric"],
                                    "score": round(chosen["scores"][record["metric"]], 4),
                                    "dataset": data.name, "fingerprint": data.fingerprint, "points": digest}})
    header = (f"written by `reidbench tune` on {record['updated']}: the best validation {record['metric']} of "
              f"{sum(1 for p in record['points'] if p.get('scores'))} points on {data.name}\n"
              f"(record: {RECORD}); use with `reidbench run --config {method}.toml`")
    return write_run_config(out / f"{method}.toml", cfg, header)


def _load_or_start(path: Path, opts: TuneOptions, data: Any, typed: list[dict[str, Any]]) -> dict[str, Any]:
    """A new record, or the one an interrupted tune left (its finished points kept)."""
    fresh = {"kind": "reidbench-tuning", "method": opts.method, "grid": [[k, list(v)] for k, v in opts.grid],
             "budget": opts.budget, "metric": opts.metric, "seed": opts.seed, "val_trials": opts.val_trials,
             "protocol": VAL_LABEL, "dataset": dataset_record(data),
             "points": [{"overrides": p, "scores": None} for p in typed], "chosen": None,
             "created": provenance.now(), "updated": provenance.now(),
             "versions": provenance.versions(), "git": provenance.git_state(), "kernels": kernels.record()}
    if not path.exists():
        return fresh
    try:
        old = json.loads(path.read_text())
        same = (old["method"], old["dataset"]["fingerprint"], old["seed"], old["val_trials"]) == \
            (opts.method, data.fingerprint, opts.seed, opts.val_trials)
    except (OSError, ValueError, KeyError, TypeError):
        raise ReidbenchError(f"unreadable tuning record {path}; delete it to start again") from None
    if not same:
        raise ReidbenchError(f"{path} was made with another method, dataset, --seed or val trials; "
                             "choose another --out or delete it")
    done = {json.dumps(p["overrides"], sort_keys=True): p for p in old["points"] if p.get("scores")}
    fresh["points"] = [done.get(json.dumps(p["overrides"], sort_keys=True), p) for p in fresh["points"]]
    fresh["created"] = old.get("created", fresh["created"])
    return fresh


def _typed(spec: Any, point: dict[str, str]) -> dict[str, Any]:
    config = spec.resolve(point)
    return {k: config[k] for k in point}


def _show(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items())

