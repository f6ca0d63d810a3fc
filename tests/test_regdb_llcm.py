"""RegDB and LLCM: replicas in the real layouts, their readers, protocols, runs, own-feature eval, plug-ins.

The ``slow`` tests write the ``full`` replicas (the published counts); run them with
``pytest -m slow``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from reidbench.cli import main
from reidbench.data import synth_llcm, synth_regdb
from reidbench.data.imageset import INFRARED, VISIBLE
from reidbench.data.layouts import LAYOUTS, detect_layout, load
from reidbench.data.llcm import LlcmDataset
from reidbench.data.regdb import RegdbDataset
from reidbench.errors import ReidbenchError
from reidbench.protocols import get_protocol
from reidbench.protocols.llcm import draw_single_shot
from test_match_rules import literal


@pytest.fixture(scope="session")
def regdb(regdb_root) -> RegdbDataset:
    return load(regdb_root)


@pytest.fixture(scope="session")
def llcm(llcm_root) -> LlcmDataset:
    return load(llcm_root)


def copy_of(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / root.name
    shutil.copytree(root, out)
    return out


# ------------------------------------------------------------------ layouts and readers
def test_layouts_are_detected_and_labelled(regdb_root, llcm_root, tiny_root):
    assert [detect_layout(r).kind for r in (tiny_root, regdb_root, llcm_root)] == ["sysu", "regdb", "llcm"]
    assert {k: v.label for k, v in LAYOUTS.all().items()}.items() >= {"sysu": "SYSU-MM01", "regdb": "RegDB", "llcm": "LLCM"}.items()


def test_regdb_replica_layout_and_splits(regdb_root, regdb):
    ids = sorted(int(p.name) for p in (regdb_root / "Visible").iterdir())
    assert ids == list(range(1, 17)) and sorted(int(p.name) for p in (regdb_root / "Thermal").iterdir()) == ids
    assert all(len(list((regdb_root / m / str(i)).iterdir())) == 10 for m in ("Visible", "Thermal") for i in ids)
    assert len(list((regdb_root / "idx").iterdir())) == 40
    tests = []
    for t in range(10):
        split = regdb.split(t)
        train_ids, val_ids, test_ids = (set(s.pids.tolist()) for s in (split.train, split.val, split.test))
        assert len(train_ids | val_ids) == len(test_ids) == 8 and not (train_ids | val_ids) & test_ids
        assert len(val_ids) == 1 and not train_ids & val_ids  # a seeded tenth of the training identities
        assert (split.test.modality == VISIBLE).sum() == (split.test.modality == INFRARED).sum() == 80
        assert set(split.test.cams[split.test.modality == INFRARED].tolist()) == {2}
        tests.append(frozenset(test_ids))
    assert len(set(tests)) == 10  # ten different splits


def test_regdb_full_splits_are_206_206():
    splits = synth_regdb.splits(0, synth_regdb.PRESETS["full"])
    assert len(splits) == 10 and len({tuple(te) for _, te in splits}) == 10
    for train, test in splits:
        assert len(train) == len(test) == 206 and not set(train) & set(test)
        assert sorted(train + test) == list(range(1, 413))


def test_llcm_full_plan_matches_the_published_totals():
    train, test, cells = synth_llcm.plan("full", 0)
    assert (len(train), len(test), len(set(train) | set(test))) == (713, 351, 1064)
    totals = {}
    for part, modality, cam, pid, n in cells:
        totals[(part, modality)] = totals.get((part, modality), 0) + n
        assert 1 <= cam <= 9 and n >= 1 and not (modality == INFRARED and cam == 3)
    assert totals == {("train", VISIBLE): 16946, ("train", INFRARED): 13975, ("test", VISIBLE): 8680,
                      ("test", INFRARED): 7166}
    assert {c[2] for c in cells} == set(range(1, 10))


def test_llcm_replica_is_read_back(llcm_root, llcm):
    meta = json.loads((llcm_root / "SYNTHETIC.json").read_text())
    split = llcm.split()
    test = split.test
    assert (test.modality == VISIBLE).sum() == meta["images"]["test_vis"]
    assert (test.modality == INFRARED).sum() == meta["images"]["test_nir"]
    assert len(split.train) + len(split.val) == meta["images"]["train_vis"] + meta["images"]["train_nir"]
    assert len(set(test.pids.tolist())) == 8 and not set(test.pids.tolist()) & set(split.train.pids.tolist())
    # camera and identity come from the path below the root, never from "camera_rig" above it
    for path, pid, cam in zip(test.paths, test.pids, test.cams):
        assert path.split("/")[1] == f"cam{cam}" and path.split("/")[2] == f"{pid:04d}"


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "idx" / "test_thermal_3.txt").unlink(), "missing RegDB split file"),
    (lambda r: (r / "idx" / "train_visible_1.txt").write_text("Visible/1/x.bmp\n"), "expected '<path> <label>'"),
    (lambda r: (r / "idx" / "train_visible_2.txt").write_text("Visible/1/nope.bmp 0\n"), "image not found"),
    (lambda r: (r / "idx" / "test_visible_1.txt").write_bytes(b"\xff\xfe"), "not UTF-8"),
])
def test_bad_regdb_layouts_fail_in_one_line(regdb_root, tmp_path, damage, message, capsys):
    root = copy_of(regdb_root, tmp_path)
    damage(root)
    with pytest.raises(ReidbenchError, match=message):
        load(root)
    assert main(["run", "--methods", "hog_euclidean", "--data", str(root), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message.split("'")[0] in err and not (tmp_path / "r").exists()


def test_regdb_labels_must_follow_folders(regdb_root, tmp_path):
    root = copy_of(regdb_root, tmp_path)
    idx = root / "idx" / "train_thermal_1.txt"
    lines = idx.read_text().splitlines()
    first_label = lines[0].split()[1]
    lines[-1] = lines[-1].rsplit(" ", 1)[0] + f" {first_label}"  # another folder with the first label
    idx.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReidbenchError, match="do not match one to one"):
        load(root)


@pytest.mark.parametrize("damage, message", [
    (lambda r: next((r / "test_vis").rglob("*.jpg")).rename(next((r / "test_vis").rglob("*.jpg")).parent / "x.jpg"),
     "not an LLCM image name"),
    (lambda r: (r / "idx" / "train_nir.txt").unlink(), "missing LLCM list"),
    (lambda r: shutil.rmtree(r / "test_nir"), "not an LLCM layout|not a dataset layout"),
])
def test_bad_llcm_layouts_fail_in_one_line(llcm_root, tmp_path, damage, message):
    root = copy_of(llcm_root, tmp_path)
    damage(root)
    with pytest.raises(ReidbenchError, match=message):
        load(root)


# ------------------------------------------------------------------ protocols
def test_regdb_protocol_both_directions_per_trial(regdb):
    protocol = get_protocol("regdb")
    assert protocol.cmc == "image" and get_protocol("regdb-iddedup").cmc == "identity"
    for setting, probe_mod in (("v2t", VISIBLE), ("t2v", INFRARED)):
        s = protocol.setting(setting)
        galleries = protocol.galleries(regdb, s, 10)
        for t in range(10):
            images = protocol.evaluation_set(regdb, t)
            probes, gallery = protocol.probes(regdb, s, t), galleries.indices[t]
            assert len(probes) == len(gallery) == 80  # every test image of each modality
            assert (images.modality[probes] == probe_mod).all() and (images.modality[gallery] != probe_mod).all()
            assert set(images.pids[probes].tolist()) == set(regdb.split(t).test.pids.tolist())


def test_llcm_protocol_galleries(llcm):
    protocol = get_protocol("llcm")
    images = protocol.evaluation_set(llcm)
    assert protocol.match_rule(llcm).exclude == "identity_at_place" and protocol.cmc == "identity"
    for key, probe_mod in (("ir2vis", INFRARED), ("vis2ir", VISIBLE)):
        s = protocol.setting(key)
        probes = protocol.probes(llcm, s)
        assert (images.modality[probes] == probe_mod).all() and len(probes) == (images.modality == probe_mod).sum()
        galleries = protocol.galleries(llcm, s, 10)
        cells = {(p, c) for p, c, m in zip(images.pids, images.cams, images.modality) if m != probe_mod}
        for gallery in galleries.indices:  # one image of every (ID, camera) folder of the other modality
            assert sorted(zip(images.pids[gallery], images.cams[gallery])) == sorted(cells)
        assert len({tuple(g) for g in galleries.indices}) > 1  # trials draw differently
        again = protocol.galleries(llcm, s, 10)
        assert all(np.array_equal(a, b) for a, b in zip(galleries.indices, again.indices))  # from the seed alone
    compat = protocol.setting("vis2ir-testpy")
    probes = protocol.probes(llcm, compat, 4)
    np.testing.assert_array_equal(probes, draw_single_shot(images, INFRARED, 4))  # sampled IR probes ...
    gallery = protocol.galleries(llcm, compat, 1).indices[0]
    np.testing.assert_array_equal(gallery, np.flatnonzero(images.modality == VISIBLE))  # ... against every VIS
    assert "not VIS->IR" in protocol.galleries(llcm, compat, 1).note


# ------------------------------------------------------------------ runs and tables
@pytest.mark.parametrize("dataset, settings", [("synthetic-regdb-tiny", {"v2t", "t2v"}),
                                               ("synthetic-llcm-tiny", {"ir2vis", "vis2ir", "vis2ir-testpy"})])
def test_methods_run_and_tabulate(dataset, settings, tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", "--methods", "hog_euclidean,lomo_cca", "--dataset", dataset, "--results", str(results),
                 "--no-progress"]) == 0
    out = capsys.readouterr()
    files = sorted(results.glob("*.json"))
    assert len(files) == 2
    for f in files:
        r = json.loads(f.read_text())
        assert set(r["settings"]) == settings and r["dataset"]["layout_label"] in ("RegDB", "LLCM")
        assert r["protocol"]["models"] == ("one per trial" if "regdb" in dataset else "one for all trials")
        assert all(len(s["trials"]) == 10 for s in r["settings"].values())
    if "regdb" in dataset:
        assert "trained once per trial" in out.out + out.err
    assert main(["table", "--results", str(results), "--with-paper"]) == 0
    table = capsys.readouterr().out
    assert "(published, " in table and "mINP" in table and "SYNTHETIC replica" in table
    assert ("AGW lineage: image-level CMC" if "regdb" in dataset else "official LLCM test.py") in table


# ------------------------------------------------------------------ own-feature evaluation
def write_features(path: Path, paths: list[str], seed: int) -> np.ndarray:
    feats = np.random.default_rng(seed).normal(size=(len(paths), 8))
    np.savez(path, features=feats, paths=np.array(paths))
    return feats


def test_regdb_eval_takes_one_feature_file_per_trial(regdb_root, regdb, tmp_path, capsys):
    protocol = get_protocol("regdb")
    files, expected = [], {"v2t": [], "t2v": []}
    for t in range(10):
        images = protocol.evaluation_set(regdb, t)
        feats = write_features(tmp_path / f"trial{t + 1}.npz", list(images.paths), t)
        files += ["--features", str(tmp_path / f"trial{t + 1}.npz")]
        for key in expected:
            s = protocol.setting(key)
            q, g = protocol.probes(regdb, s, t), protocol.galleries(regdb, s, t + 1).indices[t]
            dist = np.sqrt(((feats[q][:, None] - feats[g][None]) ** 2).sum(-1))
            expected[key].append(literal(dist, images.pids[q], images.cams[q], images.pids[g], images.cams[g],
                                         protocol.match_rule(regdb)))
    assert main(["eval", "--data", str(regdb_root), "--json", *files]) == 0
    out = json.loads(capsys.readouterr().out)
    for key, runs in expected.items():
        assert out[key]["cmc"] == "image"
        assert out[key]["r1"] == pytest.approx(100 * np.mean([r[0][0] for r in runs]))
        assert out[key]["r10"] == pytest.approx(100 * np.mean([r[0][9] for r in runs]))
        assert out[key]["mAP"] == pytest.approx(100 * np.mean([r[1] for r in runs]))
        assert out[key]["mINP"] == pytest.approx(100 * np.mean([r[2] for r in runs]))

    write_features(tmp_path / "shared.npz", regdb.listing(), 0)  # one model's features of every image
    one = ["--features", str(tmp_path / "shared.npz")]
    assert main(["eval", "--data", str(regdb_root), *one]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-shared-model" in err
    assert main(["eval", "--data", str(regdb_root), "--allow-shared-model", *one]) == 0
    assert "saw other trials' test identities" in capsys.readouterr().err


def test_llcm_eval_agrees_with_the_literal_walk(llcm_root, llcm, tmp_path, capsys):
    protocol = get_protocol("llcm")
    images = protocol.evaluation_set(llcm)
    feats = write_features(tmp_path / "llcm.npz", list(images.paths), 3)
    assert main(["eval", "--data", str(llcm_root), "--features", str(tmp_path / "llcm.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("ir2vis", "vis2ir", "vis2ir-testpy"):
        s = protocol.setting(key)
        runs = []
        for t, g in enumerate(protocol.galleries(llcm, s, 10).indices):
            q = protocol.probes(llcm, s, t)
            dist = np.sqrt(((feats[q][:, None] - feats[g][None]) ** 2).sum(-1))
            runs.append(literal(dist, images.pids[q], images.cams[q], images.pids[g], images.cams[g],
                                protocol.match_rule(llcm)))
        assert out[key]["r1"] == pytest.approx(100 * np.mean([r[0][0] for r in runs])), key
        assert out[key]["mAP"] == pytest.approx(100 * np.mean([r[1] for r in runs])), key
        assert out[key]["mINP"] == pytest.approx(100 * np.mean([r[2] for r in runs])), key


def test_eval_bad_input_is_one_line(llcm_root, regdb_root, tmp_path, capsys):
    np.savez(tmp_path / "few.npz", features=np.zeros((2, 4)), paths=np.array(["a.jpg", "b.jpg"]))
    assert main(["eval", "--data", str(llcm_root), "--features", str(tmp_path / "few.npz")]) == 2
    assert "2 feature row(s) are not images of" in capsys.readouterr().err  # issue 20: checked first
    assert main(["eval", "--protocol", "regdb", "--features", str(tmp_path / "few.npz")]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["eval", "--data", str(regdb_root), "--protocol", "llcm", "--features",
                 str(tmp_path / "few.npz")]) == 2
    assert "is for llcm datasets" in capsys.readouterr().err


# ------------------------------------------------------------------ plug-ins
PLUGIN = '''
import csv
from pathlib import Path

import numpy as np

from reidbench.data.dataset import Dataset, Split
from reidbench.data.imageset import INFRARED, VISIBLE, CameraFacts, image_set
from reidbench.data.layouts import Layout
from reidbench.protocols.base import Galleries, Protocol
from reidbench.protocols.settings import Setting

CAMERAS = CameraFacts(location={1: 1, 2: 2}, modality={1: VISIBLE, 2: INFRARED})


class ToyDataset(Dataset):
    kind, label, cameras = "toy", "Toy", CAMERAS

    def __init__(self, root, rows, name):
        self.root, self.rows, self.name, self.synthetic = Path(root), rows, name, None

    def split(self, trial=0):
        parts = [[r for r in self.rows if r[4] == p] for p in ("train", "val", "test")]
        return Split(*(image_set(self.root, [r[0] for r in rs], [r[1] for r in rs], [r[2] for r in rs],
                                 [r[3] for r in rs], CAMERAS) for rs in parts))

    def listing(self):
        return sorted(r[0] for r in self.rows)

    def split_definition(self):
        return repr(self.rows)


def load(root, name=None):
    with open(Path(root) / "toy.csv") as fh:
        rows = [(p, int(pid), int(cam), int(mod), part) for p, pid, cam, mod, part in csv.reader(fh)]
    return ToyDataset(root, rows, name or Path(root).name)


LAYOUT = Layout(ToyDataset, load, lambda root: (root / "toy.csv").is_file(), "toy", "toy.csv and images")


class ToyProtocol(Protocol):
    name, label, layout = "toy", "Toy protocol: IR probes against every visible test image", "toy"
    settings = (Setting("i2v", "IR to visible"),)
    gallery_sources = {"toy_all": "every visible test image"}

    def evaluation_set(self, data, trial=0):
        return data.split(trial).test

    def probes(self, data, setting, trial=0):
        return np.flatnonzero(self.evaluation_set(data).modality == INFRARED)

    def _galleries(self, data, setting, trials):
        rows = np.flatnonzero(self.evaluation_set(data).modality == VISIBLE)
        return Galleries(tuple(rows for _ in range(trials)), "toy_all")
'''


def test_a_dataset_and_its_protocol_plug_in_through_entry_points(tiny, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "toy_dataset.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "toy_dataset-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-dataset\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[reidbench.datasets]\ntoy = toy_dataset:LAYOUT\n\n"
                                           "[reidbench.protocols]\ntoy = toy_dataset:ToyProtocol\n")
    root = tmp_path / "toy"
    rows = []
    for part, images in (("train", tiny.train), ("val", tiny.val), ("test", tiny.test)):
        for i in range(0, len(images), 5):
            src = images.paths[i]
            (root / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(images.root / src, root / src)
            rows.append(f"{src},{images.pids[i]},{1 if images.modality[i] == VISIBLE else 2},"
                        f"{images.modality[i]},{part}")
    (root / "toy.csv").write_text("\n".join(rows) + "\n")
    env = {"PYTHONPATH": str(site), "REIDBENCH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "reidbench", "run", "--methods", "hog_euclidean", "--data", str(root),
           "--results", str(tmp_path / "r"), "--trials", "2", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "r").glob("*.json")]
    assert result["dataset"]["layout"] == "toy" and result["protocol"]["name"] == "toy"
    assert set(result["settings"]) == {"i2v"} and result["settings"]["i2v"]["gallery_source"] == "toy_all"
    table = subprocess.run([sys.executable, "-m", "reidbench", "table", "--results", str(tmp_path / "r")],
                           capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0 and "IR to visible r1" in table.stdout, table.stderr
    wording = subprocess.run([sys.executable, "-c", "from reidbench.protocols import describe_source; "
                              "print(describe_source('toy_all'))"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert wording.stdout.strip() == "every visible test image", wording.stderr


# ------------------------------------------------------------------ full replicas (pytest -m slow)
@pytest.mark.slow
def test_full_regdb_replica_has_the_published_counts(tmp_path):
    assert main(["data", "synth", "--dataset", "regdb", "--preset", "full", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    data = load(tmp_path / "r")
    assert data.num_images == 412 * 20
    protocol = get_protocol("regdb")
    for key in ("v2t", "t2v"):
        s = protocol.setting(key)
        galleries = protocol.galleries(data, s, 10)
        for t in range(10):
            assert len(protocol.probes(data, s, t)) == len(galleries.indices[t]) == 2060


@pytest.mark.slow
def test_full_llcm_replica_has_the_published_counts(tmp_path):
    assert main(["data", "synth", "--dataset", "llcm", "--preset", "full", "--out", str(tmp_path / "l"),
                 "--no-progress"]) == 0
    data = load(tmp_path / "l")
    split = data.split()
    assert data.id_counts()["test"] == 351 and data.id_counts()["train"] + data.id_counts()["val"] == 713
    assert (split.test.modality == VISIBLE).sum() == 8680 and (split.test.modality == INFRARED).sum() == 7166
    assert len(split.train) + len(split.val) == 16946 + 13975
    protocol = get_protocol("llcm")
    images = protocol.evaluation_set(data)
    ir2vis = protocol.setting("ir2vis")
    assert len(protocol.probes(data, ir2vis)) == 7166
    cells = {(p, c) for p, c, m in zip(images.pids, images.cams, images.modality) if m == VISIBLE}
    assert all(len(g) == len(cells) for g in protocol.galleries(data, ir2vis, 10).indices)
