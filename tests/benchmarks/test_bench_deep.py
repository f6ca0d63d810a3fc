"""Throughput of the deep methods' training steps and of embedding, random-init ResNet-50 at 288 x 144.

Each step runs as the engine runs it: on-device augmentation of a uint8 batch
(parameters drawn on the host, copied asynchronously), the task's update, and on
CUDA mixed precision (bf16 on compute capability 8.0+, else fp16 with grad
scaling), channels-last and fused optimisers, with no host sync inside a round.

- CPU: cmGAN's alternation cycle (5 generator + 1 discriminator step) at the paper's batch.
- GPU (skipped without one): cmGAN at the paper's batch (10 identities x (1 RGB + 1 IR),
  goal >= 3,000 images/s on one H100), AGW at its batch (8 x (4 RGB + 4 IR), goal
  >= 2,500 images/s; the goal was set for the official 1-channel non-local blocks, and
  this measures the configured width), each eager and with ``compile=true`` (torch.compile
  with CUDA graphs), and embedding through the engine's own path (the images copied to
  the device once, gathered there chunk by chunk; goal >= 10,000 images/s). The goals are
  asserted on Hopper GPUs (H100/H200) and recorded elsewhere. No GPU has run them yet.

Run: pytest tests/benchmarks/test_bench_deep.py --benchmark-enable
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.methods.deep.data import Augmenter, get_profile, to_device
from reidbench.methods.deep.engine import Engine, EngineSettings, compile_networks
from reidbench.methods.deep.task import Amp, Batch, Task
from reidbench.registry import create_method

CUDA = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
CYCLE = 6  # cmGAN: k_gen = 5 generator steps, then 1 discriminator step
NUM_CLASSES = 296  # SYSU-MM01's training identities
GOALS = {"cmgan": 3000.0, "agw": 2500.0, "embed": 10000.0}  # images/s on one H100


class Bench:
    """A method's task on ``device`` with the paper preset's network and input, from random weights."""

    def __init__(self, name: str, device: torch.device, compiled: bool = False, **overrides: Any):
        method = create_method(name, {"preset": "paper", "weights": "none", **overrides})
        self.config = method.resolved_config(device.type)
        torch.manual_seed(0)
        self.task: Task = method.build_task(self.config, NUM_CLASSES, device, progress=False)
        self.format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        for net in self.task.networks.values():
            net.to(device, memory_format=self.format)
        self.compiled = compiled
        self.nets = compile_networks(self.task.networks, device) if compiled else self.task.networks
        self.amp = Amp("auto", device, list(self.task.optimizers))
        self.device = device
        self.profile = get_profile(self.config["input"])
        self.augmenter = Augmenter(self.profile, self.config["erase"], seed=0)

    def batch_images(self, n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 3, self.profile.height, self.profile.width), dtype=torch.uint8,
                             device=self.device).contiguous(memory_format=self.format)

    def train_round(self, steps: int) -> float:
        """``steps`` training steps on one modality-major batch of the config's size; the last l_total."""
        ids, k = self.config["ids_per_batch"], self.config["imgs_per_modality"]
        n = ids * 2 * k
        images = self.batch_images(n)
        labels = torch.arange(ids, device=self.device).repeat_interleave(k).repeat(2)
        modalities = torch.arange(2, device=self.device).repeat_interleave(ids * k)
        self.task.train(True)
        values: dict[str, Any] = {}
        for step in range(steps):
            x = self.augmenter.apply(images, to_device(self.augmenter.draw(n), self.device))
            batch = Batch(x.contiguous(memory_format=self.format), labels, modalities, n_rgb=ids * k)
            if self.compiled:  # as the engine does: a new step for CUDA graphs
                torch.compiler.cudagraph_mark_step_begin()
            _, values = self.task.train_step(step, batch, self.nets, self.amp)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return float(values["l_total"])


def _record(benchmark: BenchmarkFixture, bench: Bench, images: int, goal: str | None) -> float:
    images_per_s = images / benchmark.stats.stats.mean
    name = torch.cuda.get_device_name(bench.device) if bench.device.type == "cuda" else "cpu"
    benchmark.extra_info.update({"images_per_s": round(images_per_s, 1), "device": name, "amp": bench.amp.mode,
                                 "compile": bench.compiled,
                                 "channels_last": bench.format == torch.channels_last,
                                 "input": bench.config["input"], "threads": torch.get_num_threads(),
                                 "goal_images_per_s_h100": GOALS.get(goal or "")})
    print(f"\n{benchmark.name} on {name} ({bench.amp.mode}): {images_per_s:.1f} images/s")
    if goal is not None and ("H100" in name or "H200" in name):
        assert images_per_s >= GOALS[goal], f"{images_per_s:.0f} images/s, goal {GOALS[goal]:.0f}"
    return images_per_s


def test_cmgan_train_step_resnet50_288x144_cpu(benchmark: BenchmarkFixture) -> None:
    bench = Bench("cmgan", torch.device("cpu"))
    last = benchmark.pedantic(bench.train_round, args=(CYCLE,), rounds=2, iterations=1, warmup_rounds=1)
    _record(benchmark, bench, CYCLE * 20, None)
    assert torch.isfinite(torch.tensor(last))


@needs_gpu
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name, steps", [("cmgan", 10 * CYCLE), ("agw", 30)])
def test_train_step_gpu(benchmark: BenchmarkFixture, name: str, steps: int, compiled: bool) -> None:
    """The paper preset's training step at its own batch (cmGAN 20 images, AGW 64); the warm-up round
    holds compilation and CUDA-graph capture."""
    bench = Bench(name, torch.device("cuda"), compiled)
    batch = bench.config["ids_per_batch"] * 2 * bench.config["imgs_per_modality"]
    last = benchmark.pedantic(bench.train_round, args=(steps,), rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, bench, steps * batch, name)
    assert torch.isfinite(torch.tensor(last))


@needs_gpu
def test_embedding_gpu(benchmark: BenchmarkFixture) -> None:
    """cmGAN's test features through the engine's path: decoded uint8 images on the host (as the decode
    cache gives them), copied to the device once, gathered and embedded there eval_batch at a time
    under autocast, float32 features back in the set's order."""
    bench = Bench("cmgan", torch.device("cuda"))
    n = 20 * bench.config["eval_batch"]
    p = bench.profile
    decoded = torch.randint(0, 256, (n, p.height, p.width, 3), dtype=torch.uint8).permute(0, 3, 1, 2)
    mods = np.repeat([0, 1], n // 2)
    engine = Engine(EngineSettings(method="cmgan", config=bench.config, steps=1, eval_every=1, ckpt_every=1,
                                   ids_per_batch=bench.config["ids_per_batch"], per_modality=1, profile=p,
                                   eval_batch=bench.config["eval_batch"]), lambda n, d: bench.task)
    engine.task, engine.amp, engine.device = bench.task, bench.amp, bench.device
    bench.task.train(False)

    def embed() -> torch.Tensor:
        feats = engine.embed_decoded(decoded, mods)
        torch.cuda.synchronize(bench.device)
        return feats

    feats = benchmark.pedantic(embed, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, bench, n, "embed")
    assert feats.shape[0] == n and feats.dtype == torch.float32 and torch.isfinite(feats).all()
