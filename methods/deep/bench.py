"""``reidbench bench gpu``: every deep method trained briefly on a GPU, measured and resumed.

Every registered deep method trains 200 steps of a random-init ResNet-50 at 288 x 144
on the generated ``synthetic-small`` replica (nothing is downloaded), in bf16 where
the GPU has it natively and in fp16; cmGAN and AGW (the steps with throughput goals)
also train with ``compile=true``. Each run is interrupted at step 100 through the
Ctrl-C path and resumed from its checkpoint. Recorded per run: whether every logged
loss was finite, whether the resume continued from the checkpoint, training images/s
over the whole run and in steady state (after each part's warm-up: cuDNN autotuning,
compilation, CUDA-graph capture), embedding images/s, and peak GPU memory per phase
(train, resume, embed). With two or more GPUs, cmGAN also trains as a 2-process DDP
run under torchrun, and the ranks must end with the same weights.

The runs go in order of value (the goals' methods at the GPU's own dtype, eager and
compiled, first), the JSON is rewritten atomically whenever a phase ends, and
``--minutes`` is a hard budget: a run still going when it is spent stops at its next
step (or embedding chunk) and records how far it got. A bench killed at any moment
leaves a valid JSON with every figure measured so far.

Run as ``python -m reidbench.methods.deep.bench ddp-worker WORK`` it is one rank of
that DDP run.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reidbench import provenance
from reidbench.atomic import atomic_open
from reidbench.data.default import cache_home, named_dataset
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.messages import say
from reidbench.methods.base import RunContext
from reidbench.registry import all_methods, create_method

AMP_DTYPES = ("bf16", "fp16")
COMPILED_METHODS = ("cmgan", "agw")  # also measured with compile=true: the steps with throughput goals
DDP_METHOD, DDP_WORLD = "cmgan", 2


@dataclass(frozen=True)
class Setup:
    """What every run trains (the tests shrink it to run on a CPU)."""

    dataset: str = "synthetic-small"
    steps: int = 200
    interrupt_at: int = 100  # also the validation and checkpoint interval
    warmup: int = 20  # steps at the start of each part (first run, resumed run) left out of the steady state
    # The paper recipe's network and input, from random weights.
    network: dict[str, Any] = field(default_factory=lambda: {"preset": "paper", "weights": "none"})

    @property
    def config(self) -> dict[str, Any]:
        return {**self.network, "steps": self.steps, "eval_every": self.interrupt_at, "log_every": 50}


SETUP = Setup()


@dataclass(frozen=True)
class Planned:
    """One run of the bench."""

    method: str
    amp: str
    compile: bool = False


class BudgetSpent(Exception):
    """The bench's time budget ran out inside a run."""


@dataclass
class Budget:
    """The hard time budget, checked before every training step and embedding chunk."""

    deadline: float
    clock: Callable[[], float] = time.monotonic

    def left(self) -> float:
        return self.deadline - self.clock()

    def check(self) -> None:
        if self.left() <= 0:
            raise BudgetSpent


class Report:
    """The bench's JSON, rewritten atomically at every :meth:`save`: a killed bench keeps every figure."""

    def __init__(self, out: Path | None, body: dict[str, Any], budget: Budget, minutes: float):
        self.out, self.body, self.budget, self.minutes = out, body, budget, minutes
        self.save()

    def save(self) -> None:
        self.body["elapsed_s"] = round(60 * self.minutes - self.budget.left(), 1)
        if self.out is not None:
            with atomic_open(Path(self.out), "w") as fh:
                json.dump(self.body, fh, indent=2)


def run_gpu_bench(out: Path | None, minutes: float) -> dict[str, Any]:
    """Run the bench within ``minutes`` (a hard budget), writing ``out`` as it goes."""
    import torch

    if not minutes > 0:
        raise ReidbenchError(f"--minutes must be a positive number, got {minutes:g}")
    if not torch.cuda.is_available():
        raise ReidbenchError("no CUDA GPU is available to torch (torch.cuda.is_available() is False): "
                             "`reidbench bench gpu` measures GPU training and needs one")
    device = bench_device()
    return run_bench(out, minutes, device, gpu_facts(device))


