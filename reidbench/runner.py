"""The shared protocol runner: every method, same dataset, same galleries.

Everything a user can get wrong is checked before any work, cheapest first:
method names and config values, protocol and settings, the dataset's layout, the
device, then a decode of every image. For each method and seed: one method instance,
fitted on the training identities (validation identities for selection) once per
scoring group, its evaluation set embedded once (cached on disk by
:func:`reidbench.workspace.model_key` and the dataset fingerprint), every setting and
trial scored by :func:`reidbench.scoring.score_trials`, and the result
(:func:`reidbench.store.new_result`) written atomically with full provenance.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from reidbench import store
from reidbench.atomic import atomic_open, check_writable, ensure_writable
from reidbench.config import changed_keys, tuned_in_effect
from reidbench.device import check_device_name, device_info, resolve_device
from reidbench.data.default import DEFAULT_DATASET, named_dataset, named_layout
from reidbench.data.dataset import Dataset
from reidbench.data.imageset import ImageSet
from reidbench.data.layouts import LAYOUTS, load
from reidbench.data.validate import check_images
from reidbench.errors import ReidbenchError
from reidbench.kernels import describe as describe_kernels
from reidbench.launch import Launcher, run_points
from reidbench.messages import say
from reidbench.methods.base import Method, RunContext, seed_everything
from reidbench.options import check_range, check_seed
from reidbench.protocols import Galleries, Protocol, Setting, get_protocol
from reidbench.protocols.settings import MAX_TRIALS
from reidbench.registry import MethodSpec, get_method
from reidbench.runoptions import RunOptions, expand_methods
from reidbench.scoring import RETRIEVAL_TRIAL, TOP_K, score_trials, summarise
from reidbench.tuned import check_shipped, shipped_tuning
from reidbench.workspace import Workspace, model_key, run_tag


@dataclass(frozen=True)
class MethodRun:
    """A method with its checked config and where that config came from."""

    spec: MethodSpec
    config: dict[str, Any]
    origin: dict[str, Any]  # kind (default | tuned | manual), base (tuned values), tuning (record), manual


def load_dataset(data: Path | None, dataset: str | None, progress: bool = True) -> Dataset:
    if data is not None and dataset is not None:
        raise ReidbenchError("give either --data ROOT or --dataset NAME, not both")
    if data is not None:
        return load(data)
    return named_dataset(dataset or DEFAULT_DATASET, progress=progress)


def settings_for(protocol: Protocol, keys: tuple[str, ...] | None = None, modes: tuple[str, ...] | None = None,
                 shots: tuple[str, ...] | None = None) -> list[Setting]:
    """The settings a run evaluates: named keys, SYSU's modes x shots, or every setting of the protocol."""
    if keys is not None:
        if not keys:
            raise ReidbenchError("--settings needs at least one value")
        return [protocol.setting(k) for k in dict.fromkeys(keys)]
    if modes is None and shots is None:
        return list(protocol.settings)
    return protocol.select_settings(modes, shots)  # SYSU-MM01's modes x shots; other protocols refuse them


def resolve_methods(names: list[str], manual: dict[str, Any],
                    tuned: dict[str, dict[str, Any]] | None = None) -> list[MethodRun]:
    """Each method's checked config on its base (tuned values, else the defaults); nothing is built."""
    runs = []
    for spec in (get_method(name) for name in expand_methods(names)):
        base = (tuned or {}).get(spec.name, {})
        base_values = base.get("overrides", {})
        config = spec.resolve({**base_values, **manual.get(spec.name, {})})
        changed = changed_keys(spec.resolve(base_values), config)
        kind = "manual" if changed else "tuned" if base_values else "default"
        runs.append(MethodRun(spec, config, {"kind": kind, "base": base_values,
                                             "tuning": base.get("tuning") if base_values else None,
                                             "manual": changed}))
    return runs


