"""The shared protocol runner: every method, same dataset, same galleries.

Everything a user can get wrong is checked before any work, cheapest first:
method names and config values, protocol and settings, the dataset's layout, the
device, then a decode of every image. For each method: fit on the training
identities (validation identities for selection), embed the probes and the gallery
pool once (cached on disk by :func:`model_key` and the dataset fingerprint), evaluate
every setting and trial, and write the result atomically with full provenance.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from reidbench import kernels, provenance
from reidbench.atomic import atomic_open, check_writable, ensure_writable
from reidbench.config import changed_keys, tuned_in_effect
from reidbench.device import check_device_name, device_info, resolve_device
from reidbench.data.default import DEFAULT_DATASET, cache_home, named_dataset, named_layout
from reidbench.data.record import dataset_record
from reidbench.data.dataset import Dataset
from reidbench.data.layouts import LAYOUTS, load
from reidbench.data.validate import check_images
from reidbench.errors import ReidbenchError
from reidbench.launch import Launcher, launch
from reidbench.messages import say
from reidbench.methods.base import RunContext, seed_everything
from reidbench.options import check_seed
from reidbench.protocols import Galleries, Protocol, Setting, get_protocol
from reidbench.protocols.settings import GALLERY_CAMS, MAX_TRIALS, SHOTS
from reidbench.registry import MethodSpec, all_methods, get_method
from reidbench.scoring import RETRIEVAL_TRIAL, TOP_K, encode_ranks, evaluate_plan, summarise, top_matches
from reidbench.tuned import check_shipped, shipped_tuning
from reidbench import store
from reidbench.store import SCHEMA, default_results_dir, result_id, result_path, sidecar

GROUPS = ("table1", "handcrafted", "deep", "all")


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
    if protocol.layout != "sysu":
        raise ReidbenchError(f"--modes and --shots are SYSU-MM01's; protocol '{protocol.name}' has the settings "
                             f"{', '.join(s.key for s in protocol.settings)} (--settings)")
    modes = tuple(GALLERY_CAMS) if modes is None else modes
    shots = tuple(SHOTS) if shots is None else shots
    if not modes or not shots:
        raise ReidbenchError("--modes and --shots each need at least one value")
    for mode in modes:
        if mode not in GALLERY_CAMS:
            raise ReidbenchError(f"unknown mode '{mode}' (known: {', '.join(GALLERY_CAMS)})")
    for shot in shots:
        if shot not in SHOTS:
            raise ReidbenchError(f"unknown shots '{shot}' (known: {', '.join(SHOTS)})")
    return [protocol.setting(f"{m}-{s}") for m in dict.fromkeys(modes) for s in dict.fromkeys(shots)]


def expand_methods(names: list[str]) -> list[str]:
    """Method names with groups expanded: ``table1`` (the paper's rows, in its order),
    a family (``handcrafted``, ``deep``), ``all`` or a glob pattern (``lomo_*``, in registry
    order); duplicates dropped."""
    from fnmatch import fnmatchcase

    from reidbench.paper import paper_table

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
    if not 1 <= opts.trials <= MAX_TRIALS:
        raise ReidbenchError(f"--trials must be between 1 and {MAX_TRIALS}, got {opts.trials}")
    early = opts.protocol or (LAYOUTS.get(named_layout(opts.dataset or DEFAULT_DATASET)).default_protocol
                              if opts.data is None else None)
    if early is not None:  # checked before the dataset is read (or generated)
        settings_for(get_protocol(early), opts.settings, opts.modes, opts.shots)
    data = load_dataset(opts.data, opts.dataset, opts.progress)
    protocol = protocol_for(data, opts.protocol)
    settings = settings_for(protocol, opts.settings, opts.modes, opts.shots)
    protocol.check_trials(opts.trials)
    check_shipped(shipped, data)
    check_writable(opts.results or default_results_dir(data.name))
    cache = Path(opts.cache or cache_home() / "cache")
    if check_images(data, cache, progress=opts.progress):
        say(f"checked every image of {data.name} ({data.num_images} files): all decode")
    results_dir = ensure_writable(opts.results or default_results_dir(data.name))  # made once the input is good
    jobs = [(m, seed) for m in methods for seed in seeds]
    if opts.launcher.kind != "local" or (opts.launcher.jobs > 1 and len(jobs) > 1):
        return _submit(opts, jobs, results_dir)
    device = run_device(opts.device, [m.spec for m in methods])
    say(kernels.describe())
    galleries = {s.key: protocol.galleries(data, s, opts.trials) for s in settings}
    if data.splits_per_trial:
        say(f"{data.name}: each of the {opts.trials} trials is its own train/test split: "
            "learned methods are trained once per trial")
    written = []
    for i, (m, seed) in enumerate(jobs, 1):
        say(f"[{i}/{len(jobs)}] {m.spec.name}" + (f", seed {seed}" if len(seeds) > 1 or seed else ""))
        payload, artifacts = run_method(m, seed, data, protocol, settings, galleries, opts, device, cache)
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
    written, failures = [], []
    for i, paths, error in launch(run, items, opts.launcher):
        label = f"{items[i].methods[0]}, seed {items[i].seeds[0]}"
        if error is None:
            say(f"job {label}: done")
            written += paths
        else:
            failures.append(f"{label}: {error}")
    if failures:
        raise ReidbenchError(f"{len(failures)} job(s) failed (finished results are kept; rerun to retry): "
                             + "; ".join(failures))
    return written


def protocol_for(data: Dataset, name: str | None) -> Protocol:
    """The named protocol (which must fit the dataset's layout), or the layout's default."""
    protocol = get_protocol(name or LAYOUTS.get(data.kind).default_protocol)
    protocol.check_dataset(data)
    return protocol


def run_method(m: MethodRun, seed: int, data: Dataset, protocol: Protocol, settings: list[Setting],
               galleries: dict[str, Galleries], opts: RunOptions, device: str,
               cache: Path) -> tuple[dict[str, Any] | None, dict[str, Path]]:
    """Fit, embed and evaluate one method with one seed; (None, {}) on non-zero ranks of a distributed run.

    On a dataset whose trials are separate splits the method is trained once per trial.
    """
    spec = m.spec
    resolved = spec.factory(m.config).resolved_config(device)
    key = model_key(spec, resolved, seed)
    groups = [[t] for t in range(opts.trials)] if data.splits_per_trial else [list(range(opts.trials))]
    seed_everything(seed, torch=spec.needs_torch)
    timings: dict[str, float] = {"fit_s": 0.0, "embed_s": 0.0, "eval_s": 0.0}
    start = time.perf_counter()
    metrics: dict[str, list] = {s.key: [] for s in settings}
    digests, ranks, provenance_of, artifacts, local, resumed = [], {}, {}, {}, {}, []
    for group in groups:
        trial = group[0]
        tag = f"{spec.name}-{key}-{data.fingerprint}" + (f"-trial{trial}" if data.splits_per_trial else "")
        ctx = RunContext(seed=seed, device=device, cache_dir=cache, work_dir=cache / "work" / tag,
                         dataset_fingerprint=data.fingerprint, progress=opts.progress, resume=opts.resume)
        method = spec.factory(m.config)
        images = protocol.evaluation_set(data, trial)
        feats, extra = _embeddings(method, data, trial, images, ctx, cache / "embeddings" / f"{tag}.npz",
                                   timings, spec.name)
        if feats is None:
            return None, {}
        t0 = time.perf_counter()
        plan = {s.key: ([protocol.probes(data, s, t) for t in group], [galleries[s.key].indices[t] for t in group])
                for s in settings}
        for k, ms in evaluate_plan(feats, images, plan, method.distance, protocol.match_rule(data)).items():
            metrics[k] += ms
        digests.append(hashlib.sha256(np.ascontiguousarray(feats).tobytes()).hexdigest()[:16])
        if extra.get("resumed_from_step") is not None:  # every trial's model, not only the one provenance keeps
            resumed.append({"trial": trial + 1, "from_step": extra["resumed_from_step"]})
        if RETRIEVAL_TRIAL in group:
            ranks = {s.key: encode_ranks(top_matches(feats, images, protocol.probes(data, s, RETRIEVAL_TRIAL),
                                                     galleries[s.key].indices[RETRIEVAL_TRIAL], method.distance,
                                                     protocol.match_rule(data))) for s in settings}
            provenance_of, artifacts = extra, method.artifacts(ctx)
            local = {"embeddings": str(cache / "embeddings" / f"{tag}.npz"), "work_dir": str(ctx.work_dir)}
        timings["eval_s"] += time.perf_counter() - t0
    summaries = {k: summarise(ms, galleries[k]) for k, ms in metrics.items()}
    for summary in summaries.values():
        summary["embeddings_digest"] = ",".join(digests)  # which embeddings scored it, when a file merges runs
    timings["total_s"] = time.perf_counter() - start
    payload = {
        "schema": SCHEMA,
        "id": result_id(spec.name, resolved, seed, protocol.name, opts.trials, data.fingerprint),
        "method": {"name": spec.name, "label": spec.label, "family": spec.family,
                   "reference": spec.reference, "source": spec.source, "config": m.config,
                   "resolved": resolved, "origin": m.origin, "changed": m.origin["manual"],
                   "tags": spec.factory(m.config).tags(resolved)
                   + (["val-tuned"] if tuned_in_effect(m.origin) else [])},
        "protocol": {"name": protocol.name, "label": protocol.label, "distance": method.distance,
                     "trials": opts.trials, "cmc": protocol.cmc, "exclude": data.cameras.exclude,
                     "models": "one per trial" if data.splits_per_trial else "one for all trials"},
        "dataset": dataset_record(data),
        "settings": summaries,
        "seed": seed,
        "device": device_info(device),
        "kernels": kernels.record(),
        "versions": provenance.versions(),
        "git": provenance.git_state(),
        "timings": timings,
        "created": provenance.now(),
        "method_provenance": {**provenance_of, "resumed": resumed} if resumed else provenance_of,
        "retrieval": {"trial": RETRIEVAL_TRIAL, "top_k": TOP_K, "ranks": ranks},
        "artifacts": {"local": local},
    }
    return payload, artifacts


def _embeddings(method: Any, data: Dataset, trial: int, images: Any, ctx: RunContext, path: Path,
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


def _write(results_dir: Path, payload: dict[str, Any], artifacts: dict[str, Path]) -> Path:
    """Copy the method's artifacts beside the result (what its figures need), then write the result."""
    path = result_path(results_dir, payload)
    stored = {}
    for name, source in artifacts.items():
        if Path(source).is_file():
            target = sidecar(path, name)
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


def model_key(spec: MethodSpec, resolved: dict[str, Any], seed: int) -> str:
    """What makes two fits the same model: the method, its resolved config, the seed, the digest
    of its source and the CPU kernels. Cached embeddings and work folders (runs and tuning points) are
    named by it, so the outputs of older code, or of other kernels, are never reused."""
    blob = json.dumps({"method": spec.name, "config": resolved, "seed": seed, "code": spec.code_digest,
                       "kernels": kernels.signature()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
