"""``reidbench bench gpu``: every deep method trained briefly on a GPU, measured and resumed.

For each autocast dtype (bf16 where the GPU has it natively, and fp16) every
registered deep method trains 200 steps of a random-init ResNet-50 at 288 x 144 on
the generated ``synthetic-small`` replica (nothing is downloaded). Each run is
interrupted at step 100 through the Ctrl-C path and resumed from its checkpoint.
Recorded per run: whether every logged loss was finite, whether the resume
continued from the checkpoint, training and embedding images/s, and peak GPU
memory. With two or more GPUs, cmGAN also trains as a 2-process DDP run under
torchrun, and the ranks must end with the same weights. One JSON holds it all.

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
from pathlib import Path
from typing import Any, Callable

from reidbench import provenance
from reidbench.atomic import atomic_open
from reidbench.data.default import cache_home, named_dataset
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext
from reidbench.registry import all_methods, create_method

DATASET = "synthetic-small"
STEPS, INTERRUPT_AT = 200, 100
# The paper recipe's network and input, from random weights, validated and checkpointed halfway.
SMOKE = {"preset": "paper", "weights": "none", "steps": STEPS, "eval_every": INTERRUPT_AT, "log_every": 50}
AMP_DTYPES = ("bf16", "fp16")
DDP_METHOD, DDP_WORLD = "cmgan", 2


def run_gpu_bench(out: Path | None, minutes: float) -> dict[str, Any]:
    """Run the bench within about ``minutes`` (runs that would start later are skipped), write ``out``."""
    import torch

    if not torch.cuda.is_available():
        raise ReidbenchError("no CUDA GPU is available to torch (torch.cuda.is_available() is False): "
                             "`reidbench bench gpu` measures GPU training and needs one")
    from reidbench.device import resolve_device, torch_device
    from reidbench.methods.deep.task import BF16_CAPABILITY

    start = time.monotonic()
    deadline = start + 60 * minutes
    device = torch_device(resolve_device("cuda"))
    capability = torch.cuda.get_device_capability(device)
    props = torch.cuda.get_device_properties(device)
    report: dict[str, Any] = {
        "kind": "reidbench-gpu-bench", "created": provenance.now(), "versions": provenance.versions(),
        "git": provenance.git_state(),
        "gpu": {"name": props.name, "capability": f"{capability[0]}.{capability[1]}",
                "memory_gib": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count(),
                "cuda": torch.version.cuda},
        "setup": {**SMOKE, "backbone": "resnet50", "input": "agw_288x144", "dataset": DATASET,
                  "interrupted_at": INTERRUPT_AT},
        "budget_minutes": minutes, "runs": [], "ddp": None,
    }
    data = named_dataset(DATASET, progress=False)
    root = Path(tempfile.mkdtemp(prefix="reidbench-bench-", dir=_scratch()))
    try:
        for amp in AMP_DTYPES:
            for name in deep_methods():
                base = {"method": name, "amp": amp}
                if amp == "bf16" and capability < BF16_CAPABILITY:
                    report["runs"].append({**base, "status": "skipped", "reason": "no native bf16 on this GPU"})
                elif time.monotonic() > deadline:
                    report["runs"].append({**base, "status": "skipped", "reason": "time budget spent"})
                else:
                    report["runs"].append({**base, **_guarded(lambda: smoke(name, amp, data, device, root))})
        report["ddp"] = _ddp_entry(root, deadline)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report["elapsed_s"] = round(time.monotonic() - start, 1)
    if out is not None:
        with atomic_open(Path(out), "w") as fh:
            json.dump(report, fh, indent=2)
    return report


def deep_methods() -> list[str]:
    """Every registered deep method, in registry order."""
    return [n for n, spec in all_methods().items() if spec.family == "deep"]


def _scratch() -> Path:
    path = cache_home() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _guarded(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A run's measurements, or the error that stopped it (the other runs go on)."""
    try:
        return {"status": "ok", **work()}
    except Exception as exc:  # a bench reports every failure instead of stopping at the first
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def smoke(name: str, amp: str, data: SysuDataset, device: Any, root: Path) -> dict[str, Any]:
    """Train ``name`` with ``amp``: interrupted at INTERRUPT_AT, resumed, then embed the test images."""
    import torch

    config = {**SMOKE, "amp": amp}
    work = root / f"{name}-{amp}"

    def context(resume: bool) -> RunContext:
        return RunContext(seed=0, device=str(device), cache_dir=root / "cache", work_dir=work,
                          dataset_fingerprint=data.fingerprint, progress=False, resume=resume)

    torch.cuda.reset_peak_memory_stats(device)
    interrupted = False
    if threading.current_thread() is threading.main_thread():  # the engine's Ctrl-C handler needs it
        first = create_method(name, config)
        _interrupt_at(first, INTERRUPT_AT)
        try:
            first.fit(data.train, data.val, context(resume=False))
        except KeyboardInterrupt:
            interrupted = True
    method = create_method(name, config)
    method.fit(data.train, data.val, context(resume=interrupted))
    training = method.provenance()["training"]
    method.embed(data.test, context(resume=False))  # decodes and caches the test images
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    feats = method.embed(data.test, context(resume=False))
    torch.cuda.synchronize(device)
    embed_s = time.perf_counter() - t0
    rows = _loss_rows(work / "losses.csv")
    return {
        "amp_used": training["amp"], "resumed_from_step": training["resumed_from_step"],
        "resume_ok": interrupted and training["resumed_from_step"] == INTERRUPT_AT + 1,
        "checkpoint_written": (work / "last.pt").is_file(), "log_rows": len(rows),
        "losses_finite": len(rows) == STEPS and all(math.isfinite(v) for r in rows for v in r.values()),
        "first_l_total": rows[0].get("l_total") if rows else None,
        "last_l_total": rows[-1].get("l_total") if rows else None,
        "global_batch": training["global_batch"],
        "train_images_per_s": training["images_per_s"],  # 200 steps, warm-up and cuDNN autotuning included
        "embed_images_per_s": round(len(data.test) / embed_s, 1), "embed_images": len(data.test),
        "features_finite": bool(torch.isfinite(torch.from_numpy(feats)).all()),
        "peak_memory_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
    }


