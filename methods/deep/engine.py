"""The training engine every deep method shares.

It owns what is easy to get subtly wrong: seeding, the identity x modality
sampler, on-device augmentation, mixed precision and channels-last on GPU, DDP
under torchrun, per-step loss logging without per-step host syncs, model selection
on validation identities, checkpoints and a resume that restores the whole
:class:`TrainState`, so an interrupted run ends exactly like an uninterrupted one.

A fit reads: prepare (networks first, so missing weights fail before any image is
decoded; then data, sampler, augmenter, state) -> restore (from ``last.pt`` when
resuming) -> loop (sync-free steps; every ``log_every`` steps the logged values reach
the host) -> validate and checkpoint at their boundaries -> report.
"""
from __future__ import annotations

import hashlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
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
from reidbench.methods.deep.config import SELECT_METRICS
from reidbench.methods.deep.data import Augmenter, InputProfile, decode_images, to_device, to_unit_float
from reidbench.methods.deep.losslog import LOSS_LOG, LossLog
from reidbench.methods.deep.meter import LogRow, StepMeter
from reidbench.methods.deep.rng import determinism
from reidbench.methods.deep.sampler import IdentityModalitySampler
from reidbench.methods.deep.state import TrainState
from reidbench.methods.deep.task import Amp, Batch, Task
from reidbench.methods.deep.validation import ValProtocol, selection_score

CHECKPOINT_FORMAT = 2
LAST, BEST = "last.pt", "best.pt"
# Config keys that cannot change what is trained, so a resume may change them.
RESUME_NEUTRAL_KEYS = ("ckpt_every", "eval_batch", "log_every")

TaskFactory = Callable[[int, torch.device], Task]  # (number of training identities, device) -> task
# torch.compile's options per device type (``compile=true``). CUDA: inductor with CUDA graphs, which
# replay a whole forward or backward in one launch (cmGAN's batch-20 generator step is ~930 ATen ops,
# bound by their launches, not by the GPU). Other devices: inductor's default mode.
COMPILE_OPTIONS: dict[str, dict[str, Any]] = {"cuda": {"mode": "reduce-overhead"}}


def compile_networks(nets: dict[str, nn.Module], device: torch.device) -> dict[str, nn.Module]:
    """Each network's forward (and its backward) through torch.compile with ``device``'s options.

    Shapes are static (the batch never changes), so nothing is compiled for dynamic shapes.
    A caller using CUDA graphs marks each new step with ``torch.compiler.cudagraph_mark_step_begin``.
    """
    options = COMPILE_OPTIONS.get(device.type, {})
    return {n: torch.compile(m, dynamic=False, **options) for n, m in nets.items()}


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
    log_every: int = 50
    erase: float = 0.0
    compile: bool = False

    def __post_init__(self) -> None:
        if min(self.steps, self.eval_every, self.ckpt_every, self.log_every) < 1:
            raise ReidbenchError("steps, eval_every, ckpt_every and log_every must be positive")
        if self.select not in SELECT_METRICS:
            raise ReidbenchError(f"unknown select '{self.select}' (known: {', '.join(SELECT_METRICS)})")


