"""cmGAN's open choices behave as the method card says, in short CPU runs on the ``tiny`` replica:
the discriminator learns when its loss is not scaled down by gamma, the margin decides how
many triplets stay active on L2-normalised features, and test features share the training
geometry."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.data.sysu import SysuDataset
from reidbench.methods.base import RunContext
from reidbench.registry import create_method

SHORT = {"backbone": "resnet_tiny", "input": "cpu_64x32", "imgs_per_modality": 2}


def train(tiny: SysuDataset, tmp_path: Path, tag: str, **config: Any) -> tuple[Any, list[dict[str, str]]]:
    """Fit cmGAN on tiny; the method and its loss log."""
    work = tmp_path / tag
    method = create_method("cmgan", {**SHORT, **config})
    method.fit(tiny.train, tiny.val, RunContext(seed=1, device="cpu", cache_dir=tmp_path / "cache", work_dir=work,
                                                progress=False))
    with (work / "losses.csv").open(newline="") as fh:
        return method, list(csv.DictReader(fh))


def last_quarter(rows: list[dict[str, str]], column: str, phase: str) -> float:
    values = [float(r[column]) for r in rows if r["phase"] == phase]
    return float(np.mean(values[-len(values) // 4:]))


def test_the_discriminator_learns_unless_its_loss_is_scaled_by_gamma(tiny: SysuDataset, tmp_path: Path) -> None:
    # eta = 1/gamma (d_loss_scale = 1): D steps at its own rate and tells the modalities apart;
    # eta = 1 (eta*gamma = 0.05) divides its rate by 20 and it stays at chance
    common = {"steps": 80, "eval_every": 80, "k_gen": 1, "normalize": "false", "lr_d": 0.01}
    method, learns = train(tiny, tmp_path, "scale1", d_loss_scale="1", **common)
    _, scaled = train(tiny, tmp_path, "scaled", d_loss_scale="eta*gamma", **common)
    assert last_quarter(learns, "d_acc", "dis") >= 0.7
    assert last_quarter(scaled, "d_acc", "dis") <= 0.56
    assert method.provenance()["decisions"]["weights"]["eta"] == pytest.approx(20.0)
    features = method.embed(tiny.test.subset(np.arange(20)), RunContext(device="cpu", cache_dir=tmp_path / "cache"))
    assert not np.allclose(np.linalg.norm(features, axis=1), 1.0)  # raw at training, raw at test


def test_the_margin_acts_on_normalised_features(tiny: SysuDataset, tmp_path: Path) -> None:
    common = {"steps": 60, "eval_every": 60, "normalize": "true"}
    method, small = train(tiny, tmp_path, "m01", margin=0.1, **common)
    _, paper = train(tiny, tmp_path, "m14", margin=1.4, **common)
    assert last_quarter(small, "tri_active", "gen") < 0.4 < last_quarter(paper, "tri_active", "gen")
    features = method.embed(tiny.test.subset(np.arange(20)), RunContext(device="cpu", cache_dir=tmp_path / "cache"))
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)  # normalised at training and at test
