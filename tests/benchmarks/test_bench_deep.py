"""Training throughput of cmGAN's step with a randomly initialised ResNet-50 at 288 x 144.

One round is a full alternation cycle (5 generator steps + 1 discriminator step)
on batches of 20 images (10 identities x (1 RGB + 1 IR)), including the on-device
augmentation of a uint8 batch. On CUDA it runs as the engine does: mixed
precision (bf16, or fp16 with grad scaling) and channels-last.

Run: pytest tests/benchmarks/test_bench_deep.py --benchmark-enable
"""
from __future__ import annotations

import torch
from pytest_benchmark.fixture import BenchmarkFixture

from reidbench.methods.deep.cmgan import CMGAN_CONFIG, CmGAN, CmganTask
from reidbench.methods.deep.data import Augmenter, get_profile
from reidbench.methods.deep.method import COMMON_CONFIG, resolve_preset
from reidbench.methods.deep.task import Amp, Batch

CYCLE = 6  # k_gen = 5 generator steps, then 1 discriminator step
BATCH = 20


def test_cmgan_train_step_resnet50_288x144(benchmark: BenchmarkFixture) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    cfg = resolve_preset({**COMMON_CONFIG, **CMGAN_CONFIG, "preset": "paper", "weights": "none", "steps": 60},
                         device.type, CmGAN.preset_values)
    torch.manual_seed(0)
    task = CmganTask(cfg, num_classes=296, progress=False)
    for net in task.networks.values():
        net.to(device, memory_format=fmt)
    amp = Amp("auto", device, list(task.optimizers))
    profile = get_profile(cfg["input"])
    augmenter = Augmenter(profile, seed=0)
    images = torch.randint(0, 256, (BATCH, 3, profile.height, profile.width), dtype=torch.uint8, device=device)
    labels = torch.arange(BATCH, device=device) // 2
    modalities = torch.arange(BATCH, device=device) % 2
    task.train(True)

    def cycle() -> float:
        l_total = 0.0
        for step in range(CYCLE):
            x = augmenter.apply(images, augmenter.draw(BATCH)).contiguous(memory_format=fmt)
            _, values = task.train_step(step, Batch(x, labels, modalities), task.networks, amp)
            l_total = float(values["l_total"])  # .item() synchronises, as the engine's logging does
        return l_total

    last = benchmark.pedantic(cycle, rounds=2 if device.type == "cpu" else 10, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.mean
    images_per_s = CYCLE * BATCH / seconds
    benchmark.extra_info.update({"images_per_s": round(images_per_s, 2), "device": str(device),
                                 "amp": amp.mode, "channels_last": fmt == torch.channels_last,
                                 "batch": BATCH, "steps_per_round": CYCLE, "input": cfg["input"],
                                 "threads": torch.get_num_threads()})
    print(f"\ncmGAN ResNet-50 288x144 on {device} ({amp.mode}): {images_per_s:.1f} training images/s")
    assert images_per_s > 0 and torch.isfinite(torch.tensor(last))