def config_hash(config: dict[str, Any]) -> str:
    """A hash of the config keys that shape training (resume refuses a different one)."""
    kept = {k: v for k, v in config.items() if k not in RESUME_NEUTRAL_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


@dataclass
class _Run:
    """What one fit prepared: the state a checkpoint holds and what the loop reads."""

    state: TrainState
    nets: dict[str, nn.Module]  # DDP-wrapped under torchrun
    images: torch.Tensor  # every training image, uint8, on the device
    labels: torch.Tensor  # class index per training image, on the device
    modalities: torch.Tensor  # on the device
    host_modalities: np.ndarray  # the same on the host: batches are ordered without asking the device
    validator: ValProtocol | None
    work: Path
    data_key: str
    resumed_from: int | None = None
    last_saved: int | None = None


class Engine:
    """Trains a :class:`Task` and embeds images with its selected weights."""

    def __init__(self, settings: EngineSettings, task_factory: TaskFactory):
        self.settings = settings
        self.task_factory = task_factory
        self.task: Task | None = None
        self.amp: Amp | None = None
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
        run = self._prepare(train, val, ctx, info)
        self._restore(run, ctx, info)
        self._loop(run, ctx, info)
        self._keep_selected(run, info)
        return self._report(run, info)

    def _prepare(self, train: ImageSet, val: ImageSet | None, ctx: RunContext,
                 info: distributed.DistInfo) -> _Run:
        """Networks (weights loaded) first, then the training images on the device, then the state."""
        s = self.settings
        seed_everything(ctx.seed)
        classes = np.unique(train.pids)
        task = self.task_factory(len(classes), self.device)
        self.task = task
        for net in task.networks.values():
            net.to(self.device, memory_format=self._memory_format())
        self.amp = Amp(s.amp, self.device, list(task.optimizers))
        sampler = IdentityModalitySampler(train.pids, train.modalities, s.ids_per_batch, s.per_modality,
                                          seed=ctx.seed, rank=info.rank, world_size=info.world_size)
        state = TrainState(task, self.amp, sampler, Augmenter(s.profile, s.erase, seed=ctx.seed + 1), self.device)
        images = decode_images(train, s.profile, ctx, progress=info.is_main and ctx.progress).to(self.device)
        work = Path(ctx.work_dir)
        if info.is_main:
            work.mkdir(parents=True, exist_ok=True)
        return _Run(state=state, nets=self._wrap(task, info), images=images,
                    labels=torch.from_numpy(np.searchsorted(classes, train.pids)).to(self.device),
                    modalities=torch.from_numpy(train.modalities).to(self.device),
                    host_modalities=np.asarray(train.modalities), validator=ValProtocol.build(val, s.val_seed),
                    work=work, data_key=self._data_key(train, val, ctx))

    def _restore(self, run: _Run, ctx: RunContext, info: distributed.DistInfo) -> None:
        """Continue from ``last.pt`` when asked to resume (rank 0 reads it, every rank loads it)."""
        if not ctx.resume:
            return
        ckpt = None
        path = run.work / LAST
        if info.is_main and path.exists():
            try:
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # unreadable checkpoint: the user decides what to do
                raise ReidbenchError(f"cannot read checkpoint {path}: {exc}") from None
        ckpt = distributed.broadcast_object(ckpt, info)
        if ckpt is None:
            return
        self._check_checkpoint(ckpt, run.data_key, path)
        run.state.load_state_dict(ckpt["state"])
        run.resumed_from = run.last_saved = run.state.step

    def _loop(self, run: _Run, ctx: RunContext, info: distributed.DistInfo) -> None:
        """Train to the step budget, validating and checkpointing at their boundaries."""
        s, st = self.settings, run.state
        meter = StepMeter(st.task.columns)
        log = LossLog(run.work / LOSS_LOG, st.task.columns, info.is_main, resume_step=run.resumed_from)
        stop = _StopRequest()
        bar = tqdm(total=s.steps, initial=st.step, disable=not (info.is_main and ctx.progress), desc=s.method,
                   unit="step", dynamic_ncols=True)
        st.task.train(True)
        try:
            for step in range(st.step, s.steps):
                t0 = time.perf_counter()
                self._train_step(run, meter, step)
                st.step = done = step + 1
                bar.update(1)  # every step (a host counter, no device sync): tqdm redraws by time
                boundary = done % s.eval_every == 0 or done == s.steps
                save = boundary or done % s.ckpt_every == 0
                # A single process stops at once; ranks agree on a stop when they next flush together.
                stop_now = stop.requested and not info.active
                if save or stop_now or done % s.log_every == 0:
                    rows, agreed = meter.fetch(info, stop.requested)
                    stop_now = stop_now or agreed
                    self._record(run, rows, log, bar)
                st.train_time += time.perf_counter() - t0
                if boundary and run.validator is not None:
                    self._validate(run, ctx, info)
                    st.task.train(True)
                if save or stop_now:
                    self._save_last(run, info)
                    log.flush()
                if stop_now:
                    raise KeyboardInterrupt(f"{s.method} interrupted at step {done}; resume from {run.work / LAST}")
        finally:
            stop.restore()
            bar.close()
            log.close()

    def _train_step(self, run: _Run, meter: StepMeter, step: int) -> None:
        """One update without a host sync: the batch, its update and its logged values stay on the device."""
        st = run.state
        batch = self._next_batch(run)
        if self.settings.compile:  # a new step: CUDA graphs may reuse the memory of the last one's outputs
            torch.compiler.cudagraph_mark_step_begin()
        phase, values = st.task.train_step(step, batch, run.nets, st.amp)
        meter.add(step, st.sampler.epoch, phase, values)

    def _next_batch(self, run: _Run) -> Batch:
        """The rank's share of the next global batch, augmented on the device, RGB rows first.

        The order and the RGB count come from the host's copy of the modalities, so a
        two-stream network splits the batch by slicing, with no nonzero() round trip.
        """
        st = run.state
        global_batch = st.sampler.next_global()
        params = st.augmenter.draw(len(global_batch))
        local, local_params = st.sampler.shard(global_batch), st.sampler.shard(params)
        order = np.argsort(run.host_modalities[local], kind="stable")
        n_rgb = int(np.count_nonzero(run.host_modalities[local] == 0))
        idx = to_device(torch.from_numpy(local[order]), self.device)
        x = st.augmenter.apply(run.images[idx], to_device(local_params[torch.from_numpy(order)], self.device))
        return Batch(x.contiguous(memory_format=self._memory_format()), run.labels[idx], run.modalities[idx], n_rgb)

    def _record(self, run: _Run, rows: list[LogRow], log: LossLog, bar: tqdm) -> None:
        """Check and log fetched steps: a non-finite value stops the run before anything is saved."""
        for row in rows:
            bad = {k: v for k, v in row.values.items() if not math.isfinite(v)}
            if bad:
                where = f"{run.work / LAST} (step {run.last_saved})" if run.last_saved is not None \
                    else "none saved yet"
                raise ReidbenchError(
                    f"{self.settings.method}: non-finite loss at step {row.step} "
                    f"({', '.join(f'{k}={v}' for k, v in bad.items())}); training stopped, "
                    f"last good checkpoint: {where}")
            run.state.task.check(row.step, row.values)
            log.write(row.step, row.epoch, row.phase, row.values)
        if rows:  # the loss values reach the bar when they reach the log
            bar.set_postfix({k: f"{v:.3g}" for k, v in rows[-1].values.items() if k.startswith(("l_", "d_"))},
                            refresh=False)

    def _validate(self, run: _Run, ctx: RunContext, info: distributed.DistInfo) -> None:
        """Score the current weights on the validation protocol; keep them if they are the best so far."""
        assert run.validator is not None and self.task is not None
        st, selection = run.state, run.state.selection
        for net in self.task.networks.values():
            distributed.broadcast_buffers(net, info)
        self.task.train(False)
        metrics = run.validator.evaluate(lambda imgs: self._embed(imgs, ctx, info))
        score = selection_score(metrics, self.settings.select)
        score = score if math.isfinite(score) else -math.inf
        improved = score > selection.best_score or selection.best_networks is None
        selection.history.append({"step": st.step, **{k: round(v, 6) if isinstance(v, float) else v
                                                      for k, v in metrics.items()}, "selected": improved})
        if improved:
            selection.best_score, selection.best_step, selection.best_metrics = score, st.step, metrics
            selection.best_networks = {n: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
                                       for n, m in self.task.networks.items()}
            if info.is_main:
                self._write(run.work / BEST, {"method": self.settings.method, "config": self.settings.config,
                                              "step": st.step, "val_metrics": metrics,
                                              "networks": selection.best_networks})

    def _save_last(self, run: _Run, info: distributed.DistInfo) -> None:
        """``last.pt``: what identifies the run, then the whole training state (rank 0 writes)."""
        s = self.settings
        if info.is_main:
            self._write(run.work / LAST, {
                "format": CHECKPOINT_FORMAT, "method": s.method, "config": s.config,
                "config_hash": config_hash(s.config), "data": run.data_key, "world_size": info.world_size,
                "state": run.state.state_dict()})
        run.last_saved = run.state.step

    def _keep_selected(self, run: _Run, info: distributed.DistInfo) -> None:
        """Rank 0's BN statistics everywhere, then the selected weights."""
        assert self.task is not None
        self.task.train(False)
        for net in self.task.networks.values():
            distributed.broadcast_buffers(net, info)
        best = run.state.selection.best_networks
        if best is not None:
            for name, net in self.task.networks.items():
                net.load_state_dict(best[name])

    def _report(self, run: _Run, info: distributed.DistInfo) -> dict[str, Any]:
        s, st = self.settings, run.state
        sampler, selection = st.sampler, st.selection
        return {
            "steps": s.steps, "resumed_from_step": run.resumed_from,
            "global_batch": sampler.global_batch_size, "per_rank_batch": sampler.global_batch_size // info.world_size,
            "ids_per_batch": sampler.ids_per_batch, "ids_per_batch_requested": s.ids_per_batch,
            "imgs_per_modality": s.per_modality,
            "batches_per_epoch": sampler.batches_per_epoch, "epochs": round(s.steps / sampler.batches_per_epoch, 2),
            "world_size": info.world_size, "device": str(self.device), "amp": st.amp.mode,
            "channels_last": self._memory_format() == torch.channels_last, "deterministic": s.deterministic,
            "compile": s.compile,
            "torch_threads": torch.get_num_threads(), "log_every": s.log_every,
            "train_time_s": round(st.train_time, 2),  # training steps only, over all resumed parts
            "images_per_s": round(sampler.global_batch_size * s.steps / st.train_time, 1) if st.train_time > 0
            else None,
            "input_profile": dict(s.profile.__dict__), "random_erase": s.erase,
            "selection": {
                "rule": f"best val {s.select} every {s.eval_every} steps" if run.validator else
                "last checkpoint (no validation identities)",
                "val": run.validator.describe() if run.validator else None,
                "selected_step": selection.best_step if selection.best_networks is not None else s.steps,
                "val_metrics": selection.best_metrics, "history": selection.history},
            "checkpoint": str(run.work / (BEST if selection.best_networks is not None else LAST)),
            "losses_csv": str(run.work / LOSS_LOG),
        }

    # ---------------------------------------------------------------- embed
    def embed(self, images: ImageSet, ctx: RunContext) -> np.ndarray:
        """Features of ``images`` with the selected weights, computed on this process alone."""
        if self.task is None:
            raise ReidbenchError(f"{self.settings.method}: embed() called before fit()")
        self.task.train(False)
        with determinism(self.settings.deterministic):
            return self._embed(images, ctx, distributed.DistInfo(device=self.device))

    def _embed(self, images: ImageSet, ctx: RunContext, info: distributed.DistInfo) -> np.ndarray:
        """Embed under the run's autocast, features in float32; under DDP each rank embeds a share
        and all get every row. Each chunk is modality-major, like a training batch."""
        assert self.task is not None and self.amp is not None
        decoded = decode_images(images, self.settings.profile, ctx)
        mods = np.asarray(images.modalities)
        rows = distributed.shard_range(len(images), info)
        keep = len(rows)
        if keep == 0:  # still run one image, so the gathered feature width is known
            rows = range(0, min(1, len(images)))
        local = self.embed_decoded(decoded[rows.start:rows.stop], mods[rows.start:rows.stop])[:keep]
        return distributed.gather_rows(local, info).cpu().numpy()

    def embed_decoded(self, decoded: torch.Tensor, mods: np.ndarray) -> torch.Tensor:
        """Features (float32, on the device, in the given order) of decoded uint8 images N x 3 x H x W.

        The images reach the device once, as the training images do, and each chunk is a
        gather there: a host gather and a fresh pinned copy per chunk would cap embedding
        throughput. Chunks are modality-major, like a training batch.
        """
        assert self.task is not None and self.amp is not None
        order = np.argsort(mods, kind="stable")
        on_device = decoded.to(self.device)
        device_order = to_device(torch.from_numpy(order), self.device)
        device_mods = to_device(torch.from_numpy(mods[order]), self.device)
        parts = []
        with torch.no_grad(), self.amp.autocast():
            for a in range(0, len(order), self.settings.eval_batch):
                b = a + self.settings.eval_batch
                x = to_unit_float(on_device[device_order[a:b]]).contiguous(memory_format=self._memory_format())
                n_rgb = int(np.count_nonzero(mods[order[a:b]] == 0))
                parts.append(self.task.embed(x, device_mods[a:b], n_rgb).float())
        if not parts:
            return torch.zeros((0, 0), device=self.device)
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))  # back to the given order
        return torch.cat(parts)[to_device(torch.from_numpy(position), self.device)]

    # -------------------------------------------------------------- helpers
    def _memory_format(self) -> torch.memory_format:
        """Channels-last on GPU (tensor cores like NHWC); CPU keeps the default layout."""
        use = self.settings.channels_last and self.device.type == "cuda"
        return torch.channels_last if use else torch.contiguous_format

    def _wrap(self, task: Task, info: distributed.DistInfo) -> dict[str, nn.Module]:
        """The networks for training forwards: DDP-wrapped under torchrun, compiled with ``compile=true``.

        DDP leaves buffers alone (``broadcast_buffers=False``): its per-forward broadcast of
        rank 0's BN statistics changes nothing rank 0 holds and no training forward reads
        running statistics; the engine broadcasts rank 0's buffers before every validation
        and before keeping the selected weights. Checkpoints and embedding use the plain modules.
        """
        nets = dict(task.networks)
        if info.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            nets = {n: DistributedDataParallel(m, device_ids=ids, broadcast_buffers=False) for n, m in nets.items()}
        return compile_networks(nets, self.device) if self.settings.compile else nets

    def _data_key(self, train: ImageSet, val: ImageSet | None, ctx: RunContext) -> str:
        blob = json.dumps([ctx.dataset_fingerprint, train.key(), val.key() if val is not None else None,
                           int(ctx.seed)])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @staticmethod
    def _write(path: Path, obj: dict[str, Any]) -> None:
        with atomic_open(path) as fh:  # a crash mid-write never corrupts the last good checkpoint
            torch.save(obj, fh)

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
