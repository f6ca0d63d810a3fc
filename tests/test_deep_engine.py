"""The deep training engine end to end on the synthetic ``tiny`` dataset:
exact resume after Ctrl-C, non-finite losses, checkpoint mismatches, the loss log
and the validation-based selection."""
from __future__ import annotations

import csv
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.data.sysu import SysuDataset
from reidbench.data.imageset import ImageSet
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext
from reidbench.methods.deep.cmgan import CmganTask
from reidbench.registry import create_method

# A cmGAN small enough for a test: 12 steps = 2 cycles of 5 generator + 1 discriminator step.
FAST = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 12, "eval_every": 4,
        "ids_per_batch": 4, "imgs_per_modality": 2}


@pytest.fixture(scope="module")
def sets(tiny: SysuDataset) -> dict[str, ImageSet]:
    """Splits of the shared tiny replica (conftest)."""
    return {name: getattr(tiny, name) for name in ("train", "val", "test")}


def context(tmp_path: Path, work: str, resume: bool = False) -> RunContext:
    return RunContext(seed=3, device="cpu", cache_dir=tmp_path / "cache", work_dir=tmp_path / work,
                      progress=False, resume=resume)


def weights(method: Any) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v for n, net in method.engine.task.networks.items() for k, v in net.state_dict().items()}


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_resume_after_ctrl_c_replays_the_uninterrupted_run_bit_for_bit(
        sets: dict[str, ImageSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Random mining draws from torch's global generator: its state must survive too.
    config = {**FAST, "mining": "random"}
    straight = create_method("cmgan", config)
    straight.fit(sets["train"], sets["val"], context(tmp_path, "straight"))
    expected = straight.embed(sets["test"], context(tmp_path, "straight"))

    real_step = CmganTask.train_step

    def ctrl_c_at_step_6(self: CmganTask, step: int, *args: Any) -> Any:
        if step == 6:  # a real SIGINT: the handler defers it to the end of the step
            signal.raise_signal(signal.SIGINT)
        return real_step(self, step, *args)

    monkeypatch.setattr(CmganTask, "train_step", ctrl_c_at_step_6)
    handler = signal.getsignal(signal.SIGINT)
    first = create_method("cmgan", config)
    with pytest.raises(KeyboardInterrupt):
        first.fit(sets["train"], sets["val"], context(tmp_path, "resumed"))
    ckpt = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert ckpt["state"]["step"] == 7 and signal.getsignal(signal.SIGINT) is handler
    monkeypatch.setattr(CmganTask, "train_step", real_step)

    resumed = create_method("cmgan", config)
    resumed.fit(sets["train"], sets["val"], context(tmp_path, "resumed", resume=True))
    assert resumed.provenance()["training"]["resumed_from_step"] == 7
    got = resumed.embed(sets["test"], context(tmp_path, "resumed"))
    assert np.array_equal(got, expected)
    ws, wr = weights(straight), weights(resumed)
    assert ws.keys() == wr.keys() and all(torch.equal(ws[k], wr[k]) for k in ws)
    assert straight.provenance()["training"]["selection"] == resumed.provenance()["training"]["selection"]
    assert read_log(tmp_path / "straight" / "losses.csv") == read_log(tmp_path / "resumed" / "losses.csv")


def test_loss_log_records_every_term_of_both_phases(sets: dict[str, ImageSet], tmp_path: Path) -> None:
    m = create_method("cmgan", FAST)
    m.fit(sets["train"], sets["val"], context(tmp_path, "w"))
    rows = read_log(tmp_path / "w" / "losses.csv")
    assert list(rows[0]) == ["step", "epoch", "phase", "l_ide", "l_tri", "l_gen", "l_dis", "d_acc",
                             "tri_active", "l_total", "lr_g", "lr_d"]
    assert [r["step"] for r in rows] == [str(i) for i in range(12)]
    assert [r["phase"] for r in rows] == (["gen"] * 5 + ["dis"]) * 2
    for r in rows:
        assert all(r[c] != "" for c in rows[0] if c not in ("step", "epoch", "phase"))
        assert float(r["l_gen"]) == pytest.approx(float(r["l_tri"]) + float(r["l_ide"]), rel=1e-5)
    prov = m.provenance()
    assert prov["preset"] == "cpu" and prov["training"]["steps"] == 12
    sel = prov["training"]["selection"]
    assert [h["step"] for h in sel["history"]] == [4, 8, 12]
    best = max(sel["history"], key=lambda h: h["mAP"])
    assert sel["selected_step"] == best["step"] and sel["val"]["ids"] == 4
    assert Path(prov["training"]["checkpoint"]).name == "best.pt"


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(
        sets: dict[str, ImageSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = CmganTask.train_step

    def nan_at_step_5(self: CmganTask, step: int, *args: Any) -> Any:
        phase, values = real_step(self, step, *args)
        if step == 5:
            values["l_dis"] = torch.tensor(float("nan"))
        return phase, values

    monkeypatch.setattr(CmganTask, "train_step", nan_at_step_5)
    with pytest.raises(ReidbenchError, match=r"non-finite loss at step 5 \(l_dis=nan\).*last.pt \(step 4\)"):
        create_method("cmgan", FAST).fit(sets["train"], sets["val"], context(tmp_path, "w"))
    assert torch.load(tmp_path / "w" / "last.pt", weights_only=True)["state"]["step"] == 4


def test_resuming_another_methods_or_configs_checkpoint_is_an_error(
        sets: dict[str, ImageSet], tmp_path: Path) -> None:
    create_method("cmgan", {**FAST, "steps": 4}).fit(sets["train"], sets["val"], context(tmp_path, "w"))
    with pytest.raises(ReidbenchError, match="belongs to method 'cmgan', not 'one_stream'"):
        create_method("one_stream", {k: v for k, v in FAST.items()}).fit(
            sets["train"], sets["val"], context(tmp_path, "w", resume=True))
    with pytest.raises(ReidbenchError, match=r"another cmgan config \(margin: 1.4 -> 0.9\)"):
        create_method("cmgan", {**FAST, "steps": 4, "margin": 0.9}).fit(
            sets["train"], sets["val"], context(tmp_path, "w", resume=True))
    # the same config (eval_batch does not shape training) resumes a finished run without training
    trained = torch.load(tmp_path / "w" / "last.pt", weights_only=True)["state"]
    done = create_method("cmgan", {**FAST, "steps": 4, "eval_batch": 7, "log_every": 3})
    done.fit(sets["train"], sets["val"], context(tmp_path, "w", resume=True))
    report = done.provenance()["training"]
    assert report["resumed_from_step"] == 4 and report["train_time_s"] == round(trained["train_time_s"], 2)
    assert all(torch.equal(v, trained["selection"]["best_networks"]["generator"][k])
               for k, v in done.engine.task.networks["generator"].state_dict().items())


def _same(a: Any, b: Any) -> bool:
    """Deep equality of nested checkpoint contents (tensors compared exactly)."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and a != a and b != b)


def _train_state(train: ImageSet, seed: int) -> Any:
    from reidbench.methods.deep.data import Augmenter, get_profile
    from reidbench.methods.deep.sampler import IdentityModalitySampler
    from reidbench.methods.deep.state import TrainState
    from reidbench.methods.deep.task import Amp

    method = create_method("cmgan", FAST)
    config = method.resolved_config("cpu")
    torch.manual_seed(seed)
    task = method.build_task(config, int(len(np.unique(train.pids))), torch.device("cpu"), progress=False)
    return TrainState(task, Amp("auto", torch.device("cpu"), list(task.optimizers)),
                      IdentityModalitySampler(train.pids, train.modalities, 4, 2, seed=seed),
                      Augmenter(get_profile(config["input"]), config["erase"], seed=seed), torch.device("cpu"))


def _one_step(state: Any, images: torch.Tensor) -> None:
    """A training step as the engine takes it (sampler, augmenter, update), on a fixed image bank."""
    from reidbench.methods.deep.task import Batch

    idx = state.sampler.next_global()
    order = np.argsort(np.arange(len(idx)) % 4 >= 2, kind="stable")  # k = 2 RGB then 2 IR per identity
    params = state.augmenter.draw(len(idx))[torch.from_numpy(order)]
    x = state.augmenter.apply(images[torch.from_numpy(idx[order] % len(images))], params)
    labels = torch.from_numpy(idx[order] % 8)
    batch = Batch(x, labels, torch.from_numpy((np.arange(len(idx)) >= len(idx) // 2).astype(np.int64)),
                  len(idx) // 2)
    _, values = state.task.train_step(state.step, batch, state.task.networks, state.amp)
    state.task.check(state.step, {"l_dis": float(values["l_dis"])})  # cmGAN's running mean of l_dis
    state.step += 1
    state.train_time += 0.5


def test_train_state_round_trips_every_part_through_a_checkpoint(sets: dict[str, ImageSet], tmp_path: Path) -> None:
    import io
    import random

    images = torch.randint(0, 256, (32, 3, 64, 32), dtype=torch.uint8)
    trained = _train_state(sets["train"], seed=1)
    for _ in range(7):  # generator and discriminator steps: both optimisers, schedulers, streams move
        _one_step(trained, images)
    trained.selection.history.append({"step": 7, "mAP": 0.25})
    trained.selection.best_step, trained.selection.best_score = 7, 0.25
    saved = trained.state_dict()
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # as a checkpoint is read

    fresh = _train_state(sets["train"], seed=7)  # other initial weights and streams
    random.random(), np.random.rand(), torch.rand(3)  # the global RNGs move on too
    fresh.load_state_dict(loaded)
    assert _same(fresh.state_dict(), saved)  # every part, the global RNG states included
    assert fresh.step == 7 and fresh.train_time == 3.5 and fresh.selection.best_step == 7
    assert fresh.task.dis_ema == trained.task.dis_ema is not None

    # both continue identically: same batches, same augmentation, same update
    from reidbench.methods.deep.rng import restore_rng_state

    _one_step(fresh, images)
    restore_rng_state(loaded["rng"], torch.device("cpu"))
    _one_step(trained, images)
    a, b = trained.state_dict(), fresh.state_dict()
    assert _same(a["networks"], b["networks"]) and _same(a["optimizers"], b["optimizers"])
    assert _same(a["sampler"], b["sampler"]) and _same(a["augmenter"], b["augmenter"])


def test_progress_bar_moves_every_step_between_log_flushes(sets: dict[str, ImageSet], tmp_path: Path,
                                                           monkeypatch) -> None:
    """The bar's count follows every step (tqdm redraws by time); losses are fetched every log_every steps."""
    import reidbench.methods.deep.engine as engine

    counts: list[int] = []

    class Recording(engine.tqdm):  # type: ignore[misc,valid-type]
        def update(self, n: int = 1) -> bool | None:
            counts.append(n)
            return super().update(n)

    monkeypatch.setattr(engine, "tqdm", Recording)
    ctx = RunContext(seed=3, device="cpu", cache_dir=tmp_path / "cache", work_dir=tmp_path / "w", progress=True)
    create_method("cmgan", {**FAST, "steps": 6, "eval_every": 6, "log_every": 50}).fit(sets["train"], sets["val"], ctx)
    assert counts == [1] * 6
