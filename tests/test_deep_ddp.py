"""DDP through torchrun: two CPU processes on the gloo backend.

Run as a script (by torchrun, from the test below), this file trains on every
rank and saves what each rank ended with; the test then checks that the ranks
agree and that a BN-free model trained on two processes equals the same model
trained on one process with the same global batches.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from reidbench.data.sysu import load_sysu
from reidbench.data.imageset import ImageSet
from reidbench.methods.base import RunContext
from reidbench.methods.deep.data import get_profile
from reidbench.methods.deep.engine import Engine, EngineSettings
from reidbench.methods.deep.losses import identity_loss
from reidbench.methods.deep.task import Amp, Batch, Task

CMGAN_FAST = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 12, "eval_every": 6,
              "ids_per_batch": 4, "imgs_per_modality": 2}


def split(root: Path, name: str) -> ImageSet:
    """The images of one split, through the dataset reader."""
    return getattr(load_sysu(root), name)


class PixelLinear(nn.Module):
    """Pooled pixels -> identity logits: no batch statistics, so DDP must equal one process."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 4, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x, (8, 4)).flatten(1)

    def forward(self, x: torch.Tensor, modalities: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class LinearTask(Task):
    columns: ClassVar[tuple[str, ...]] = ("l_ide",)

    def __init__(self, num_classes: int, device: torch.device = torch.device("cpu")):
        torch.manual_seed(0)
        self.net = PixelLinear(num_classes)
        self.networks = {"net": self.net}
        self.optimizers = {"net": torch.optim.SGD(self.net.parameters(), lr=0.5, momentum=0.9)}
        self.schedulers = {"net": torch.optim.lr_scheduler.MultiStepLR(self.optimizers["net"], [])}

    def train_step(self, step: int, batch: Batch, nets: Mapping[str, nn.Module],
                   amp: Amp) -> tuple[str, dict[str, torch.Tensor | float]]:
        loss = identity_loss(nets["net"](batch.images, batch.modalities), batch.labels)
        amp.step(loss, self.optimizers["net"], "net")
        return "train", {"l_ide": loss.detach()}

    def embed(self, images: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return self.net.features(images)


def train_linear(train: ImageSet, work: Path) -> dict[str, torch.Tensor]:
    settings = EngineSettings(method="linear", config={}, steps=10, eval_every=10, ckpt_every=10,
                              ids_per_batch=4, per_modality=2, profile=get_profile("cpu_64x32"))
    engine = Engine(settings, LinearTask)
    engine.fit(train, None, RunContext(seed=1, device="cpu", cache_dir=work / "cache", work_dir=work / "linear",
                                       progress=False))
    assert engine.task is not None
    return {k: v.clone() for k, v in engine.task.networks["net"].state_dict().items()}


def worker(data: Path, out: Path) -> None:
    """One rank: the linear task, then a short cmGAN run with validation and embedding.

    Two fits in one process, as the runner does with several methods: the second
    must reuse the process group, not re-create it over the first one's store keys.
    """
    import reidbench.methods.deep.zoo  # noqa: F401
    from reidbench.registry import create_method

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    train, val, test = (split(data, n) for n in ("train", "val", "test"))
    result: dict[str, Any] = {"linear": train_linear(train, out)}
    method = create_method("cmgan", CMGAN_FAST)
    ctx = RunContext(seed=0, device="cpu", cache_dir=out / "cache", work_dir=out / "cmgan", progress=False)
    method.fit(train, val, ctx)
    result["cmgan"] = {f"{n}.{k}": v for n, net in method.engine.task.networks.items()
                       for k, v in net.state_dict().items()}
    result["embedding"] = method.embed(test, ctx)
    result["report"] = method.provenance()["training"]
    torch.save(result, out / f"rank{rank}.pt")


def test_two_gloo_processes_agree_and_equal_one_process(tmp_path: Path) -> None:
    from reidbench.data.synth import generate

    data = tmp_path / "tiny"
    generate(data, preset="tiny", seed=0, progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
         __file__, str(data), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))

    # both ranks end with the same weights (BN statistics included) and the same embeddings
    assert r0["cmgan"].keys() == r1["cmgan"].keys()
    assert all(torch.equal(r0["cmgan"][k], r1["cmgan"][k]) for k in r0["cmgan"])
    assert np.array_equal(r0["embedding"], r1["embedding"])
    assert r0["embedding"].shape[0] == len(split(data, "test"))
    report = r0["report"]
    assert report["world_size"] == 2 and report["global_batch"] == 16 and report["per_rank_batch"] == 8
    assert [h["step"] for h in report["selection"]["history"]] == [6, 12]
    assert (tmp_path / "cmgan" / "last.pt").exists()
    assert len((tmp_path / "cmgan" / "losses.csv").read_text().splitlines()) == 13

    # the BN-free model: 2 ranks x 2 identities == 1 process x 4 identities
    single = train_linear(split(data, "train"), tmp_path / "single")
    for k in single:
        assert torch.equal(r0["linear"][k], r1["linear"][k])
        assert torch.allclose(r0["linear"][k], single[k], atol=1e-5), k
    assert not torch.allclose(single["fc.weight"], LinearTask(len(np.unique(split(data, "train").pids)))
                              .net.fc.weight, atol=1e-3)  # it did train


if __name__ == "__main__":
    worker(Path(sys.argv[1]), Path(sys.argv[2]))