def run(opts: RunOptions) -> list[Path]:
    """Run every method of ``opts`` with every seed and return the result files written."""
    opts = replace(opts, progress=opts.progress and _is_rank_zero())  # under torchrun one set of bars
    shipped = {} if opts.defaults or opts.data is not None else shipped_tuning(opts.dataset or DEFAULT_DATASET)
    methods = resolve_methods(opts.methods, opts.overrides, {**shipped, **opts.tuned})
    seeds = tuple(dict.fromkeys(opts.seeds))
    if not seeds:
        raise ReidbenchError("--seeds needs at least one value")
    for seed in seeds:
        check_seed(seed, "--seeds")
    check_device_name(opts.device)
    check_range("--trials", opts.trials, 1, MAX_TRIALS)
    early = requested_protocol(opts.protocol, opts.data, opts.dataset)
    if early is not None:  # checked before the dataset is read (or generated)
        settings_for(get_protocol(early), opts.settings, opts.modes, opts.shots)
    data = load_dataset(opts.data, opts.dataset, opts.progress)
    protocol = protocol_for(data, opts.protocol)
    settings = settings_for(protocol, opts.settings, opts.modes, opts.shots)
    protocol.check_trials(opts.trials)
    check_shipped(shipped, data)
    check_writable(opts.results or store.default_results_dir(data.name))
    workspace = Workspace.at(opts.cache)
    if check_images(data, workspace.root, progress=opts.progress):
        say(f"checked every image of {data.name} ({data.num_images} files): all decode")
    results_dir = ensure_writable(opts.results or store.default_results_dir(data.name))  # made once the input is good
    jobs = [(m, seed) for m in methods for seed in seeds]
    if opts.launcher.kind != "local" or (opts.launcher.jobs > 1 and len(jobs) > 1):
        return _submit(opts, jobs, results_dir)
    device = run_device(opts.device, [m.spec for m in methods])
    say(describe_kernels())
    galleries = {s.key: protocol.galleries(data, s, opts.trials) for s in settings}
    if data.splits_per_trial:
        say(f"{data.name}: each of the {opts.trials} trials is its own train/test split: "
            "learned methods are trained once per trial")
    written = []
    for i, (m, seed) in enumerate(jobs, 1):
        say(f"[{i}/{len(jobs)}] {m.spec.name}" + (f", seed {seed}" if len(seeds) > 1 or seed else ""))
        payload, artifacts = run_method(m, seed, data, protocol, settings, galleries, opts, device, workspace)
        if payload is not None:
            written.append(_write(results_dir, payload, artifacts))
    return written


def run_device(device: str, specs: list[MethodSpec]) -> str:
    """The run's device; ``cpu`` without probing for CUDA (or importing torch) when no method needs torch."""
    return resolve_device(device) if any(spec.needs_torch for spec in specs) else "cpu"


def _submit(opts: RunOptions, jobs: list[tuple[MethodRun, int]], results_dir: Path) -> list[Path]:
    """One job per method and seed (Slurm jobs, or local processes), each a plain run into ``results_dir``.

    The jobs resolve their own device (a submitting node often has no GPU).
    """
    items = [replace(opts, methods=[m.spec.name], seeds=(seed,), results=results_dir, progress=False,
                     launcher=Launcher()) for m, seed in jobs]
    written: list[Path] = []

    def label(i: int) -> str:
        return f"{items[i].methods[0]}, seed {items[i].seeds[0]}"

    def report(n: int, i: int, paths: list[Path] | None, error: str | None) -> None:
        say(f"job {label(i)}: {'done' if error is None else 'failed'}")
        written.extend(paths or [])

    run_points(run, items, opts.launcher, "job", label, report)
    return written


def requested_protocol(name: str | None, data: Path | None, dataset: str | None) -> str | None:
    """The protocol a run will use, when known before its dataset is read: the named one, or a named
    dataset's own (so that its options are checked before the dataset is generated)."""
    if name is not None or data is not None:
        return name
    return LAYOUTS.get(named_layout(dataset or DEFAULT_DATASET)).default_protocol


def protocol_for(data: Dataset, name: str | None) -> Protocol:
    """The named protocol (which must fit the dataset's layout), or the layout's default."""
    protocol = get_protocol(name or LAYOUTS.get(data.kind).default_protocol)
    protocol.check_dataset(data)
    return protocol


def run_method(m: MethodRun, seed: int, data: Dataset, protocol: Protocol, settings: list[Setting],
               galleries: dict[str, Galleries], opts: RunOptions, device: str,
               workspace: Workspace) -> tuple[store.Result | None, dict[str, Path]]:
    """Fit, embed and evaluate one method with one seed; (None, {}) on non-zero ranks of a distributed run.

    On a dataset whose trials are separate splits the method is fitted once per trial.
    """
    method = m.spec.factory(m.config)
    resolved = method.resolved_config(device)
    seed_everything(seed, torch=m.spec.needs_torch)
    start = time.perf_counter()
    fits = _Fits(method, m.spec.name, seed, model_key(m.spec, resolved, seed), data, device, workspace, opts)
    scores = score_trials(protocol, data, settings, galleries, opts.trials, method.distance, fits, retrievals=True)
    if scores is None:
        return None, {}
    summaries: dict[str, store.SettingSummary] = {
        k: {**summarise(ms, galleries[k]), "embeddings_digest": ",".join(fits.digests)}  # which embeddings scored it
        for k, ms in scores.metrics.items()}
    timings = {**fits.timings, "eval_s": scores.eval_s, "total_s": time.perf_counter() - start}
    tags = method.tags(resolved) + (["val-tuned"] if tuned_in_effect(m.origin) else [])
    payload = store.new_result(
        store.method_record(m.spec, m.config, resolved, m.origin, tags),
        store.protocol_record(protocol, data, method.distance, opts.trials), store.dataset_record(data), seed,
        summaries, device=device_info(device), timings=timings,
        method_provenance={**fits.provenance, "resumed": fits.resumed} if fits.resumed else fits.provenance,
        retrieval={"trial": RETRIEVAL_TRIAL, "top_k": TOP_K, "ranks": scores.ranks}, local=fits.local)
    return payload, fits.artifacts