def _interrupt_at(method: Any, step: int) -> None:
    """Make ``method``'s task raise Ctrl-C during ``step``, as a user would."""
    build = method.build_task

    def build_interrupted(*args: Any) -> Any:
        task = build(*args)
        train_step = task.train_step

        def interrupted_step(s: int, *rest: Any) -> Any:
            if s == step:
                signal.raise_signal(signal.SIGINT)  # deferred by the engine to the end of the step
            return train_step(s, *rest)

        task.train_step = interrupted_step
        return task

    method.build_task = build_interrupted


def _loss_rows(path: Path) -> list[dict[str, float]]:
    """The numeric cells of ``losses.csv`` (empty cells left out)."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in r.items() if k not in ("step", "epoch", "phase") and v != ""}
                for r in csv.DictReader(fh)]


# ------------------------------------------------------------------ DDP
def _ddp_entry(root: Path, deadline: float) -> dict[str, Any]:
    import torch

    if torch.cuda.device_count() < DDP_WORLD:
        return {"status": "skipped", "reason": f"{torch.cuda.device_count()} GPU(s); DDP needs {DDP_WORLD}"}
    if time.monotonic() > deadline:
        return {"status": "skipped", "reason": "time budget spent"}
    return _guarded(lambda: ddp_run(root / "ddp"))


def ddp_run(work: Path) -> dict[str, Any]:
    """cmGAN on DDP_WORLD GPUs under torchrun; the ranks must agree on their final weights."""
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(DDP_WORLD),
           "-m", "reidbench.methods.deep.bench", "ddp-worker", str(work)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise ReidbenchError(f"torchrun failed ({done.returncode}): {' '.join(done.stderr.split()[-40:])}")
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in range(DDP_WORLD)]
    return {"method": DDP_METHOD, "world_size": ranks[0]["world_size"], "global_batch": ranks[0]["global_batch"],
            "train_images_per_s": ranks[0]["images_per_s"],
            "ranks_agree": len({r["weights"] for r in ranks}) == 1 and len({r["embedding"] for r in ranks}) == 1}


def ddp_worker(work: Path) -> None:
    """One torchrun rank: train, embed, write what the parent compares."""
    import torch

    rank = int(os.environ["RANK"])
    data = named_dataset(DATASET, progress=False)
    method = create_method(DDP_METHOD, SMOKE)
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
    """The report as a plain-text table, one line per method and dtype."""
    gpu = report["gpu"]
    lines = [f"GPU: {gpu['name']} (compute capability {gpu['capability']}, {gpu['memory_gib']} GiB, "
             f"{gpu['count']} visible); random-init ResNet-50 at 288x144 on {report['setup']['dataset']}, "
             f"{report['setup']['steps']} steps, interrupted at {report['setup']['interrupted_at']} and resumed",
             f"{'method':<20} {'amp':<5} {'status':<8} {'train img/s':>11} {'embed img/s':>11} {'peak MiB':>9} "
             f"{'finite':>6} {'resume':>6}"]
    for r in report["runs"]:
        if r["status"] != "ok":
            lines.append(f"{r['method']:<20} {r['amp']:<5} {r['status']:<8} {r.get('reason') or r.get('error')}")
            continue
        lines.append(f"{r['method']:<20} {r['amp']:<5} {'ok':<8} {_num(r['train_images_per_s']):>11} "
                     f"{_num(r['embed_images_per_s']):>11} {_num(r['peak_memory_mib']):>9} "
                     f"{_yes(r['losses_finite'] and r['features_finite']):>6} {_yes(r['resume_ok']):>6}")
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
