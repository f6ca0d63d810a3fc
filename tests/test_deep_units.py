"""Unit tests of the deep-method building blocks: losses, sampler, augmentation,
input encodings, backbones, two-stream splits, presets, cmGAN's alternation, AGW's
parts and the registry."""
from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.errors import ReidbenchError
from reidbench.methods.deep import backbones
from reidbench.methods.deep.cmgan import CmGAN, CmganTask, phase_of
from reidbench.methods.deep.config import CMGAN_CONFIG, COMMON_CONFIG
from reidbench.methods.deep.data import Augmenter, InputProfile
from reidbench.methods.deep.encoding import GREY_MEAN, GREY_STD, InputEncoder
from reidbench.methods.deep.losses import cross_modality_triplet, weighted_regularization_triplet
from reidbench.methods.deep.method import resolve_preset
from reidbench.methods.deep.sampler import IdentityModalitySampler
from reidbench.methods.deep.task import Amp, Batch
from reidbench.registry import get_method

TABLE1 = Path(__file__).resolve().parents[1] / "reidbench" / "paper_table1.csv"


# ---------------------------------------------------------------- triplet loss
def _brute_force_triplet(x: torch.Tensor, pids: list[int], mods: list[int], margin: float) -> float:
    terms = []
    for a, p, n in itertools.product(range(len(x)), repeat=3):
        if pids[a] == pids[p] and pids[a] != pids[n] and mods[a] != mods[p] and mods[a] != mods[n]:
            d_ap = float(((x[a] - x[p]) ** 2).sum())
            d_an = float(((x[a] - x[n]) ** 2).sum())
            terms.append(max(d_ap - d_an + margin, 0.0))
    return float(np.mean(terms))


def test_triplet_all_matches_brute_force_over_cross_modal_triplets() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 5)
    pids, mods = [0, 0, 1, 1, 2, 2, 0, 1], [0, 1, 0, 1, 0, 1, 0, 1]
    got = cross_modality_triplet(x, torch.tensor(pids), torch.tensor(mods), margin=1.4).loss
    assert got.item() == pytest.approx(_brute_force_triplet(x, pids, mods, 1.4), rel=1e-5)
    summed = cross_modality_triplet(x, torch.tensor(pids), torch.tensor(mods), 1.4, reduction="sum").loss
    n_triplets = sum(1 for a, p, n in itertools.product(range(8), repeat=3)
                     if pids[a] == pids[p] != pids[n] and mods[a] != mods[p] and mods[a] != mods[n])
    assert summed.item() == pytest.approx(got.item() * n_triplets, rel=1e-5)


def test_triplet_ignores_same_modality_pairs() -> None:
    # Identity 0's two RGB images are far apart; only cross-modal distances may count.
    x = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 0.1], [5.0, 5.0], [5.0, 5.1]])
    pids, mods = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0, 1, 0, 1])
    ref = _brute_force_triplet(x, pids.tolist(), mods.tolist(), 0.5)
    assert cross_modality_triplet(x, pids, mods, 0.5).loss.item() == pytest.approx(ref, rel=1e-6)


def test_triplet_batch_hard_uses_farthest_positive_and_nearest_negative() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0], [0.5]])  # id 0: RGB 0.0, IR 1.0; id 1: RGB 3.0, IR 0.5
    pids, mods = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    got = cross_modality_triplet(x, pids, mods, margin=0.0, mining="batch_hard", squared=False).loss
    # anchors: a0 (p=IR 1.0: 1, n=IR 0.5: .5) -> .5; a1 (p=0: 1, n=3: 2) -> 0;
    #          a2 (p=.5: 2.5, n=1: 2) -> .5; a3 (p=3: 2.5, n=0: .5) -> 2
    assert got.item() == pytest.approx((0.5 + 0 + 0.5 + 2.0) / 4)


def test_triplet_random_mining_is_valid_and_seeded() -> None:
    torch.manual_seed(1)
    x = torch.randn(12, 4)
    pids, mods = torch.arange(12) // 2, torch.arange(12) % 2
    torch.manual_seed(5)
    a = cross_modality_triplet(x, pids, mods, 1.0, mining="random").loss
    torch.manual_seed(5)
    b = cross_modality_triplet(x, pids, mods, 1.0, mining="random").loss
    assert a.item() == b.item()
    # one positive per anchor here, so the random loss is bounded by the hardest-negative loss
    hard = cross_modality_triplet(x, pids, mods, 1.0, mining="batch_hard").loss
    assert 0 <= a.item() <= hard.item() + 1e-6


