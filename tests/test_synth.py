"""The synthetic SYSU-MM01 replica: layout, plans, determinism, appearance, atomicity."""
from __future__ import annotations

import colorsys
import csv
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy.stats import spearmanr

from reidbench.data import synth
from reidbench.errors import ReidbenchError

GALLERY_CAMS = {1, 2, 4, 5}
IR_CAMS = {3, 6}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("tiny") / "sysu", "tiny", seed=0, progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cams_of(pl: synth.SynthPlan) -> dict[int, set[int]]:
    cams: dict[int, set[int]] = {}
    for cam, pid, _ in pl.counts:
        cams.setdefault(pid, set()).add(cam)
    return cams


def _official_rows() -> list[dict[str, str]]:
    ref = resources.files("reidbench.data").joinpath("sysu_official/image_counts.csv")
    return list(csv.DictReader(io.StringIO(ref.read_text(encoding="utf-8"))))


def _official_ids(name: str) -> list[int]:
    with resources.files("reidbench.data").joinpath(f"sysu_official/{name}").open("rb") as fh:
        return sorted(scipy.io.loadmat(fh)["id"].astype(np.int64).ravel().tolist())


# ---------------------------------------------------------------- layout and plans


def test_tiny_writes_exact_layout(tiny_root: Path) -> None:
    pl = synth.plan("tiny")
    assert sorted(p.name for p in tiny_root.iterdir()) == [
        "SYNTHETIC.json", "cam1", "cam2", "cam3", "cam4", "cam5", "cam6", "exp"]
    written = {(int(d.parent.name[3:]), int(d.name)) for d in tiny_root.glob("cam*/*")}
    assert written == {(cam, pid) for cam, pid, _ in pl.counts}
    lo, hi = synth.PRESETS["tiny"].height_range
    for cam, pid, n in pl.counts:
        folder = tiny_root / f"cam{cam}" / f"{pid:04d}"
        assert sorted(p.name for p in folder.iterdir()) == [f"{i:04d}.jpg" for i in range(1, n + 1)]
    with Image.open(tiny_root / "cam1" / "0006" / "0001.jpg") as img:
        w, h = img.size
        assert img.format == "JPEG" and img.mode == "RGB"
    assert lo <= h <= hi and 1.9 <= h / w <= 3.1
    meta = json.loads((tiny_root / "SYNTHETIC.json").read_text())
    assert (meta["preset"]["name"], meta["seed"], meta["n_images"]) == ("tiny", 0, pl.n_images)
    assert meta["generator_version"] == synth.GENERATOR_VERSION