class _Fits:
    """``features_of`` for :func:`score_trials`: a scoring group's features (cached, or fitted on its split
    and embedded), and what the result says of them."""

    def __init__(self, method: Method, name: str, seed: int, key: str, data: Dataset, device: str,
                 workspace: Workspace, opts: RunOptions):
        self.method, self.name, self.seed, self.key, self.data = method, name, seed, key, data
        self.device, self.workspace, self.opts = device, workspace, opts
        self.timings = {"fit_s": 0.0, "embed_s": 0.0}
        self.digests: list[str] = []
        self.resumed: list[dict[str, int]] = []  # every trial's model, not only the one provenance keeps
        self.provenance: dict[str, Any] = {}  # of the model whose retrievals are stored
        self.artifacts: dict[str, Path] = {}
        self.local: dict[str, str] = {}

    def __call__(self, group: list[int], images: ImageSet) -> np.ndarray | None:
        trial = group[0]
        tag = run_tag(self.name, self.key, self.data.fingerprint, trial if self.data.splits_per_trial else None)
        ctx = RunContext(seed=self.seed, device=self.device, cache_dir=self.workspace.root,
                         work_dir=self.workspace.work_dir(tag), dataset_fingerprint=self.data.fingerprint,
                         progress=self.opts.progress, resume=self.opts.resume)
        path = self.workspace.embeddings(tag)
        feats, extra = _embeddings(self.method, self.data, trial, images, ctx, path, self.timings, self.name)
        if feats is None:
            return None
        self.digests.append(hashlib.sha256(np.ascontiguousarray(feats).tobytes()).hexdigest()[:16])
        if extra.get("resumed_from_step") is not None:
            self.resumed.append({"trial": trial + 1, "from_step": extra["resumed_from_step"]})
        if RETRIEVAL_TRIAL in group:
            self.provenance, self.artifacts = extra, self.method.artifacts(ctx)
            self.local = {"embeddings": str(path), "work_dir": str(ctx.work_dir)}
        return feats


def _embeddings(method: Method, data: Dataset, trial: int, images: Any, ctx: RunContext, path: Path,
                timings: dict[str, float], name: str) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The evaluation set's features from the cache, or fitted on the trial's split and embedded.

    (None, {}) on non-zero ranks of a distributed run, which do not evaluate.
    """
    if path.exists():
        stored = np.load(path)
        say(f"{name}: embeddings of this config and seed are cached; evaluating only")
        return stored["features"], json.loads(str(stored["provenance"]))
    split = data.split(trial)
    say(f"{name}: fitting on {len(np.unique(split.train.pids))} training identities"
        + (f" (trial {trial + 1})" if data.splits_per_trial else ""))
    t0 = time.perf_counter()
    method.fit(split.train, split.val, ctx)
    t1 = time.perf_counter()
    feats = np.asarray(method.embed(images, ctx))
    timings["fit_s"] += t1 - t0
    timings["embed_s"] += time.perf_counter() - t1
    extra = method.provenance()
    if extra.get("resumed_from_step") is not None:
        say(f"{name}: training resumed from its checkpoint at step {extra['resumed_from_step']}"
            + (f" (trial {trial + 1})" if data.splits_per_trial else ""))
    _check_features(feats, len(images), name)
    if not _is_rank_zero():
        return None, {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        np.savez(fh, features=feats, provenance=json.dumps(extra, default=str))
    return feats, extra


def _write(results_dir: Path, payload: store.Result, artifacts: dict[str, Path]) -> Path:
    """Copy the method's artifacts beside the result (what its figures need), then write the result."""
    path = store.result_path(results_dir, payload)
    stored = {}
    for name, source in artifacts.items():
        if Path(source).is_file():
            target = store.sidecar(path, name)
            with atomic_open(target) as fh, open(source, "rb") as src:
                shutil.copyfileobj(src, fh)
            stored[name] = target.name
    payload["artifacts"]["files"] = stored
    return store.save_result(results_dir, payload)


def _check_features(feats: np.ndarray, expected: int, name: str) -> None:
    if feats.ndim != 2 or feats.shape[0] != expected:
        raise ReidbenchError(f"method '{name}' returned features of shape {feats.shape}, expected ({expected}, D)")
    if not np.isfinite(feats).all():
        raise ReidbenchError(f"method '{name}' produced NaN or infinite features")


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
