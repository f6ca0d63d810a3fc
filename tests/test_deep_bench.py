"""``reidbench bench gpu`` on a CPU: a one-line error without a GPU; with the GPU check mocked, a bench
killed mid-way leaves a valid JSON with its finished runs, and a spent budget stops a run inside it; the
order of the runs and the text table."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from reidbench.data.default import cache_home
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.methods.deep import bench
from reidbench.methods.deep.bench import Planned, deep_methods, format_bench, plan_runs, run_gpu_bench

# Every method's network and input shrunk to a CPU's size; 6 steps, Ctrl-C at step 3 and resumed.
TINY_SETUP = bench.Setup(dataset="synthetic-tiny", steps=6, interrupt_at=3, warmup=1,
                         network={"preset": "cpu", "backbone": "resnet_tiny", "input": "cpu_64x32",
                                  "ids_per_batch": 4, "imgs_per_modality": 2})
MOCKED_GPU = {"name": "mocked (runs on the CPU)", "capability": "9.0", "memory_gib": 0.0, "count": 1, "cuda": None}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_without_a_gpu_the_bench_stops_at_once_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    with pytest.raises(ReidbenchError) as err:
        run_gpu_bench(out, minutes=1)
    message = str(err.value)
    assert message.startswith("no CUDA GPU") and "\n" not in message
    assert not out.exists() and not (cache_home() / "datasets").exists()  # no replica generated, nothing written
    with pytest.raises(ReidbenchError, match="--minutes must be a positive number, got 0"):
        run_gpu_bench(out, minutes=0)


def test_every_deep_method_is_benched_the_goals_first_eager_and_compiled() -> None:
    names = deep_methods()
    assert {"cmgan", "cmgan_triplet_only", "cmgan_id_only", "cmgan_no_adv", "one_stream", "two_stream",
            "asym_fc", "zero_padding", "agw"} <= set(names)
    hopper = plan_runs((9, 0), names)
    assert hopper[:4] == [Planned("cmgan", "bf16"), Planned("cmgan", "bf16", True), Planned("agw", "bf16"),
                          Planned("agw", "bf16", True)]
    assert {p.method for p in hopper if p.amp == "bf16"} == {p.method for p in hopper if p.amp == "fp16"} == set(names)
    assert [p for p in hopper if p.compile] == hopper[1:4:2] and len(hopper) == 2 * len(names) + 2
    volta = plan_runs((7, 0), names)
    assert volta[:2] == [Planned("cmgan", "fp16"), Planned("cmgan", "fp16", True)] and volta[-1].amp == "bf16"


KILLED_BENCH = """
import sys
from pathlib import Path
import torch
from reidbench.data.sysu import load_sysu
from reidbench.methods.deep import bench

