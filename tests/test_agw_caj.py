"""AGW as its official code builds it, and CAJ beside it (ICCV21_CAJ of the same repository)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.data.imageset import CameraFacts, image_set
from reidbench.errors import ReidbenchError
from reidbench.methods.deep.agw import AGWNet, NonLocal, with_val_identities
from reidbench.methods.deep.caj import CajTask, channel_exchange, squared_difference_triplet
from reidbench.methods.deep.data import Augmenter, get_profile
from reidbench.methods.deep.encoding import IMAGENET_MEAN, IMAGENET_STD
from reidbench.methods.deep.task import Batch
from reidbench.registry import create_method


def paper_config(method: str, **overrides: object) -> dict:
    """The ``paper`` preset as resolved on a GPU, without downloading ImageNet weights."""
    return create_method(method, {"preset": "paper", "weights": "none", **overrides}).resolved_config("cuda")


def nonlocal_inner_widths(config: dict) -> list[int]:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        net = AGWNet(config, num_classes=4, progress=False)
    return [block.theta.out_channels for block in net.modules() if isinstance(block, NonLocal)]


def test_agw_paper_preset_has_official_one_channel_nonlocal_blocks() -> None:
    config = paper_config("agw")
    assert config["backbone"] == "resnet50" and config["nonlocal_width"] == "official"
    assert nonlocal_inner_widths(config) == [1] * 5  # 2 after layer2, 3 after layer3
    assert nonlocal_inner_widths({**config, "nonlocal_width": "half"}) == [256] * 2 + [512] * 3


def test_agw_training_transform_has_no_erasing_and_caj_has_it() -> None:
    for method, erase, columns in (("agw", 0.0, 3), ("caj", 0.5, 8)):
        config = paper_config(method)
        assert config["erase"] == erase
        assert Augmenter(get_profile(config["input"]), config["erase"], seed=0).draw(4).shape == (4, columns)
    agw = create_method("agw", {"preset": "cpu"})
    assert agw.resolved_config("cpu")["erase"] == 0.0


def test_training_identities_are_a_recorded_choice() -> None:
    config = paper_config("agw")
    assert config["train_ids"] == "train"
    both = create_method("agw", {"train_ids": "train+val"})
    assert both.tags(both.resolved_config("cpu")) == ["cpu preset", "train+val"]
    assert create_method("agw").tags(config) == ["paper preset"]
    with pytest.raises(ReidbenchError, match="train_ids"):
        create_method("agw", {"train_ids": "val"})


def _images(pids: list[int]) -> object:
    n = len(pids)
    return image_set(Path("/data"), [f"img{p}_{i}.jpg" for i, p in enumerate(pids)], pids, [1] * n, [0] * n,
                     CameraFacts(location={}, modality={}))


def test_train_plus_val_joins_both_splits_and_refuses_shared_or_missing_identities() -> None:
    joined = with_val_identities(_images([1, 1, 2]), _images([7, 8]))
    assert sorted(set(joined.pids.tolist())) == [1, 2, 7, 8] and len(joined) == 5
    with pytest.raises(ReidbenchError, match="share identities"):
        with_val_identities(_images([1, 2]), _images([2, 3]))
    with pytest.raises(ReidbenchError, match="needs validation identities"):
        with_val_identities(_images([1, 2]), None)


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def test_channel_exchange_copies_one_normalised_channel_or_keeps_or_greys() -> None:
    torch.manual_seed(0)
    x = torch.rand(5, 3, 4, 2)
    out = _normalised(channel_exchange(x, torch.tensor([0, 1, 2, 3, 3]),
                                      torch.tensor([False, False, False, False, True])))
    z = _normalised(x)
    for i, c in enumerate((0, 1, 2)):
        assert torch.allclose(out[i], z[i, c].expand(3, -1, -1), atol=1e-6)
    assert torch.allclose(out[3], z[3], atol=1e-6)
    grey = 0.2989 * z[4, 0] + 0.5870 * z[4, 1] + 0.1140 * z[4, 2]
    assert torch.allclose(out[4], grey.expand(3, -1, -1), atol=1e-6)
    ir = x[:1, :1].expand(1, 3, 4, 2)  # an IR image: three equal channels, which normalisation tells apart
    assert not torch.allclose(channel_exchange(ir, torch.tensor([0]), torch.tensor([False])), ir, atol=1e-3)


def test_squared_difference_triplet_matches_its_definition() -> None:
    torch.manual_seed(1)
    x = torch.randn(10, 5)
    pids = [0, 0, 1, 1, 2, 2, 0, 1, 2, 2]
    d = torch.cdist(x.double(), x.double())
    expected = []
    for a in range(10):
        p = [j for j in range(10) if pids[j] == pids[a]]
        n = [j for j in range(10) if pids[j] != pids[a]]
        far = float((d[a, p] * torch.softmax(d[a, p], 0)).sum())
        near = float((d[a, n] * torch.softmax(-d[a, n], 0)).sum())
        sign = 1.0 if far > near else -1.0
        expected.append(np.log1p(np.exp(sign * min((far - near) ** 2, 88.0))))
    got = squared_difference_triplet(x, torch.tensor(pids)).item()
    assert got == pytest.approx(float(np.mean(expected)), rel=1e-4)


def test_caj_batch_holds_rgb_its_channel_exchanged_copy_and_ir() -> None:
    config = create_method("caj", {"preset": "cpu", "backbone": "resnet_tiny"}).resolved_config("cpu")
    torch.manual_seed(0)
    task = CajTask(config, num_classes=3, device=torch.device("cpu"), progress=False)
    images = torch.rand(6, 3, 8, 4)
    batch = Batch(images, torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 0, 0, 1, 1, 1]), 3)
    out, labels, modalities, n_rgb = task.augment(batch)
    assert n_rgb == 6 and out.shape == (9, 3, 8, 4)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2] and modalities.tolist() == [0] * 6 + [1] * 3
    assert torch.equal(out[:3], images[:3])
    copy = _normalised(out[3:6])
    assert all(torch.allclose(c, c[:1].expand(3, -1, -1), atol=1e-6) for c in copy)  # one channel, three times
    assert not torch.allclose(out[3:6], images[:3])


def test_caj_published_numbers_carry_their_protocol_lineage() -> None:
    from reidbench.paper import published_all
    from reidbench.registry import all_methods

    rows = published_all()
    caj = rows[rows["method"] == "caj"].set_index(["protocol", "setting"])
    assert "caj" in all_methods() and set(caj["label"]) == {"CAJ (ICCV 2021)"}
    assert tuple(caj.loc[("sysu-agw", "all-single"), ["r1", "mAP"]]) == (69.88, 66.89)
    assert tuple(caj.loc[("regdb", "v2t"), ["r1", "mAP"]]) == (85.03, 79.14)
    sysu_regdb = caj.loc[["sysu-agw", "regdb"]]
    assert len(sysu_regdb) == 3 and all(lineage.startswith("AGW lineage") for lineage in sysu_regdb["lineage"])