def bench_device() -> Any:
    from reidbench.device import resolve_device, torch_device

    return torch_device(resolve_device("cuda"))


def gpu_facts(device: Any) -> dict[str, Any]:
    import torch

    capability = torch.cuda.get_device_capability(device)
    props = torch.cuda.get_device_properties(device)
    return {"name": props.name, "capability": f"{capability[0]}.{capability[1]}",
            "memory_gib": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda}


def run_bench(out: Path | None, minutes: float, device: Any, gpu: dict[str, Any],
              clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Every planned run on ``device`` (described by ``gpu``), each figure saved as soon as it is measured."""
    from reidbench.methods.deep.task import BF16_CAPABILITY

    budget = Budget(clock() + 60 * minutes, clock)
    capability = tuple(int(p) for p in gpu["capability"].split("."))
    resolved = create_method(DDP_METHOD, SETUP.config).resolved_config(str(device))
    report = Report(out, {
        "kind": "reidbench-gpu-bench", "created": provenance.now(), "versions": provenance.versions(),
        "git": provenance.git_state(), "gpu": gpu,
        "setup": {**SETUP.config, "backbone": resolved["backbone"], "input": resolved["input"],
                  "dataset": SETUP.dataset, "interrupted_at": SETUP.interrupt_at, "warmup_steps": SETUP.warmup},
        "budget_minutes": minutes, "finished": False, "runs": [], "ddp": None,
    }, budget, minutes)
    data = named_dataset(SETUP.dataset, progress=False)
    root = Path(tempfile.mkdtemp(prefix="reidbench-bench-", dir=_scratch()))
    try:
        for planned in plan_runs(capability, deep_methods()):
            entry = {"method": planned.method, "amp": planned.amp, "compile": planned.compile}
            report.body["runs"].append(entry)
            if planned.amp == "bf16" and capability < BF16_CAPABILITY:
                entry.update(status="skipped", reason="no native bf16 on this GPU")
            elif budget.left() <= 0:
                entry.update(status="skipped", reason="time budget spent")
            else:
                _measure(planned, entry, data, device, root, budget, report.save)
                say(f"bench: {_label(entry)}: {entry['status']}")
            report.save()
        report.body["ddp"] = _ddp_entry(root, budget)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report.body["finished"] = True
    report.save()
    return report.body


def plan_runs(capability: tuple[int, ...], methods: list[str]) -> list[Planned]:
    """The runs in order of value: the goals' methods at the GPU's own dtype, eager then compiled, then
    every other method at that dtype, then every method at the other dtype."""
    from reidbench.methods.deep.task import BF16_CAPABILITY

    native = "bf16" if capability >= BF16_CAPABILITY else "fp16"
    goals = [Planned(m, native, c) for m in COMPILED_METHODS if m in methods for c in (False, True)]
    rest = [Planned(m, native) for m in methods if m not in COMPILED_METHODS]
    return goals + rest + [Planned(m, amp) for amp in AMP_DTYPES if amp != native for m in methods]


def deep_methods() -> list[str]:
    """Every registered deep method, in registry order."""
    return [n for n, spec in all_methods().items() if spec.family == "deep"]


def _scratch() -> Path:
    path = cache_home() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _measure(planned: Planned, entry: dict[str, Any], data: SysuDataset, device: Any, root: Path,
             budget: Budget, save: Callable[[], None]) -> None:
    """One run; a spent budget or an error ends it with what it measured (the other runs go on)."""
    entry["status"] = "running"
    save()
    try:
        smoke(planned, data, device, root, budget, entry, save)
        entry["status"] = "ok"
    except BudgetSpent:
        entry.update(status="stopped", reason=f"time budget spent during {entry.get('phase')}")
    except Exception as exc:  # a bench reports every failure instead of stopping at the first
        entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    entry.pop("phase", None)


# ------------------------------------------------------------------ one run
class StepClock:
    """Every training step's time on the device's own clock: a CUDA event after each step (recorded
    without a host sync), read once a phase is over; the host clock on a CPU."""

    def __init__(self, device: Any):
        self.device = device
        self.parts: list[list[tuple[int, int, Any]]] = []  # per fit: (step, images, mark), a start mark first

    def start_part(self) -> None:
        self.parts.append([(-1, 0, self._mark())])

    def step_done(self, step: int, images: int) -> None:
        self.parts[-1].append((step, images, self._mark()))

    def figures(self, warmup: int, eval_every: int) -> dict[str, Any]:
        """Images/s over every timed step, and in steady state: after each part's first ``warmup`` steps,
        without the steps that follow a validation and checkpoint."""
        _sync(self.device)
        parts = [[(s, n, self._seconds(a, b)) for (_, _, a), (s, n, b) in zip(p, p[1:])] for p in self.parts]
        every = [t for p in parts for t in p]
        steady = [t for p in parts for t in p[warmup:] if not (t[0] > 0 and t[0] % eval_every == 0)]
        return {"steps_done": len(every), "train_images_per_s": _rate(every), "steady_images_per_s": _rate(steady),
                "steady_steps": len(steady), "warmup_s": round(sum(t[2] for p in parts for t in p[:warmup]), 2)}

    def _mark(self) -> Any:
        if self.device.type != "cuda":
            return time.perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _seconds(self, a: Any, b: Any) -> float:
        return b - a if self.device.type != "cuda" else a.elapsed_time(b) / 1000


def _rate(steps: list[tuple[int, int, float]]) -> float | None:
    seconds = sum(t[2] for t in steps)
    return round(sum(t[1] for t in steps) / seconds, 1) if steps and seconds > 0 else None


def smoke(planned: Planned, data: SysuDataset, device: Any, root: Path, budget: Budget,
          entry: dict[str, Any], save: Callable[[], None]) -> None:
    """Train ``planned``: interrupted at ``SETUP.interrupt_at``, resumed, then embed the test images.
    Each phase's figures go into ``entry`` (and through ``save`` into the JSON) as soon as it ends."""
    config = {**SETUP.config, "amp": planned.amp, "compile": planned.compile}
    work = root / _label(entry).replace(" ", "-")
    clock = StepClock(device)
    peaks: dict[str, float | None] = {}
    entry["peak_memory_mib"] = peaks

    def context(resume: bool) -> RunContext:
        return RunContext(seed=0, device=str(device), cache_dir=root / "cache", work_dir=work,
                          dataset_fingerprint=data.fingerprint, progress=False, resume=resume)

    def phase(name: str, work_of_phase: Callable[[], Any]) -> Any:
        entry["phase"] = name
        _reset_peak(device)
        try:
            return work_of_phase()
        finally:
            peaks[name] = _peak_mib(device)
            entry.update(clock.figures(SETUP.warmup, SETUP.interrupt_at))
            save()

    interrupted = False
    if threading.current_thread() is threading.main_thread():  # the engine's Ctrl-C handler needs it
        first = _instrumented(create_method(planned.method, config), clock, budget, SETUP.interrupt_at)
        interrupted = phase("train", lambda: _fit_until_interrupted(first, data, context(resume=False)))
    method = _instrumented(create_method(planned.method, config), clock, budget, None)
    phase("resume", lambda: method.fit(data.train, data.val, context(resume=interrupted)))
    training = method.provenance()["training"]
    rows = _loss_rows(work / "losses.csv")
    entry.update({
        "amp_used": training["amp"], "resumed_from_step": training["resumed_from_step"],
        "resume_ok": interrupted and training["resumed_from_step"] == SETUP.interrupt_at + 1,
        "checkpoint_written": (work / "last.pt").is_file(), "log_rows": len(rows),
        "losses_finite": len(rows) == SETUP.steps and all(math.isfinite(v) for r in rows for v in r.values()),
        "first_l_total": rows[0].get("l_total") if rows else None,
        "last_l_total": rows[-1].get("l_total") if rows else None,
        "global_batch": training["global_batch"]})
    save()
    feats, seconds = phase("embed", lambda: _timed_embed(method, data, context(resume=False), device))
    entry.update({"embed_images_per_s": round(len(data.test) / seconds, 1) if seconds > 0 else None,
                  "embed_images": len(data.test), "features_finite": bool(_finite(feats))})


def _fit_until_interrupted(method: Any, data: SysuDataset, ctx: RunContext) -> bool:
    """Fit until the Ctrl-C at ``SETUP.interrupt_at``; True when it came."""
    try:
        method.fit(data.train, data.val, ctx)
    except KeyboardInterrupt:
        return True
    return False


def _timed_embed(method: Any, data: SysuDataset, ctx: RunContext, device: Any) -> tuple[Any, float]:
    """The test features and the seconds of a second, warm pass (the first decodes and caches)."""
    method.embed(data.test, ctx)
    _sync(device)
    t0 = time.perf_counter()
    feats = method.embed(data.test, ctx)
    _sync(device)
    return feats, time.perf_counter() - t0


def _instrumented(method: Any, clock: StepClock, budget: Budget, interrupt_at: int | None) -> Any:
    """``method`` whose task times every step, checks the budget before every step and embedding chunk,
    and (at ``interrupt_at``) raises Ctrl-C during a step, as a user would."""
    build = method.build_task

    def build_instrumented(*args: Any) -> Any:
        task = build(*args)
        train_step, embed = task.train_step, task.embed
        started = False

        def timed_step(step: int, batch: Any, *rest: Any) -> Any:
            nonlocal started
            budget.check()
            if not started:
                clock.start_part()
                started = True
            if step == interrupt_at:
                signal.raise_signal(signal.SIGINT)  # deferred by the engine to the end of the step
            out = train_step(step, batch, *rest)
            clock.step_done(step, len(batch.images))
            return out

        def checked_embed(*a: Any) -> Any:
            budget.check()
            return embed(*a)

        task.train_step, task.embed = timed_step, checked_embed
        return task

    method.build_task = build_instrumented
    return method


def _label(entry: dict[str, Any]) -> str:
    return f"{entry['method']} {entry['amp']} {'compiled' if entry['compile'] else 'eager'}"


def _sync(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _reset_peak(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: Any) -> float | None:
    if device.type != "cuda":
        return None
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def _finite(feats: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(feats).all())


def _loss_rows(path: Path) -> list[dict[str, float]]:
    """The numeric cells of ``losses.csv`` (empty cells left out)."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in r.items() if k not in ("step", "epoch", "phase") and v != ""}
                for r in csv.DictReader(fh)]


# ------------------------------------------------------------------ DDP
def _ddp_entry(root: Path, budget: Budget) -> dict[str, Any]:
    import torch

    if torch.cuda.device_count() < DDP_WORLD:
        return {"status": "skipped", "reason": f"{torch.cuda.device_count()} GPU(s); DDP needs {DDP_WORLD}"}
    if budget.left() <= 0:
        return {"status": "skipped", "reason": "time budget spent"}
    try:
        return {"status": "ok", **ddp_run(root / "ddp", budget.left())}
    except subprocess.TimeoutExpired:
        return {"status": "stopped", "reason": "time budget spent during the DDP run"}
    except Exception as exc:  # reported like any other run's failure
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def ddp_run(work: Path, timeout_s: float) -> dict[str, Any]:
    """cmGAN on DDP_WORLD GPUs under torchrun; the ranks must agree on their final weights.

    torchrun and its ranks form one process group, killed together when the budget runs out.
    """
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(DDP_WORLD),
           "-m", "reidbench.methods.deep.bench", "ddp-worker", str(work)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise ReidbenchError(f"torchrun failed ({proc.returncode}): {' '.join(stderr.split()[-40:])}")
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in range(DDP_WORLD)]
    return {"method": DDP_METHOD, "world_size": ranks[0]["world_size"], "global_batch": ranks[0]["global_batch"],
            "train_images_per_s": ranks[0]["images_per_s"],
            "ranks_agree": len({r["weights"] for r in ranks}) == 1 and len({r["embedding"] for r in ranks}) == 1}


def ddp_worker(work: Path) -> None:
    """One torchrun rank: train, embed, write what the parent compares."""
    import torch

    rank = int(os.environ["RANK"])
    data = named_dataset(SETUP.dataset, progress=False)
    method = create_method(DDP_METHOD, SETUP.config)
    ctx = RunContext(seed=0, device="cuda", cache_dir=work / "cache", work_dir=work / "train",
                     dataset_fingerprint=data.fingerprint, progress=False)
    method.fit(data.train, data.val, ctx)
    training = method.provenance()["training"]
    weights = hashlib.sha256()
    for net in method.engine.task.networks.values():
        for value in net.state_dict().values():
            weights.update(value.detach().cpu().contiguous().numpy().tobytes())
    feats = method.embed(data.test, ctx)
    result = {"world_size": training["world_size"], "global_batch": training["global_batch"],
              "images_per_s": training["images_per_s"], "weights": weights.hexdigest(),
              "embedding": hashlib.sha256(feats.tobytes()).hexdigest(), "device": str(torch.cuda.current_device())}
    (work / f"rank{rank}.json").write_text(json.dumps(result))


# ------------------------------------------------------------------ text
def format_bench(report: dict[str, Any]) -> str:
    """The report as a plain-text table, one line per run."""
    gpu, setup = report["gpu"], report["setup"]
    lines = [f"GPU: {gpu['name']} (compute capability {gpu['capability']}, {gpu['memory_gib']} GiB, "
             f"{gpu['count']} visible); random-init {setup['backbone']} at {setup['input']} on {setup['dataset']}, "
             f"{setup['steps']} steps, interrupted at {setup['interrupted_at']} and resumed; steady state "
             f"after {setup.get('warmup_steps', '?')} warm-up steps of each part",
             f"{'method':<20} {'amp':<5} {'mode':<8} {'status':<8} {'train img/s':>11} {'steady img/s':>12} "
             f"{'embed img/s':>11} {'peak MiB':>9} {'finite':>6} {'resume':>6}"]
    for r in report["runs"]:
        head = f"{r['method']:<20} {r['amp']:<5} {'compiled' if r.get('compile') else 'eager':<8} {r['status']:<8}"
        if r["status"] in ("skipped", "failed"):
            lines.append(f"{head} {r.get('reason') or r.get('error')}")
            continue
        peaks = [v for v in (r.get("peak_memory_mib") or {}).values() if v is not None]
        finite = r.get("losses_finite") and r.get("features_finite")
        line = (f"{head} {_num(r.get('train_images_per_s')):>11} {_num(r.get('steady_images_per_s')):>12} "
                f"{_num(r.get('embed_images_per_s')):>11} {_num(max(peaks) if peaks else None):>9} "
                f"{_yes(finite) if 'features_finite' in r else '-':>6} "
                f"{_yes(r['resume_ok']) if 'resume_ok' in r else '-':>6}")
        if r["status"] != "ok":
            line += f"  ({r.get('reason')}, {r.get('steps_done', 0)} of {setup['steps']} steps)"
        lines.append(line)
    ddp = report.get("ddp") or {"status": "skipped", "reason": "not run"}
    if ddp["status"] == "ok":
        lines.append(f"DDP: {ddp['method']} on {ddp['world_size']} GPUs, global batch {ddp['global_batch']}: "
                     f"{_num(ddp['train_images_per_s'])} training images/s, ranks agree: {_yes(ddp['ranks_agree'])}")
    else:
        lines.append(f"DDP: {ddp['status']} ({ddp.get('reason') or ddp.get('error')})")
    if "elapsed_s" in report:
        lines.append(f"elapsed {report['elapsed_s']:.0f} s of a {report['budget_minutes']:g}-minute budget")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


if __name__ == "__main__" and sys.argv[1:2] == ["ddp-worker"]:
    ddp_worker(Path(sys.argv[2]))