def test_the_margin_decides_how_many_triplets_are_active() -> None:
    # L2-normalised features of 10 identities: squared distances lie in [0, 4], so the
    # margin competes with them (with raw 2048-d features they are in the hundreds)
    torch.manual_seed(2)
    pids, mods = torch.arange(20) % 10, torch.arange(20) // 10
    x = torch.nn.functional.normalize(torch.randn(10, 8)[pids] + 0.5 * torch.randn(20, 8), dim=1)
    active = [cross_modality_triplet(x, pids, mods, m).active.item() for m in (0.0, 0.5, 1.4, 4.0)]
    assert active == sorted(active) and active[0] < 0.1 and active[-1] == 1.0
    assert 0.2 < active[2] < 0.8  # the paper's 1.4: separated identities still leave some triplets active
    assert cross_modality_triplet(x * 30, pids, mods, 1.4).active.item() < 0.1  # raw scale: the margin hardly acts


def _brute_force_wrt(x: torch.Tensor, pids: list[int]) -> float:
    """AGW's weighted-regularisation triplet, anchor by anchor."""
    d = torch.cdist(x.double(), x.double())
    out = []
    for a in range(len(x)):
        p = [j for j in range(len(x)) if pids[j] == pids[a]]
        n = [j for j in range(len(x)) if pids[j] != pids[a]]
        wp = torch.softmax(d[a, p], 0)
        wn = torch.softmax(-d[a, n], 0)
        far, near = float((d[a, p] * wp).sum()), float((d[a, n] * wn).sum())
        out.append(np.log1p(np.exp(far - near)))
    return float(np.mean(out))


def test_weighted_regularization_triplet_matches_its_definition() -> None:
    torch.manual_seed(3)
    x = torch.randn(12, 6)
    pids = [0, 0, 1, 1, 2, 2, 0, 1, 2, 3, 3, 3]
    got = weighted_regularization_triplet(x, torch.tensor(pids)).item()
    assert got == pytest.approx(_brute_force_wrt(x, pids), rel=1e-4)


# ---------------------------------------------------------------------- sampler
def _toy_labels() -> tuple[np.ndarray, np.ndarray]:
    pids = np.repeat(np.arange(12), 6)
    mods = np.tile([0, 0, 0, 0, 1, 1], 12)
    pids[-6:] = 99  # identity 99 ...
    mods[-6:] = 0  # ... has no IR image: never sampled
    return pids, mods


def test_sampler_draws_p_identities_with_k_images_per_modality() -> None:
    pids, mods = _toy_labels()
    s = IdentityModalitySampler(pids, mods, ids_per_batch=5, per_modality=2, seed=0)
    assert s.batches_per_epoch == 2  # 11 usable identities // 5
    seen = []
    for _ in range(2):
        b = s.next_global()
        assert len(b) == 20
        groups = b.reshape(5, 4)
        assert all(len(set(pids[g])) == 1 for g in groups)
        assert (mods[groups] == [0, 0, 1, 1]).all()
        seen += list(pids[groups[:, 0]])
    assert len(set(seen)) == 10 and 99 not in seen  # one epoch: no identity twice
    s.next_global()
    assert s.epoch == 1


def test_sampler_state_restores_the_stream_and_shards_cover_the_batch() -> None:
    pids, mods = _toy_labels()
    a = IdentityModalitySampler(pids, mods, 4, 1, seed=3)
    for _ in range(5):
        a.next_global()
    b = IdentityModalitySampler(pids, mods, 4, 1, seed=99)
    b.load_state_dict(a.state_dict())
    assert all(np.array_equal(a.next_global(), b.next_global()) for _ in range(7))
    r0 = IdentityModalitySampler(pids, mods, 4, 1, seed=3, rank=0, world_size=2)
    r1 = IdentityModalitySampler(pids, mods, 4, 1, seed=3, rank=1, world_size=2)
    single = IdentityModalitySampler(pids, mods, 4, 1, seed=3)
    for _ in range(4):
        g = single.next_global()
        assert np.array_equal(np.concatenate([r0.shard(r0.next_global()), r1.shard(r1.next_global())]), g)


def test_sampler_clamps_batch_to_small_training_sets_and_rejects_bad_sharding() -> None:
    pids, mods = _toy_labels()
    assert IdentityModalitySampler(pids, mods, 20, 1, seed=0).ids_per_batch == 11
    with pytest.raises(ReidbenchError, match="multiple of the world size"):
        IdentityModalitySampler(pids, mods, 5, 1, seed=0, rank=0, world_size=2)


