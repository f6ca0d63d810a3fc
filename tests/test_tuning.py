"""Hyper-parameters chosen on the validation identities; run configs as files; several seeds per row."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reidbench.cli import main
from reidbench.frame import table, tidy
from reidbench.runconfig import load_run_config
from reidbench.selection import select_rows
from reidbench.store import load_results
from reidbench.tuning import grid_points


@pytest.fixture
def test_images_corrupted(tiny_root, tmp_path) -> Path:
    """The tiny replica with every test image truncated: tuning must never notice."""
    copy = tmp_path / "sysu"
    shutil.copytree(tiny_root, copy)
    test_ids = [int(t) for t in (copy / "exp" / "test_id.txt").read_text().split(",")]
    for pid in test_ids:
        for image in copy.glob(f"cam*/{pid:04d}/*.jpg"):
            image.write_bytes(image.read_bytes()[:200])
    return copy


def test_tune_reads_no_test_image_and_writes_a_usable_config(test_images_corrupted, tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", "--method", "hog_lfda", "--grid", "pca_dim=8,16", "--grid", "beta=0.001,0.1",
                 "--data", str(test_images_corrupted), "--out", str(out), "--cache", str(tmp_path / "c"),
                 "--no-progress"]) == 0
    record = json.loads((out / "tuning.json").read_text())
    assert [p["overrides"] for p in record["points"]] == [
        {"pca_dim": 8, "beta": 0.001}, {"pca_dim": 8, "beta": 0.1}, {"pca_dim": 16, "beta": 0.001},
        {"pca_dim": 16, "beta": 0.1}]
    assert "validation identities" in record["protocol"] and "never test" in record["protocol"]
    best = max(record["points"], key=lambda p: (p["scores"]["mAP"], p["scores"]["r1"]))
    assert record["chosen"]["overrides"] == best["overrides"]
    assert len({round(p["scores"]["mAP"], 6) for p in record["points"]}) > 1  # the knobs act
    cfg = load_run_config(out / "hog_lfda.toml")
    assert cfg.overrides["hog_lfda"] == best["overrides"] and cfg.tuned["hog_lfda"]["metric"] == "mAP"
    assert "no test image was read" in capsys.readouterr().out
    # the run on that dataset (test images intact now) uses the tuned config and says so
    shutil.rmtree(test_images_corrupted)
    assert main(["run", "--config", str(out / "hog_lfda.toml"), "--data", str(tmp_path / "x")]) == 2  # bad root


def test_a_tune_resumes_and_the_config_reproduces_a_run(tiny_root, tmp_path, capsys, monkeypatch):
    import reidbench.tuning as tuning

    out = tmp_path / "tune"
    argv = ["tune", "--method", "hog_cca", "--grid", "n_components=2,4", "--data", str(tiny_root),
            "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"]
    assert main(argv) == 0
    calls = []
    monkeypatch.setattr(tuning, "score_point", lambda task: calls.append(task) or {})
    assert main(argv) == 0 and calls == []  # every point was already scored
    monkeypatch.undo()
    config = out / "hog_cca.toml"
    first, second = tmp_path / "r1", tmp_path / "r2"
    for folder in (first, second):  # separate caches: the second run recomputes everything
        assert main(["run", "--config", str(config), "--data", str(tiny_root), "--results", str(folder),
                     "--cache", str(folder / "cache"), "--no-progress"]) == 0
    (a,), (b,) = load_results(first), load_results(second)
    assert a["method"]["origin"]["kind"] == "tuned" and a["method"]["origin"]["tuning"]["metric"] == "mAP"
    assert a["method"]["tags"] == ["val-tuned"]
    for key in a["settings"]:
        assert a["settings"][key]["trials"] == b["settings"][key]["trials"]  # bit for bit
        assert a["settings"][key]["embeddings_digest"] == b["settings"][key]["embeddings_digest"]
    # a config written from the result runs the same identity again
    assert main(["config", a["_path"], "--out", str(tmp_path / "again.toml")]) == 0
    again = tmp_path / "r3"
    assert main(["run", "--config", str(tmp_path / "again.toml"), "--data", str(tiny_root), "--results",
                 str(again), "--cache", str(again / "cache"), "--no-progress"]) == 0
    (c,) = load_results(again)
    assert c["id"] == a["id"] and c["settings"]["all-single"]["trials"] == a["settings"]["all-single"]["trials"]
    assert c["method"]["origin"]["kind"] == "tuned"
    # from Python the same config means the same: tuned values stay val-tuned, the same identity and numbers
    import reidbench

    (path,) = reidbench.run(config=config, data=tiny_root, results=tmp_path / "r4", cache=first / "cache",
                            progress=False)
    d = load_results(path.parent)[0]
    assert d["id"] == a["id"] and d["method"]["origin"] == a["method"]["origin"]
    assert d["method"]["tags"] == ["val-tuned"]
    assert d["settings"]["all-single"]["trials"] == a["settings"]["all-single"]["trials"]


def test_manual_overrides_on_a_tuned_base_are_labelled(tiny_root, tmp_path):
    out = tmp_path / "tune"
    assert main(["tune", "--method", "hog_cca", "--grid", "n_components=2,4", "--data", str(tiny_root),
                 "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"]) == 0
    assert main(["run", "--config", str(out / "hog_cca.toml"), "--data", str(tiny_root), "--set", "eps=0.1",
                 "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress",
                 "--modes", "all", "--shots", "single"]) == 0
    (r,) = load_results(tmp_path / "r")
    assert r["method"]["origin"]["kind"] == "manual" and r["method"]["changed"] == {"eps": 0.1}
    assert select_rows([r], "sysu")[0].label == "HOG+CCA [val-tuned; eps=0.1]"


def test_budget_draws_points_from_the_grid():
    grid = (("a", ("1", "2", "3")), ("b", ("x", "y")))
    assert len(grid_points(grid, None, 0)) == 6
    drawn = grid_points(grid, 3, 0)
    assert len(drawn) == 3 and drawn == grid_points(grid, 3, 0) and drawn != grid_points(grid, 3, 1)
    assert all(p in grid_points(grid, None, 0) for p in drawn)


def test_a_deep_method_with_two_seeds_is_one_row_with_both_spreads(tiny_root, tmp_path, capsys):
    folder = tmp_path / "r"
    assert main(["run", "--methods", "one_stream", "--seeds", "0,1", "--data", str(tiny_root), "--results",
                 str(folder), "--cache", str(tmp_path / "c"), "--device", "cpu", "--no-progress",
                 "--set", "backbone=resnet_tiny", "--set", "input=cpu_64x32", "--set", "steps=30",
                 "--set", "eval_every=15", "--modes", "all"]) == 0
    results = load_results(folder)
    assert sorted(r["seed"] for r in results) == [0, 1] and len({r["id"] for r in results}) == 2
    (row,) = select_rows(results, "sysu", variants="all")
    assert row.seeds == [0, 1] and row.label.endswith("2 seeds]")
    numbers = table(tidy([row]), std=True, variants="all")
    per_seed = [r["settings"]["all-single"]["mean"]["mAP"] for r in results]
    trial_sd = [r["settings"]["all-single"]["std"]["mAP"] for r in results]
    assert numbers.at[row.label, ("all-single", "mAP", "mean")] == pytest.approx(sum(per_seed) / 2)
    assert numbers.at[row.label, ("all-single", "mAP", "std_seeds")] == pytest.approx(abs(per_seed[0] - per_seed[1])
                                                                                      / 2 ** 0.5)
    assert numbers.at[row.label, ("all-single", "mAP", "std_trials")] == pytest.approx(sum(trial_sd) / 2)
    capsys.readouterr()
    assert main(["table", "--results", str(folder), "--variants", "all", "--std"]) == 0
    out = capsys.readouterr().out
    assert out.count("One-stream network [") == 1 and " / " in out and "std over seeds / mean std over trials" in out
