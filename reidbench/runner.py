"""The shared protocol runner: every method, same dataset, same galleries.

For each method: fit on the training identities (validation identities for
selection), embed the probes and the gallery pool once (cached on disk by method
config and dataset fingerprint), evaluate every setting and trial, and write one
result file atomically with full provenance.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reidbench import provenance
from reidbench.atomic import atomic_open
from reidbench.data.default import DEFAULT_DATASET, cache_home, named_dataset
from reidbench.data.imageset import ImageSet, concat
from reidbench.data.sysu import SysuDataset, load_sysu
from reidbench.errors import ReidbenchError
from reidbench.evaluation import Metrics, evaluate_galleries
from reidbench.methods.base import RunContext, seed_everything
from reidbench.protocols import Galleries, Protocol, Setting, get_protocol
from reidbench.protocols.settings import GALLERY_CAMS, SHOTS
from reidbench.registry import MethodSpec, get_method
from reidbench.store import SCHEMA, ensure_writable, result_path, write_json_atomic

RANKS = (1, 5, 10, 20)


@dataclass
class RunOptions:
    methods: list[str]
    data: Path | None = None
    dataset: str | None = None
    protocol: str = "sysu"
    modes: tuple[str, ...] = ("all", "indoor")
    shots: tuple[str, ...] = ("single", "multi")
    trials: int = 10
    seed: int = 0
    device: str = "auto"
    results: Path | None = None
    cache: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    resume: bool = False


def load_dataset(data: Path | None, dataset: str | None, progress: bool = True) -> SysuDataset:
    if data is not None and dataset is not None:
        raise ReidbenchError("give either --data ROOT or --dataset NAME, not both")
    if data is not None:
        return load_sysu(data)
    return named_dataset(dataset or DEFAULT_DATASET, progress=progress)


def settings_for(modes: tuple[str, ...], shots: tuple[str, ...]) -> list[Setting]:
    for mode in modes:
        if mode not in GALLERY_CAMS:
            raise ReidbenchError(f"unknown mode '{mode}' (known: {', '.join(GALLERY_CAMS)})")
    for shot in shots:
        if shot not in SHOTS:
            raise ReidbenchError(f"unknown shots '{shot}' (known: {', '.join(SHOTS)})")
    return [Setting(m, s) for m in modes for s in shots]


def default_results_dir(data: SysuDataset) -> Path:
    return Path("results") / data.name


GROUPS = ("table1", "handcrafted", "deep", "all")


def expand_methods(names: list[str]) -> list[str]:
    """Method names with groups expanded: ``table1`` (the paper's rows, in its order),
    a family (``handcrafted``, ``deep``) or ``all``; duplicates dropped."""
    from reidbench.registry import all_methods
    from reidbench.report import paper_table

    out: list[str] = []
    for name in names:
        if name == "table1":
            out += list(paper_table().index)
        elif name == "all":
            out += list(all_methods())
        elif name in ("handcrafted", "deep"):
            out += [n for n, spec in all_methods().items() if spec.family == name]
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def run(opts: RunOptions) -> list[Path]:
    """Run every method of ``opts`` and return the result files written."""
    specs = [get_method(name) for name in expand_methods(opts.methods)]  # unknown names fail before any work
    protocol = get_protocol(opts.protocol)
    settings = settings_for(opts.modes, opts.shots)
    device = provenance.resolve_device(opts.device)
    data = load_dataset(opts.data, opts.dataset, opts.progress)
    results_dir = ensure_writable(opts.results or default_results_dir(data))
    galleries = {s.key: protocol.galleries(data, s, opts.trials) for s in settings}
    written = []
    for spec in specs:
        payload = run_method(spec, data, protocol, settings, galleries, opts, device)
        if payload is not None:
            written.append(write_json_atomic(result_path(results_dir, spec.name, protocol.name), payload))
    return written


def run_method(spec: MethodSpec, data: SysuDataset, protocol: Protocol, settings: list[Setting],
               galleries: dict, opts: RunOptions, device: str) -> dict[str, Any] | None:
    """Fit, embed and evaluate one method; None on non-zero ranks of a distributed run."""
    overrides = opts.overrides.get(spec.name, {})
    method = spec.create(overrides)
    config_key = _digest({"method": spec.name, "config": method.config, "seed": opts.seed})
    cache = Path(opts.cache or cache_home() / "cache")
    ctx = RunContext(seed=opts.seed, device=device, cache_dir=cache,
                     work_dir=cache / "work" / f"{spec.name}-{config_key}-{data.fingerprint}",
                     dataset_fingerprint=data.fingerprint, progress=opts.progress, resume=opts.resume)
    seed_everything(opts.seed)
    probes, pool = protocol.probes(data), protocol.pool(data)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    emb_path = cache / "embeddings" / f"{spec.name}-{config_key}-{data.fingerprint}.npz"
    # The embeddings file holds probes then pool rows, in protocol order.
    if emb_path.exists():
        stored = np.load(emb_path)
        feats, extra = stored["features"], json.loads(str(stored["provenance"]))
        timings["cached_embeddings"] = 1.0
    else:
        print(f"reidbench: {spec.name}: fitting on {len(data.ids('train'))} training identities")
        method.fit(data.train, data.val, ctx)
        timings["fit_s"] = time.perf_counter() - start
        t0 = time.perf_counter()
        feats = np.asarray(method.embed(concat(probes, pool), ctx))
        timings["embed_s"] = time.perf_counter() - t0
        extra = method.provenance()
        _check_features(feats, len(probes) + len(pool), spec.name)
        if not _is_rank_zero():
            return None
        emb_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(emb_path) as fh:
            np.savez(fh, features=feats, provenance=json.dumps(extra, default=str))
    if not _is_rank_zero():
        return None
    t0 = time.perf_counter()
    q, g = feats[: len(probes)], feats[len(probes):]
    summaries = evaluate_settings(q, g, probes, pool, {s.key: galleries[s.key] for s in settings},
                                  method.distance)
    timings["eval_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - start
    return {
        "schema": SCHEMA,
        "method": {"name": spec.name, "label": spec.label, "family": spec.family,
                   "reference": spec.reference, "source": spec.source, "config": method.config},
        "protocol": {"name": protocol.name, "label": protocol.label, "distance": method.distance,
                     "trials": opts.trials},
        "dataset": {"name": data.name, "root": str(data.root), "fingerprint": data.fingerprint,
                    "num_images": data.num_images,
                    "ids": {k: len(v) for k, v in data.splits.items()}},
        "settings": summaries,
        "seed": opts.seed,
        "device": provenance.device_info(device),
        "versions": provenance.versions(),
        "git": provenance.git_state(),
        "timings": timings,
        "created": provenance.now(),
        "method_provenance": extra,
        "artifacts": {"embeddings": str(emb_path), "work_dir": str(ctx.work_dir)},
    }


def evaluate_settings(q: np.ndarray, g: np.ndarray, probes: ImageSet, pool: ImageSet,
                      galleries: dict[str, Galleries], metric: str) -> dict[str, dict[str, Any]]:
    """Every trial of every setting in one call (pool distances computed once), summarised per setting."""
    flat = [idx for gal in galleries.values() for idx in gal.indices]
    metrics = iter(evaluate_galleries(q, g, probes.pids, probes.cams, pool.pids, pool.cams, flat, metric=metric))
    return {key: summarise([next(metrics) for _ in gal.indices], gal) for key, gal in galleries.items()}


def summarise(trials: list[Metrics], galleries: Galleries) -> dict[str, Any]:
    """Per-trial metrics and their mean and standard deviation, in percent."""
    rows = [metrics_row(m) for m in trials]
    keys = list(rows[0])
    table = np.array([[r[k] for k in keys] for r in rows], dtype=np.float64)
    return {
        "mean": dict(zip(keys, table.mean(0).tolist())),
        "std": dict(zip(keys, table.std(0, ddof=1).tolist() if len(rows) > 1 else [0.0] * len(keys))),
        "trials": rows,
        "num_valid_probes": trials[0].num_valid,
        "gallery_size": [int(len(g)) for g in galleries.indices],
        "gallery_source": galleries.source,
        "gallery_note": galleries.note,
        "cmc_mean": (np.mean([m.cmc for m in trials], axis=0) * 100).tolist(),
        "cmc_trials": [(m.cmc * 100).tolist() for m in trials],  # for spread bands in figures
    }


def metrics_row(m: Metrics) -> dict[str, float]:
    row = {f"r{k}": 100 * m.rank(k) for k in RANKS}
    row.update(mAP=100 * m.mAP, mINP=100 * m.mINP)
    return row


def _check_features(feats: np.ndarray, expected: int, name: str) -> None:
    if feats.ndim != 2 or feats.shape[0] != expected:
        raise ReidbenchError(f"method '{name}' returned features of shape {feats.shape}, expected ({expected}, D)")
    if not np.isfinite(feats).all():
        raise ReidbenchError(f"method '{name}' produced NaN or infinite features")


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]