# ------------------------------------------------------------------ augmentation
def test_augmenter_matches_naive_flip_pad_crop_and_restores_state() -> None:
    aug = Augmenter(InputProfile("t", 6, 4, flip=True, pad=2), erase=0.0, seed=0)
    x = torch.randint(0, 256, (16, 3, 6, 4), dtype=torch.uint8)
    params = aug.draw(16)
    out = aug.apply(x, params)
    for i in range(16):
        img = x[i].flip(-1) if params[i, 0] else x[i]
        padded = torch.nn.functional.pad(img, (2, 2, 2, 2))
        dy, dx = int(params[i, 1]), int(params[i, 2])
        assert torch.equal(out[i], padded[:, dy:dy + 6, dx:dx + 4].float() / 255)
    assert params[:, 0].min() == 0 and params[:, 0].max() == 1
    state = aug.state_dict()
    first = aug.draw(8)
    aug.load_state_dict(state)
    assert torch.equal(aug.draw(8), first)


def test_random_erasing_fills_one_box_with_the_mean_and_replays_from_its_state() -> None:
    from reidbench.methods.deep.encoding import IMAGENET_MEAN

    aug = Augmenter(InputProfile("t", 32, 16, flip=False, pad=0), erase=1.0, seed=0)
    x = torch.zeros(64, 3, 32, 16, dtype=torch.uint8)
    state = aug.state_dict()
    params = aug.draw(64)
    out = aug.apply(x, params)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    for i in range(64):
        on, top, left, h, w = (int(v) for v in params[i, 3:])
        erased = (out[i] != 0).any(0)
        if not on:
            assert not erased.any()
            continue
        assert erased.sum() == h * w and erased[top:top + h, left:left + w].all()
        assert torch.allclose(out[i][:, top:top + h, left:left + w], mean.expand(3, h, w))
        assert 0.02 * 32 * 16 * 0.8 <= h * w <= 0.4 * 32 * 16 * 1.2
    assert params[:, 3].float().mean() > 0.8  # almost every draw finds a box that fits
    aug.load_state_dict(state)
    assert torch.equal(aug.draw(64), params)
    assert Augmenter(InputProfile("t", 32, 16, flip=True, pad=2), erase=0.0, seed=0).draw(5).shape == (5, 3)


# ---------------------------------------------------------------------- encoding
def test_zero_padding_puts_grey_in_the_modality_channel_and_zero_elsewhere() -> None:
    x = torch.rand(4, 3, 5, 3)
    mods = torch.tensor([0, 1, 0, 1])
    out = InputEncoder("zero_pad")(x, mods)
    grey = ((0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]) - GREY_MEAN) / GREY_STD
    assert out.shape == (4, 2, 5, 3)
    assert torch.allclose(out[[0, 2], 0], grey[[0, 2]], atol=1e-6) and (out[[0, 2], 1] == 0).all()
    assert torch.allclose(out[[1, 3], 1], grey[[1, 3]], atol=1e-6) and (out[[1, 3], 0] == 0).all()
    ir = x[:, :1].expand(-1, 3, -1, -1)  # an IR image has equal channels: grey = its value
    assert torch.allclose(InputEncoder("grey")(ir, mods)[:, 0], (x[:, 0] - GREY_MEAN) / GREY_STD, atol=1e-6)