root, out = Path(sys.argv[1]), Path(sys.argv[2])
torch.cuda.is_available = lambda: True  # the GPU check, mocked: the runs go to the CPU
bench.bench_device = lambda: torch.device("cpu")
bench.gpu_facts = lambda device: {gpu!r}
bench.named_dataset = lambda name, progress: load_sysu(root)
bench.SETUP = bench.Setup(dataset="synthetic-tiny", steps=6, interrupt_at=3, warmup=1, network={network!r})
bench.COMPILED_METHODS = ()  # inductor's C++ build would take minutes on a CPU
bench.run_gpu_bench(out, minutes=30)
"""


def _runs(path: Path) -> list[dict[str, Any]]:
    try:
        return json.loads(path.read_text())["runs"]
    except FileNotFoundError:
        return []


def test_a_killed_bench_leaves_a_valid_json_with_its_finished_runs(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    script = KILLED_BENCH.format(gpu=MOCKED_GPU, network=TINY_SETUP.network)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(tiny_root), str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not any(r["status"] == "ok" for r in _runs(out)):
            assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.1)
    finally:
        proc.kill()  # SIGKILL: no handler, no last write
        proc.wait()
    report = json.loads(out.read_text())
    assert not report["finished"] and report["gpu"]["name"].startswith("mocked")
    first = report["runs"][0]
    assert (first["method"], first["amp"], first["compile"], first["status"]) == ("cmgan", "bf16", False, "ok")
    assert first["steps_done"] == 6 and first["resume_ok"] and first["losses_finite"] and first["features_finite"]
    assert first["train_images_per_s"] > 0 and first["steady_images_per_s"] > 0 and first["embed_images_per_s"] > 0
    assert set(first["peak_memory_mib"]) == {"train", "resume", "embed"}  # per phase (None on a CPU)


def test_a_spent_budget_stops_a_run_inside_it_and_records_how_far_it_got(
        tiny: SysuDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = {"done": 0}
    real_done = bench.StepClock.step_done

    def counting_done(self: bench.StepClock, step: int, images: int) -> None:
        real_done(self, step, images)
        steps["done"] += 1

    monkeypatch.setattr(bench.StepClock, "step_done", counting_done)
    monkeypatch.setattr(bench, "SETUP", TINY_SETUP)
    monkeypatch.setattr(bench, "named_dataset", lambda name, progress: tiny)
    out = tmp_path / "bench.json"
    clock = lambda: 0.0 if steps["done"] < 2 else 1e9  # noqa: E731  (the budget is spent after 2 steps)
    report = bench.run_bench(out, 1.0, torch.device("cpu"), MOCKED_GPU, clock=clock)
    assert json.loads(out.read_text()) == report and report["finished"]
    first, rest = report["runs"][0], report["runs"][1:]
    assert first["status"] == "stopped" and first["reason"] == "time budget spent during train"
    assert first["steps_done"] == 2 and first["train_images_per_s"] > 0 and "phase" not in first
    assert rest and all(r["status"] == "skipped" and r["reason"] == "time budget spent" for r in rest)
    assert "2 of 6 steps" in format_bench(report)


def test_the_report_reads_as_one_line_per_run() -> None:
    ok = {"status": "ok", "train_images_per_s": 2512.4, "steady_images_per_s": 3125.4, "embed_images_per_s": 11873.0,
          "peak_memory_mib": {"train": 4321.0, "resume": 4400.0, "embed": 900.0},
          "losses_finite": True, "features_finite": True, "resume_ok": True}
    report = {
        "gpu": {"name": "NVIDIA H100 80GB HBM3", "capability": "9.0", "memory_gib": 79.1, "count": 1},
        "setup": {"dataset": "synthetic-small", "steps": 200, "interrupted_at": 100, "warmup_steps": 20,
                  "backbone": "resnet50", "input": "agw_288x144"},
        "runs": [{"method": "cmgan", "amp": "bf16", "compile": False, **ok},
                 {"method": "cmgan", "amp": "bf16", "compile": True, "status": "stopped",
                  "reason": "time budget spent during resume", "steps_done": 150, "train_images_per_s": 900.0},
                 {"method": "agw", "amp": "fp16", "compile": False, "status": "failed",
                  "error": "RuntimeError: out of memory"},
                 {"method": "one_stream", "amp": "fp16", "compile": False, "status": "skipped",
                  "reason": "time budget spent"}],
        "ddp": {"status": "skipped", "reason": "1 GPU(s); DDP needs 2"},
        "elapsed_s": 312.0, "budget_minutes": 8.0,
    }
    lines = format_bench(report).splitlines()
    assert "NVIDIA H100" in lines[0] and "interrupted at 100" in lines[0] and "20 warm-up steps" in lines[0]
    eager, compiled = (line for line in lines if line.startswith("cmgan "))
    assert eager.split()[:4] == ["cmgan", "bf16", "eager", "ok"]
    assert "2,512" in eager and "3,125" in eager and "11,873" in eager and "4,400" in eager
    assert compiled.split()[:4] == ["cmgan", "bf16", "compiled", "stopped"] and "150 of 200 steps" in compiled
    assert "out of memory" in next(line for line in lines if line.startswith("agw "))
    assert any("time budget spent" in line for line in lines if line.startswith("one_stream"))
    assert lines[-2] == "DDP: skipped (1 GPU(s); DDP needs 2)" and lines[-1].startswith("elapsed 312 s")