def test_tiny_exp_lists(tiny_root: Path) -> None:
    pl = synth.plan("tiny")
    lists = {}
    for name in ("train", "val", "test", "available"):
        text = (tiny_root / "exp" / f"{name}_id.txt").read_text()
        assert text.endswith("\n") and text.count("\n") == 1 and " " not in text
        lists[name] = [int(x) for x in text.strip().split(",")]
    assert lists["train"] == list(pl.train) and lists["val"] == list(pl.val)
    assert lists["test"] == list(pl.test)
    train, val, test = (set(lists[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert lists["available"] == sorted(train | val | test)
    assert {pid for _, pid, _ in pl.counts} == train | val | test


def test_tiny_preset_table() -> None:
    p, pl = synth.PRESETS["tiny"], synth.plan("tiny")
    real = {(int(r["cam"]), int(r["pid"])): int(r["n_images"]) for r in _official_rows()}
    assert (len(pl.train), len(pl.val), len(pl.test)) == (8, 4, 8)
    test = set(pl.test)
    for cam, pid, n in pl.counts:
        cap = (p.cap_test_rgb if cam in GALLERY_CAMS else p.cap_test_ir) if pid in test else p.cap_other
        assert n == min(real[(cam, pid)], cap)
        if pid in test and cam in GALLERY_CAMS:
            assert n == 10  # multi-shot 10 never runs short
    cams = _cams_of(pl)
    assert any(not cams[pid] & {1, 2} for pid in pl.test)
    assert all(cams[pid] & IR_CAMS and cams[pid] & GALLERY_CAMS for pid in pl.test)
    assert set(pl.test) <= set(_official_ids("test_id.mat"))
    assert set(pl.train) <= set(_official_ids("train_id.mat"))
    assert set(pl.val) <= set(synth.EXPECTED_FULL_VAL)


def test_small_preset_table() -> None:
    pl = synth.plan("small")
    assert (len(pl.train), len(pl.val), len(pl.test)) == (64, 16, 32)
    test = set(pl.test)
    assert all(n == 12 for cam, pid, n in pl.counts if pid in test and cam in GALLERY_CAMS)
    assert all(n <= 8 for cam, pid, n in pl.counts if pid in test and cam in IR_CAMS)
    assert all(n <= 6 for cam, pid, n in pl.counts if pid not in test)
    assert any(not _cams_of(pl)[pid] & {1, 2} for pid in pl.test)
    assert pl.n_images == 3854


def test_the_data_layer_owns_the_official_lists() -> None:
    from reidbench.data.sysu import official_counts, official_ids

    assert list(official_ids("train")) == _official_ids("train_id.mat") and len(official_ids("train")) == 296
    assert list(official_ids("test")) == _official_ids("test_id.mat") and len(official_ids("test")) == 96
    assert dict(official_counts()) == {(int(r["cam"]), int(r["pid"])): int(r["n_images"]) for r in _official_rows()}
    with pytest.raises(ReidbenchError, match="no official 'val' ID list"):
        official_ids("val")
    moved = resources.files("reidbench.protocols").joinpath("official")
    assert not any(moved.joinpath(n).is_file() for n in ("train_id.mat", "test_id.mat", "image_counts.csv"))


def test_full_plan_reproduces_real_counts_and_split() -> None:
    pl = synth.plan("full")
    real = sorted((int(r["cam"]), int(r["pid"]), int(r["n_images"])) for r in _official_rows())
    assert list(pl.counts) == real
    assert pl.n_images == 45863 and len(pl.counts) == 2298
    assert len({pid for _, pid, _ in pl.counts}) == 513
    assert (len(pl.train), len(pl.val), len(pl.test), len(pl.available)) == (296, 99, 96, 491)
    assert list(pl.val) == [i for i in range(334, 434) if i != 347]
    assert list(pl.train) == _official_ids("train_id.mat")
    assert list(pl.test) == _official_ids("test_id.mat")
    per_cam = {c: sum(n for cc, _, n in pl.counts if cc == c) for c in range(1, 7)}
    assert per_cam == {1: 6289, 2: 7528, 3: 9812, 4: 8030, 5: 8224, 6: 5980}


def test_unknown_preset_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ReidbenchError, match="full, small, tiny"):
        synth.plan("huge")
    with pytest.raises(ReidbenchError, match="valid"):
        synth.generate(tmp_path / "x", "huge", progress=False)
    with pytest.raises(ReidbenchError, match="seed"):
        synth.generate(tmp_path / "x", "tiny", seed=-1, progress=False)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- determinism


def test_same_seed_is_byte_identical_whatever_the_order(tiny_root: Path, tmp_path: Path) -> None:
    again = synth.generate(tmp_path / "again", "tiny", seed=0, progress=False, workers=2)
    assert _files(again) == _files(tiny_root)


def test_different_seed_differs(tiny_root: Path, tmp_path: Path) -> None:
    a = _files(tiny_root)
    b = _files(synth.generate(tmp_path / "seed1", "tiny", seed=1, progress=False))
    assert a.keys() == b.keys()
    images = [k for k in a if k.endswith(".jpg")]
    assert sum(a[k] != b[k] for k in images) == len(images)
    assert a["exp/test_id.txt"] == b["exp/test_id.txt"]


# ---------------------------------------------------------------- appearance


def _images(root: Path, cams: set[int]) -> list[tuple[int, np.ndarray]]:
    out = []
    for cam in sorted(cams):
        for path in sorted((root / f"cam{cam}").glob("*/*.jpg")):
            with Image.open(path) as img:
                out.append((int(path.parent.name), np.asarray(img.convert("RGB"))))
    return out


def test_ir_is_grey_and_rgb_is_not(tiny_root: Path) -> None:
    for _, a in _images(tiny_root, IR_CAMS):
        assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])
    for _, a in _images(tiny_root, GALLERY_CAMS):
        assert np.abs(a.astype(int) - a[..., :1]).max() > 20