# --------------------------------------------------------------------- backbones
def test_channel_sum_init_gives_a_grey_image_its_replicates_response(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rgb = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(rgb.state_dict(), path)
    grey_net = backbones.build_backbone("resnet18", str(path), in_channels=1).eval()
    two = backbones.build_backbone("resnet18", str(path), in_channels=2).eval()
    rgb.fc = torch.nn.Identity()
    rgb.eval()
    g = torch.rand(2, 1, 64, 32)
    with torch.no_grad():
        ref = rgb(g.expand(-1, 3, -1, -1))
        assert torch.allclose(grey_net(g), ref, atol=1e-5)
        # zero-padding: the grey image in either channel, zero in the other
        assert torch.allclose(two(torch.cat([g, torch.zeros_like(g)], 1)), ref, atol=1e-5)
        assert torch.allclose(two(torch.cat([torch.zeros_like(g), g], 1)), ref, atol=1e-5)


def test_last_stride_one_doubles_the_final_resolution() -> None:
    for name in ("resnet50", "resnet_tiny"):
        a = backbones.build_backbone(name, "none", last_stride=2)
        b = backbones.build_backbone(name, "none", last_stride=1)
        x = torch.rand(1, 3, 64, 32)
        fa = a.layer4(a.layer3(a.layer2(a.layer1(backbones.stem(a)(x)))))
        fb = b.layer4(b.layer3(b.layer2(b.layer1(backbones.stem(b)(x)))))
        assert fb.shape[-2:] == (2 * fa.shape[-2], 2 * fa.shape[-1])
        assert backbones.feature_dim(a) == fa.shape[1]


def test_missing_imagenet_weights_explain_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(ReidbenchError) as err:
        backbones.build_backbone("resnet50", "imagenet")
    msg = str(err.value)
    assert "download.pytorch.org" in msg and "weights=PATH" in msg and "weights=none" in msg
    with pytest.raises(ReidbenchError, match="not found"):
        backbones.build_backbone("resnet50", "/nonexistent/r50.pth")
    with pytest.raises(ReidbenchError, match="no ImageNet weights"):
        backbones.build_backbone("resnet_mini", "imagenet")


def test_two_stream_split_of_a_modality_major_batch_equals_each_modality_alone() -> None:
    from reidbench.methods.deep.wu2017 import TwoStream

    torch.manual_seed(0)
    net = TwoStream({"backbone": "resnet_tiny", "weights": "none", "last_stride": 2, "specific": "stem",
                     "color": False}, num_classes=5, progress=False).eval()
    x, mods = torch.rand(6, 3, 32, 16), torch.tensor([0, 0, 0, 0, 1, 1])
    with torch.no_grad():
        both = net.features(x, mods, n_rgb=4)
        rgb = net.features(x[:4], mods[:4], n_rgb=4)
        ir = net.features(x[4:], mods[4:], n_rgb=0)
    assert torch.allclose(both, torch.cat([rgb, ir]), atol=1e-6)
    assert not torch.allclose(net.features(x[4:], mods[:2], n_rgb=2), ir, atol=1e-3)  # the streams differ


def test_agw_network_parts() -> None:
    from reidbench.methods.deep.agw import NonLocal, agw_lr_factor, gem

    # AGW's schedule over 81 "epochs" of the budget: warm-up, then x0.1 at 20 and x0.01 at 50
    assert [agw_lr_factor(e * 10, 810) for e in (0, 4, 9, 10, 19, 20, 49, 50, 80)] == \
        pytest.approx([0.1, 0.5, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    block = NonLocal(8).eval()
    x = torch.rand(2, 8, 6, 4)
    with torch.no_grad():
        assert torch.equal(block(x), x)  # starts as the identity
        assert torch.allclose(gem(x, 1.0), x.mean((2, 3)), atol=1e-6)
        assert (gem(x, 3.0) >= x.mean((2, 3)) - 1e-6).all()  # p > 1 leans toward the maximum
    spec = get_method("agw")
    assert spec.label == "AGW" and spec.family == "deep"
    cfg = spec.config
    assert (cfg["ids_per_batch"], cfg["imgs_per_modality"], cfg["last_stride"], cfg["gem_p"]) == (8, 4, 1, 3.0)


# ----------------------------------------------------------------------- presets
def test_presets_fill_unset_keys_by_device_and_keep_user_values() -> None:
    cfg = get_method("cmgan").config
    cpu = resolve_preset(cfg, "cpu", {"cpu": {"lr_g": 0.5}})
    assert cpu["preset"] == "cpu" and cpu["backbone"] == "resnet_mini" and cpu["weights"] == "none"
    assert cpu["lr_g"] == 0.5
    gpu = resolve_preset(cfg, "cuda", {})
    assert gpu["preset"] == "paper" and gpu["backbone"] == "resnet50" and gpu["input"] == "agw_288x144"
    assert gpu["steps"] == 60000
    mine = resolve_preset({**cfg, "preset": "paper", "steps": 7, "backbone": "resnet18"}, "cpu", {})
    assert mine["preset"] == "paper" and mine["steps"] == 7 and mine["backbone"] == "resnet18"
    with pytest.raises(ReidbenchError, match="unknown preset"):
        resolve_preset({**cfg, "preset": "fast"}, "cpu", {})


# ------------------------------------------------------------ cmGAN alternation
def test_alternation_schedules() -> None:
    assert [phase_of(s, 5, "k_then_1") for s in range(12)] == (["gen"] * 5 + ["dis"]) * 2
    assert [phase_of(s, 5, "paper_literal") for s in range(10)] == (["dis"] + ["gen"] * 4) * 2


def _cmgan_task(**over: object) -> CmganTask:
    cfg = resolve_preset({**COMMON_CONFIG, **CMGAN_CONFIG, "backbone": "resnet_tiny", "steps": 12, **over},
                         "cpu", CmGAN.preset_values)
    torch.manual_seed(0)
    return CmganTask(cfg, num_classes=4, device=torch.device("cpu"), progress=False)


def _batch() -> Batch:
    """Four identities, RGB rows first (the engine's modality-major order)."""
    torch.manual_seed(1)
    return Batch(torch.rand(8, 3, 32, 16), torch.arange(8) % 4, torch.arange(8) // 4, n_rgb=4)


def _params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_generator_steps_freeze_d_and_discriminator_steps_detach_g() -> None:
    task = _cmgan_task()
    amp = Amp("auto", torch.device("cpu"), list(task.optimizers))
    g0, d0 = _params(task.generator), _params(task.discriminator)
    phase, values = task.train_step(0, _batch(), task.networks, amp)
    assert phase == "gen"
    assert all(torch.equal(a, b) for a, b in zip(d0, _params(task.discriminator)))
    assert any(not torch.equal(a, b) for a, b in zip(g0, _params(task.generator)))
    assert values["l_total"].item() == pytest.approx(
        values["l_tri"].item() + values["l_ide"].item() - 0.05 * values["l_dis"].item(), rel=1e-5)
    g1 = _params(task.generator)
    phase, values = task.train_step(5, _batch(), task.networks, amp)
    assert phase == "dis"
    assert all(torch.equal(a, b) for a, b in zip(g1, _params(task.generator)))
    assert any(not torch.equal(a, b) for a, b in zip(d0, _params(task.discriminator)))
    assert values["l_total"].item() == pytest.approx(task.d_scale * values["l_dis"].item(), rel=1e-6)
    assert set(values) == set(CmganTask.columns)


def test_gradient_reversal_pushes_the_generator_against_the_discriminator() -> None:
    task = _cmgan_task(adversary="grl", alpha=1e-9, beta=1e-9, gamma=0.5, d_loss_scale="1")
    feat, _ = task.generator(_batch().images, _batch().modalities)
    feat = feat.detach().requires_grad_(True)
    from reidbench.methods.deep.cmgan import _GradReverse
    from reidbench.methods.deep.losses import modality_loss
    l_dis, _ = modality_loss(task.discriminator(_GradReverse.apply(feat, 0.5)), _batch().modalities)
    (g_rev,) = torch.autograd.grad(l_dis, feat)
    l_dis, _ = modality_loss(task.discriminator(feat), _batch().modalities)
    (g_plain,) = torch.autograd.grad(l_dis, feat)
    assert torch.allclose(g_rev, -0.5 * g_plain, atol=1e-7)
    assert list(task.optimizers) == ["g"] and len(task.optimizers["g"].param_groups) == 2


def test_ablations_drop_the_unused_parts() -> None:
    assert _cmgan_task(beta=0.0).generator.id_head is None
    assert _cmgan_task(gamma=0.0).discriminator is None
    with pytest.raises(ReidbenchError, match="alpha and beta"):
        _cmgan_task(alpha=0.0, beta=0.0)


def test_discriminator_divergence_stops_the_run() -> None:
    task = _cmgan_task(dis_diverge=5.0)
    task.check(0, {"l_dis": 0.7})
    with pytest.raises(ReidbenchError, match="diverged"):
        for step in range(1, 60):
            task.check(step, {"l_dis": 50.0})


# ---------------------------------------------------------------------- registry
def test_registered_labels_are_table1_rows() -> None:
    with TABLE1.open() as fh:
        rows = {r["method"]: r["label"] for r in csv.DictReader(line for line in fh if not line.startswith("#"))}
    for name in ("cmgan", "cmgan_triplet_only", "cmgan_id_only", "one_stream", "two_stream", "asym_fc",
                 "zero_padding"):
        spec = get_method(name)
        assert spec.family == "deep" and spec.label == rows[name]
    assert get_method("cmgan_triplet_only").config["beta"] == 0.0
    assert get_method("cmgan_id_only").config["alpha"] == 0.0
    assert get_method("cmgan").config["margin"] == 1.4 and get_method("cmgan").config["gamma"] == 0.05
