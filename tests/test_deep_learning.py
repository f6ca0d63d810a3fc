"""Every deep method learns: on the synthetic ``tiny`` dataset its test features
rank IR probes against the RGB gallery clearly better than random features (with
the method's own ranking distance), and cmGAN's generator loss goes down."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.data.sysu import SysuDataset
from reidbench.data.imageset import INFRARED, ImageSet
from reidbench.evaluation import evaluate_features
from reidbench.methods.base import RunContext
from reidbench.registry import create_method

# Small from-scratch networks, a few hundred steps: seconds per method on 2 cores.
LEARN = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 300, "eval_every": 100,
         "imgs_per_modality": 2}
METHODS = ("cmgan", "cmgan_triplet_only", "cmgan_id_only", "one_stream", "two_stream", "asym_fc",
           "zero_padding", "agw", "caj")
MARGIN = 0.02  # mAP above chance; random features spread by about 0.003 on this gallery


@pytest.fixture(scope="module")
def sets(tiny: SysuDataset) -> dict[str, ImageSet]:
    """Splits of the shared tiny replica, plus the test set cut into IR probes and RGB gallery."""
    sets = {name: getattr(tiny, name) for name in ("train", "val", "test")}
    ir = sets["test"].modality == INFRARED
    sets["probe"], sets["gallery"] = sets["test"].subset(ir), sets["test"].subset(~ir)
    return sets


@pytest.fixture(scope="module")
def chance(sets: dict[str, ImageSet]) -> float:
    """mAP of random features on this probe/gallery pair (mean of 50 draws)."""
    q, g = sets["probe"], sets["gallery"]
    rng = np.random.default_rng(0)
    return float(np.mean([evaluate_features(rng.normal(size=(len(q), 16)), rng.normal(size=(len(g), 16)),
                                            q_pids=q.pids, q_cams=q.cams, g_pids=g.pids, g_cams=g.cams).mAP for _ in range(50)]))


@pytest.mark.parametrize("name", METHODS)
def test_deep_method_beats_chance_on_unseen_identities(name: str, sets: dict[str, ImageSet], chance: float,
                                                       tmp_path: Path) -> None:
    ctx = RunContext(seed=1, device="cpu", cache_dir=tmp_path / "cache", work_dir=tmp_path / "work",
                     progress=False)
    method = create_method(name, LEARN)
    method.fit(sets["train"], sets["val"], ctx)
    q, g = sets["probe"], sets["gallery"]
    metrics = evaluate_features(method.embed(q, ctx), method.embed(g, ctx), q_pids=q.pids, q_cams=q.cams,
                                g_pids=g.pids, g_cams=g.cams,
                                metric=method.distance)
    assert metrics.mAP > chance + MARGIN, f"{name}: test mAP {metrics.mAP:.3f}, chance {chance:.3f}"

    if name.startswith("cmgan"):
        with (tmp_path / "work" / "losses.csv").open(newline="") as fh:
            l_gen = [float(r["l_gen"]) for r in csv.DictReader(fh) if r["phase"] == "gen"]
        fifth = len(l_gen) // 5
        assert np.mean(l_gen[-fifth:]) < np.mean(l_gen[:fifth]), f"{name}: l_gen did not go down"
