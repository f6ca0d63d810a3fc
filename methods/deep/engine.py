"""The training engine every deep method shares.

It owns what is easy to get subtly wrong: seeding, the identity x modality
sampler, on-device augmentation, mixed precision and channels-last on GPU, DDP
under torchrun, per-step loss logging, model selection on validation identities,
checkpoints and a resume that restores networks, optimisers, schedulers, grad
scalers, sampler, augmenter and every RNG, so an interrupted run ends exactly
like an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from reidbench.atomic import atomic_open
from reidbench.data.imageset import ImageSet
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext, seed_everything
from reidbench.methods.deep import distributed
from reidbench.methods.deep.data import Augmenter, InputProfile, decode_images, to_unit_float
from reidbench.methods.deep.losslog import LOSS_LOG, LossLog
from reidbench.methods.deep.rng import capture_rng_state, determinism, restore_rng_state
from reidbench.methods.deep.sampler import IdentityModalitySampler
from reidbench.methods.deep.task import Amp, Batch, Task
from reidbench.methods.deep.config import SELECT_METRICS
from reidbench.methods.deep.validation import ValProtocol, selection_score

CHECKPOINT_FORMAT = 1
LAST, BEST = "last.pt", "best.pt"
# Config keys that cannot change what is trained, so a resume may change them.
RESUME_NEUTRAL_KEYS = ("ckpt_every", "eval_batch")

TaskFactory = Callable[[int], Task]  # number of training identities -> task


@dataclass
class EngineSettings:
    """Everything the engine needs besides the task; ``config`` is the resolved method config."""

    method: str
    config: dict[str, Any]
    steps: int
    eval_every: int
    ckpt_every: int
    ids_per_batch: int
    per_modality: int
    profile: InputProfile
    amp: str = "auto"
    channels_last: bool = True
    select: str = "mAP"
    val_seed: int = 0
    eval_batch: int = 256
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.eval_every < 1 or self.ckpt_every < 1:
            raise ReidbenchError("steps, eval_every and ckpt_every must be positive")
        if self.select not in SELECT_METRICS:
            raise ReidbenchError(f"unknown select '{self.select}' (known: {', '.join(SELECT_METRICS)})")


def config_hash(config: dict[str, Any]) -> str:
    """A hash of the config keys that shape training (resume refuses a different one)."""
    kept = {k: v for k, v in config.items() if k not in RESUME_NEUTRAL_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Selection:
    """Model selection on validation IDs: the best score so far and its weights."""

    best_score: float = -math.inf
    best_step: int | None = None
    best_metrics: dict[str, float] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    best_networks: dict[str, dict[str, torch.Tensor]] | None = None

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _StopRequest:
    """Ctrl-C sets a flag; the loop saves a checkpoint at the next step boundary and stops.

    A second Ctrl-C interrupts at once. Only the main thread can install the handler.
    """

    def __init__(self) -> None:
        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class Engine:
    """Trains a :class:`Task` and embeds images with its selected weights."""

    def __init__(self, settings: EngineSettings, task_factory: TaskFactory):
        self.settings = settings
        self.task_factory = task_factory
        self.task: Task | None = None
        self.device = torch.device("cpu")
        self.report: dict[str, Any] = {}

    # ------------------------------------------------------------------ fit
    def fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> dict[str, Any]:
        """Train, select on ``val`` and keep the selected weights; returns the report."""
        info = distributed.setup(ctx.device)
        self.device = info.device
        with determinism(self.settings.deterministic):
            self.report = self._fit(train, val, ctx, info)
        distributed.finish(info)
        return self.report

    def _fit(self, train: ImageSet, val: ImageSet | None, ctx: RunContext,
             info: distributed.DistInfo) -> dict[str, Any]:
        s = self.settings
        main = info.is_main
        work = Path(ctx.work_dir)
        seed_everything(ctx.seed)
        sampler = IdentityModalitySampler(train.pids, train.modalities, s.ids_per_batch, s.per_modality,
                                          seed=ctx.seed, rank=info.rank, world_size=info.world_size)
        augmenter = Augmenter(s.profile, seed=ctx.seed + 1)
        classes = np.unique(train.pids)
        labels = torch.from_numpy(np.searchsorted(classes, train.pids)).to(self.device)
        modalities = torch.from_numpy(train.modalities).to(self.device)
        images = decode_images(train, s.profile, ctx, progress=main and ctx.progress).to(self.device)

        task = self.task_factory(len(classes))
        self.task = task
        for net in task.networks.values():
            net.to(self.device, memory_format=self._memory_format())
        amp = Amp(s.amp, self.device, list(task.optimizers))
        nets = self._wrap(task, info)
        validator = ValProtocol.build(val, s.val_seed)
        selection = Selection()
        data_key = self._data_key(train, val, ctx)
        if main:
            work.mkdir(parents=True, exist_ok=True)

        start, train_time = 0, 0.0
        ckpt = self._load_checkpoint(work, info) if ctx.resume else None
        if ckpt is not None:
            self._check_checkpoint(ckpt, data_key, work / LAST)
            for name, net in task.networks.items():
                net.load_state_dict(ckpt["networks"][name])
            for name, opt in task.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
            for name, sched in task.schedulers.items():
                sched.load_state_dict(ckpt["schedulers"][name])
            amp.load_state_dict(ckpt["amp"])
            sampler.load_state_dict(ckpt["sampler"])
            augmenter.load_state_dict(ckpt["augmenter"])
            task.load_extra_state(ckpt["task"])
            selection.load_state_dict(ckpt["selection"])
            start, train_time = int(ckpt["step"]), float(ckpt["train_time_s"])
            restore_rng_state(_rng_from_storable(ckpt["rng"]))
        last_saved = start if ckpt is not None else None
        log = LossLog(work / LOSS_LOG, task.columns, main, resume_step=start if ckpt is not None else None)

        def save() -> None:
            if main:
                self._save(work / LAST, {
                    "format": CHECKPOINT_FORMAT, "method": s.method, "config": s.config,
                    "config_hash": config_hash(s.config), "data": data_key, "step": step_done,
                    "epoch": sampler.epoch, "train_time_s": train_time, "world_size": info.world_size,
                    "networks": {n: m.state_dict() for n, m in task.networks.items()},
                    "optimizers": {n: o.state_dict() for n, o in task.optimizers.items()},
                    "schedulers": {n: o.state_dict() for n, o in task.schedulers.items()},
                    "amp": amp.state_dict(), "sampler": sampler.state_dict(),
                    "augmenter": augmenter.state_dict(), "task": task.extra_state(),
                    "selection": selection.state_dict(), "rng": _rng_to_storable(capture_rng_state())})
                log.flush()

        stop = _StopRequest()
        bar = tqdm(total=s.steps, initial=start, disable=not (main and ctx.progress), desc=s.method,
                   unit="step", dynamic_ncols=True)
        step_done = start
        task.train(True)
        try:
            for step in range(start, s.steps):
                t0 = time.perf_counter()
                global_batch = sampler.next_global()
                params = augmenter.draw(len(global_batch))
                idx = torch.from_numpy(sampler.shard(global_batch)).to(self.device)
                x = augmenter.apply(images[idx], sampler.shard(params))
                batch = Batch(x.contiguous(memory_format=self._memory_format()), labels[idx], modalities[idx])
                phase, values = task.train_step(step, batch, nets, amp)
                row, stop_now = self._reduce(values, task.columns, stop.requested, info)
                train_time += time.perf_counter() - t0
                bad = {k: v for k, v in row.items() if not math.isfinite(v)}
                if bad:
                    where = f"{work / LAST} (step {last_saved})" if last_saved is not None else "none saved yet"
                    raise ReidbenchError(
                        f"{s.method}: non-finite loss at step {step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                        f"training stopped, last good checkpoint: {where}")
                task.check(step, row)
                log.write(step, sampler.epoch, phase, row)
                step_done = step + 1
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k.startswith(("l_", "d_"))},
                                    refresh=False)
                if validator is not None and (step_done % s.eval_every == 0 or step_done == s.steps):
                    self._validate(task, validator, selection, step_done, ctx, info, work)
                    task.train(True)
                if step_done % s.ckpt_every == 0 or step_done % s.eval_every == 0 \
                        or step_done == s.steps or stop_now:
                    save()
                    last_saved = step_done
                if stop_now:
                    raise KeyboardInterrupt(f"{s.method} interrupted at step {step_done}; "
                                            f"resume from {work / LAST}")
        finally:
            stop.restore()
            bar.close()
            log.close()

        task.train(False)
        for net in task.networks.values():
            distributed.broadcast_buffers(net, info)
        if selection.best_networks is not None:
            for name, net in task.networks.items():
                net.load_state_dict(selection.best_networks[name])
        batches_per_epoch = sampler.batches_per_epoch
        return {
            "steps": s.steps, "resumed_from_step": start if ckpt is not None else None,
            "global_batch": sampler.global_batch_size, "per_rank_batch": sampler.global_batch_size // info.world_size,
            "ids_per_batch": sampler.ids_per_batch, "ids_per_batch_requested": s.ids_per_batch,
            "imgs_per_modality": s.per_modality,
            "batches_per_epoch": batches_per_epoch, "epochs": round(s.steps / batches_per_epoch, 2),
            "world_size": info.world_size, "device": str(self.device), "amp": amp.mode,
            "channels_last": self._memory_format() == torch.channels_last, "deterministic": s.deterministic,
            "torch_threads": torch.get_num_threads(),
            "train_time_s": round(train_time, 2),  # training steps only, over all resumed parts
            "images_per_s": round(sampler.global_batch_size * s.steps / train_time, 1) if train_time > 0 else None,
            "input_profile": dict(s.profile.__dict__),
            "selection": {
                "rule": f"best val {s.select} every {s.eval_every} steps" if validator else
                "last checkpoint (no validation identities)",
                "val": validator.describe() if validator else None,
                "selected_step": selection.best_step if selection.best_networks is not None else s.steps,
                "val_metrics": selection.best_metrics, "history": selection.history},
            "checkpoint": str(work / (BEST if selection.best_networks is not None else LAST)),
            "losses_csv": str(work / LOSS_LOG),
        }

    def _validate(self, task: Task, validator: ValProtocol, selection: Selection, step: int,
                  ctx: RunContext, info: distributed.DistInfo, work: Path) -> None:
        for net in task.networks.values():
            distributed.broadcast_buffers(net, info)
        task.train(False)
        metrics = validator.evaluate(lambda imgs: self._embed(imgs, ctx, info))
        score = selection_score(metrics, self.settings.select)
        score = score if math.isfinite(score) else -math.inf
        improved = score > selection.best_score or selection.best_networks is None
        selection.history.append({"step": step, **{k: round(v, 6) if isinstance(v, float) else v
                                                   for k, v in metrics.items()}, "selected": improved})
        if improved:
            selection.best_score, selection.best_step, selection.best_metrics = score, step, metrics
            selection.best_networks = {n: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
                                       for n, m in task.networks.items()}
            if info.is_main:
                self._save(work / BEST, {"method": self.settings.method, "config": self.settings.config,
                                         "step": step, "val_metrics": metrics,
                                         "networks": selection.best_networks})

    # ---------------------------------------------------------------- embed
    def embed(self, images: ImageSet, ctx: RunContext) -> np.ndarray:
        """Features of ``images`` with the selected weights, computed on this process alone."""
        if self.task is None:
            raise ReidbenchError(f"{self.settings.method}: embed() called before fit()")
        self.task.train(False)
        return self._embed(images, ctx, distributed.DistInfo(device=self.device))

    def _embed(self, images: ImageSet, ctx: RunContext, info: distributed.DistInfo) -> np.ndarray:
        """Embed in float32; under DDP each rank embeds a share and all get every row."""
        assert self.task is not None
        decoded = decode_images(images, self.settings.profile, ctx)
        mods = torch.from_numpy(images.modalities)
        rows = distributed.shard_range(len(images), info)
        if len(rows) == 0:  # still run one image, so the gathered feature width is known
            rows = range(0, min(1, len(images)))
            keep = 0
        else:
            keep = len(rows)
        parts = []
        with torch.no_grad():
            for a in range(rows.start, rows.stop, self.settings.eval_batch):
                b = min(a + self.settings.eval_batch, rows.stop)
                x = to_unit_float(decoded[a:b].to(self.device, non_blocking=True))
                x = x.contiguous(memory_format=self._memory_format())
                parts.append(self.task.embed(x, mods[a:b].to(self.device)).float())
        local = torch.cat(parts)[:keep] if parts else torch.zeros((0, 0), device=self.device)
        return distributed.gather_rows(local, info).cpu().numpy()

    # -------------------------------------------------------------- helpers
    def _memory_format(self) -> torch.memory_format:
        """Channels-last on GPU (tensor cores like NHWC); CPU keeps the default layout."""
        use = self.settings.channels_last and self.device.type == "cuda"
        return torch.channels_last if use else torch.contiguous_format

    def _wrap(self, task: Task, info: distributed.DistInfo) -> dict[str, nn.Module]:
        """DDP-wrapped networks for training forwards (plain ones in a single process)."""
        if not info.active:
            return dict(task.networks)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return {n: DistributedDataParallel(m, device_ids=ids) for n, m in task.networks.items()}

    @staticmethod
    def _reduce(values: dict[str, torch.Tensor | float], columns: tuple[str, ...], stop: bool,
                info: distributed.DistInfo) -> tuple[dict[str, float], bool]:
        """Average the step's values over ranks and agree on a stop request (one collective)."""
        keys = [c for c in columns if c in values and torch.is_tensor(values[c])]
        device = next((values[k].device for k in keys), info.device)
        vec = torch.stack([values[k].detach().float().reshape(()) for k in keys]
                          + [torch.tensor(float(stop), device=device)])
        if info.active:
            distributed.all_reduce_sum(vec, info)
            vec[:-1] /= info.world_size
        out = dict(zip(keys, vec[:-1].tolist()))
        out.update({c: float(values[c]) for c in columns if c in values and not torch.is_tensor(values[c])})
        return {c: out[c] for c in columns if c in out}, bool(vec[-1].item() > 0)

    def _data_key(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> str:
        blob = json.dumps([ctx.dataset_fingerprint, train.key(), val.key() if val is not None else None,
                           int(ctx.seed)])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @staticmethod
    def _save(path: Path, obj: dict[str, Any]) -> None:
        with atomic_open(path) as fh:  # a crash mid-write never corrupts the last good checkpoint
            torch.save(obj, fh)

    @staticmethod
    def _load_checkpoint(work: Path, info: distributed.DistInfo) -> dict[str, Any] | None:
        ckpt = None
        if info.is_main and (work / LAST).exists():
            try:
                ckpt = torch.load(work / LAST, map_location="cpu", weights_only=True)
            except Exception as exc:  # unreadable checkpoint: the user decides what to do
                raise ReidbenchError(f"cannot read checkpoint {work / LAST}: {exc}") from None
        return distributed.broadcast_object(ckpt, info)

    def _check_checkpoint(self, ckpt: dict[str, Any], data_key: str, path: Path) -> None:
        s = self.settings
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ReidbenchError(f"checkpoint {path} has format {ckpt.get('format')}, expected {CHECKPOINT_FORMAT}")
        if ckpt["method"] != s.method:
            raise ReidbenchError(f"checkpoint {path} belongs to method '{ckpt['method']}', not '{s.method}'; "
                                 "resume in that method's work folder or start afresh without resume")
        if ckpt["config_hash"] != config_hash(s.config):
            old = ckpt.get("config", {})
            diff = sorted(k for k in set(old) | set(s.config)
                          if k not in RESUME_NEUTRAL_KEYS and old.get(k) != s.config.get(k))
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {s.config.get(k)!r}" for k in diff[:5])
            raise ReidbenchError(f"checkpoint {path} was trained with another {s.method} config ({shown}); "
                                 "resume with the same config or start afresh without resume")
        if ckpt["data"] != data_key:
            raise ReidbenchError(f"checkpoint {path} was trained on other data or with another seed; "
                                 "resume with the same dataset and seed or start afresh without resume")


def _rng_to_storable(state: dict[str, Any]) -> dict[str, Any]:
    """numpy's MT19937 key as a list, so checkpoints load with ``weights_only=True``."""
    name, keys, pos, has_gauss, gauss = state["numpy"]
    return {**state, "numpy": (name, keys.tolist(), pos, has_gauss, gauss)}


def _rng_from_storable(state: dict[str, Any]) -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = state["numpy"]
    return {**state, "numpy": (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss)}
