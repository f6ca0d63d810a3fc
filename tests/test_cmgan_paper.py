"""cmGAN's paper preset and the paper's learning-rate raise (section 4.4)."""
from __future__ import annotations

from pathlib import Path

import torch

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.methods.deep.cmgan import CmGAN, CmganTask
from reidbench.methods.deep.config import CMGAN_CONFIG, COMMON_CONFIG
from reidbench.methods.deep.method import resolve_preset


def _task(**over: object) -> CmganTask:
    cfg = resolve_preset({**COMMON_CONFIG, **CMGAN_CONFIG, "backbone": "resnet_tiny", "steps": 12, **over},
                         "cpu", CmGAN.preset_values)
    torch.manual_seed(0)
    return CmganTask(cfg, num_classes=4, device=torch.device("cpu"), progress=False)


def _lrs(task: CmganTask) -> tuple[float, float]:
    return task.optimizers["g"].param_groups[0]["lr"], task.optimizers["d"].param_groups[0]["lr"]


def test_lr_raise_multiplies_the_generator_rate_once_the_triplet_falls_below_the_threshold() -> None:
    task = _task(lr_raise=10.0)
    g0, d0 = _lrs(task)
    task.check(3, {"l_tri": 0.5, "l_dis": 1.0})
    assert _lrs(task) == (g0, d0) and task.lr_raised_at is None
    task.check(4, {"l_tri": 0.05, "l_dis": 1.0})
    assert _lrs(task) == (g0 * 10, d0) and task.lr_raised_at == 4
    task.check(5, {"l_tri": 0.01, "l_dis": 1.0})  # once only
    task.optimizers["g"].step()  # no gradients: parameters stay; the scheduler may step after it
    task.schedulers["g"].step()  # the schedule keeps the raised rate
    assert _lrs(task) == (g0 * 10, d0)
    assert task.extra_state()["lr_raised_at"] == 4
    assert "x10 for the generator" in task.describe()["optimizers"]["lr_raise"]


def test_lr_raise_is_off_by_default() -> None:
    task = _task()
    g0, d0 = _lrs(task)
    task.check(4, {"l_tri": 0.0, "l_dis": 1.0})
    assert _lrs(task) == (g0, d0) and task.lr_raised_at is None


def _grid_e_rows() -> list[tuple[str, str, str, float]]:
    """(optimizer, normalize, reduction, val mAP) of every point of the card's grid E."""
    card = (Path(__file__).parents[1] / "methods" / "deep" / "CARD.md").read_text(encoding="utf-8")
    section = card.split("**Grid E:", 1)[1].split("**The learning-rate raise**", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in ("sgd", "adam"):
            rows.append((cells[0], cells[1], cells[2], float(cells[3].split("±")[0])))
    return rows


def test_the_paper_preset_follows_the_validation_grid_at_the_papers_rates() -> None:
    rows = _grid_e_rows()
    assert len(rows) == 8 and len({r[:3] for r in rows}) == 8  # sgd/adam x normalize x reduction
    optimizer, normalize, reduction, _ = max(rows, key=lambda r: r[3])
    paper = CmGAN.preset_values["paper"]
    assert (paper["lr_g"], paper["lr_d"]) == (1e-4, 1e-3)
    assert (paper["optimizer"], str(paper["normalize"]).lower(), paper["reduction"]) == (optimizer, normalize, reduction)
    cfg = resolve_preset({**COMMON_CONFIG, **CMGAN_CONFIG, "preset": "paper", "weights": "none"}, "cuda",
                         CmGAN.preset_values)
    assert (cfg["optimizer"], cfg["normalize"], cfg["reduction"], cfg["lr_raise"]) == ("sgd", False, "sum", 1.0)