@pytest.mark.parametrize("cams", [GALLERY_CAMS, IR_CAMS], ids=["rgb", "ir"])
def test_identity_is_consistent_within_a_modality(tiny_root: Path, cams: set[int]) -> None:
    """A tiny grey thumbnail is closer between images of one person than of two."""
    pids, feats = [], []
    for pid, a in _images(tiny_root, cams):
        g = np.asarray(Image.fromarray(a).convert("L").resize((8, 16), Image.BILINEAR), float).ravel()
        pids.append(pid)
        feats.append((g - g.mean()) / (g.std() + 1e-6))
    p, f = np.array(pids), np.array(feats)
    dist = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
    same = (p[:, None] == p[None]) & ~np.eye(len(p), dtype=bool)
    assert dist[same].mean() < 0.92 * dist[p[:, None] != p[None]].mean()


def test_ir_reflectance_follows_lightness_only_partly() -> None:
    people = [synth.identity(0, pid) for pid in range(1, 401)]
    garments = [synth.TOP_A, synth.TOP_B, synth.BOTTOM_A, synth.BOTTOM_B, synth.BACKPACK]
    rgb = np.array([idn.rgb[m] for idn in people for m in garments])
    ir = np.array([idn.ir[m] for idn in people for m in garments])
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    hue = np.array([colorsys.rgb_to_hsv(*c)[0] for c in rgb])
    # the part not explained by lightness is an independent draw in [0.08, 0.95]
    own = (ir - synth.IR_COUPLING * luminance) / (1 - synth.IR_COUPLING)
    assert own.min() >= 0.08 - 1e-5 and own.max() <= 0.95 + 1e-5
    assert abs(spearmanr(luminance, own).statistic) < 0.1
    assert 0.5 < spearmanr(luminance, ir).statistic < 0.9  # related, not determined
    assert abs(spearmanr(hue, own).statistic) < 0.1  # hue matters only through lightness
    assert np.ptp(ir) > 0.6  # garments span dark to bright in IR


def test_identity_and_image_are_functions_of_their_seeds() -> None:
    a, b = synth.identity(3, 6), synth.identity(3, 6)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.ir, b.ir)
    assert not np.array_equal(synth.identity(3, 6).rgb, synth.identity(3, 10).rgb)
    img = synth.render(3, 4, 6, 1, (64, 128))
    assert np.array_equal(img, synth.render(3, 4, 6, 1, (64, 128)))
    assert not np.array_equal(img, synth.render(3, 4, 6, 2, (64, 128)))


# ---------------------------------------------------------------- atomic writing


def test_failure_mid_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write, calls = synth._write_jpeg, []

    def failing_write(path: Path, img: np.ndarray) -> None:
        calls.append(path)
        if len(calls) == 30:
            raise RuntimeError("disk full")
        real_write(path, img)

    monkeypatch.setattr(synth, "_write_jpeg", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        synth.generate(tmp_path / "out", "tiny", progress=False, workers=1)
    assert len(calls) == 30
    assert not list(tmp_path.iterdir())


def _two_folder_plan(preset: str) -> synth.SynthPlan:
    return synth.SynthPlan(preset, ((3, 6, 2), (4, 6, 1)), (), (), (6,))


def test_refuses_non_empty_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "plan", _two_folder_plan)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ReidbenchError, match="not empty"):
        synth.generate(out, "tiny", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReidbenchError, match="not a directory"):
        synth.generate(tmp_path / "file", "tiny", progress=False)


def test_accepts_an_empty_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "plan", _two_folder_plan)
    out = tmp_path / "out"
    out.mkdir()
    assert synth.generate(out, "tiny", progress=False) == out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        "cam3/0006/0001.jpg", "cam3/0006/0002.jpg", "cam4/0006/0001.jpg"]
    assert (out / "exp" / "available_id.txt").read_text() == "6\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_named_dataset_regenerates_after_a_generator_upgrade(tmp_path, monkeypatch) -> None:
    from reidbench.data.default import named_dataset

    monkeypatch.setenv("REIDBENCH_HOME", str(tmp_path))
    stale = tmp_path / "datasets" / f"synthetic-tiny-seed0-v{synth.GENERATOR_VERSION - 1}"
    stale.mkdir(parents=True)  # an older version's folder (here: empty, so unreadable)
    data = named_dataset("synthetic-tiny", progress=False)
    assert data.root.name == f"synthetic-tiny-seed0-v{synth.GENERATOR_VERSION}"
    meta = json.loads((data.root / "SYNTHETIC.json").read_text())
    assert meta["generator_version"] == synth.GENERATOR_VERSION
    assert data.num_images == synth.plan("tiny").n_images
