"""The command line end to end on the tiny replica, and its one-line errors."""
from __future__ import annotations

import json
import numpy as np
import pytest

from reidbench.cli import main
from reidbench.protocols import get_protocol


def result_file(folder, method):
    (path,) = folder.glob(f"{method}__sysu__*.json")
    return path


@pytest.fixture(scope="module")
def run_dir(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    assert main(["run", "--methods", "hog_euclidean,lomo_euclidean", "--data", str(tiny_root), "--results", str(out),
                 "--cache", str(cache), "--no-progress"]) == 0
    return out


def test_run_writes_a_result_with_provenance(run_dir, tiny):
    payload = json.loads(result_file(run_dir, "hog_euclidean").read_text())
    assert payload["method"]["label"] == "HOG+Euclidean"
    assert set(payload["settings"]) == {"all-single", "all-multi", "indoor-single", "indoor-multi"}
    s = payload["settings"]["all-single"]
    assert len(s["trials"]) == 10 and s["gallery_source"] == "seeded_rand_perm"
    sysu = get_protocol("sysu")
    assert s["num_valid_probes"] == len(sysu.probes(tiny, sysu.setting("all-single")))
    assert 0 < s["mean"]["mAP"] <= 100 and s["std"]["r1"] >= 0
    for key in ("seed", "versions", "git", "device", "timings", "created"):
        assert key in payload
    assert payload["method"]["config"] == {"resize": "bicubic"} and payload["method"]["changed"] == {}
    assert payload["dataset"]["fingerprint"] == tiny.fingerprint
    assert payload["dataset"]["synthetic"]["generator_version"] >= 3 and payload["dataset"]["named"] is False
    assert payload["timings"]["eval_s"] > 0 and payload["versions"]["torch"]
    assert [h["settings"] for h in payload["history"]] == [sorted(payload["settings"])]


def test_table_formats(run_dir, capsys):
    for fmt, marker in (("markdown", "| HOG+Euclidean |"), ("latex", r"\begin{tabular}"),
                        ("csv", "HOG+Euclidean,"), ("html", "<table")):
        assert main(["table", "--results", str(run_dir), "--format", fmt]) == 0
        assert marker in capsys.readouterr().out
    assert main(["table", "--results", str(run_dir), "--with-paper", "--std", "--minp"]) == 0
    out = capsys.readouterr().out
    assert "HOG+Euclidean (paper, SYSU-MM01) | 2.76 | 18.25 | 31.91 | 4.24" in out and "±" in out and "mINP" in out
    assert "| HOG+Euclidean (synthetic data) |" in out and "SYNTHETIC replica" in out
    assert "seeded trials shaped like the official table (not the official galleries)" in out


def test_table_baseline_adds_paired_differences(run_dir, capsys):
    from reidbench.stats import paired_difference

    assert main(["table", "--results", str(run_dir), "--baseline", "hog_euclidean", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    lomo = json.loads(result_file(run_dir, "lomo_euclidean").read_text())["settings"]["all-single"]["trials"]
    hog = json.loads(result_file(run_dir, "hog_euclidean").read_text())["settings"]["all-single"]["trials"]
    expected = str(paired_difference([t["r1"] for t in lomo], [t["r1"] for t in hog]))
    row = next(line for line in out.splitlines() if line.startswith("LOMO+Euclidean"))
    assert expected in row and "baseline" in out


def test_eval_own_features_agrees_with_the_run(run_dir, tiny, tmp_path, capsys):
    payload = json.loads(result_file(run_dir, "hog_euclidean").read_text())
    feats = np.load(payload["artifacts"]["local"]["embeddings"])["features"]
    sysu = get_protocol("sysu")
    paths = np.array(sysu.evaluation_set(tiny).paths)
    order = np.random.default_rng(0).permutation(len(paths))  # row order must not matter
    np.savez(tmp_path / "f.npz", features=feats[order], paths=paths[order])
    assert main(["eval", "--features", str(tmp_path / "f.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"all-single", "all-multi", "indoor-single", "indoor-multi"}
    for key, res in out.items():
        for metric in ("r1", "r5", "r10", "r20", "mAP", "mINP"):
            assert res[metric] == pytest.approx(payload["settings"][key]["mean"][metric], abs=1e-9)
        assert len(res["trials"]) == 10 and res["num_valid_probes"] > 0
    assert main(["eval", "--features", str(tmp_path / "f.npz")]) == 0
    assert "seeded_rand_perm" in capsys.readouterr().out
    # float32 features: only the rows the protocol uses are converted, and they score the same
    np.savez(tmp_path / "f32.npz", features=feats[order].astype(np.float32), paths=paths[order])
    assert main(["eval", "--features", str(tmp_path / "f32.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all-single"]["num_valid_probes"] == out["all-single"]["num_valid_probes"]


def test_list_shows_methods(capsys):
    assert main(["list"]) == 0
    assert "hog_euclidean" in capsys.readouterr().out


def _one_line_error(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("reidbench: error:"), err
    assert pattern in err, err


@pytest.mark.parametrize("argv, pattern", [
    (["run", "--methods", "hog_eucldean", "--dataset", "synthetic-tiny"], "did you mean hog_euclidean"),
    (["run", "--methods", "hog_euclidean", "--protocol", "sysu-x", "--dataset", "synthetic-tiny"], "unknown protocol"),
    (["run", "--methods", "hog_euclidean", "--modes", "outdoor"], "unknown mode 'outdoor'"),
    (["run", "--methods", "hog_euclidean", "--data", "/nonexistent/sysu"], "dataset root not found"),
    (["run", "--methods", "hog_euclidean", "--set", "nokey=1"], "no selected method has a config key"),
    (["run", "--methods", "hog_euclidean", "--trials", "many"], "invalid int value"),
    (["run", "--methods", "hog_euclidean", "--trials", "0"], "--trials must be between 1 and 10"),
    (["run"], "required: --methods"),
    (["run", "--methods", ""], "no methods given"),
    (["run", "--methods", ","], "no methods given"),
    (["run", "--methods", "hog_cca", "--set", "pca_dim=-5"], "'pca_dim' of method 'hog_cca' must be a number >= 1, got -5"),
    (["run", "--methods", "hog_lfda", "--set", "embedding=wide"], "'embedding' of method 'hog_lfda' must be one of"),
    (["run", "--methods", "cmgan", "--set", "alpha=0", "--set", "beta=0"], "alpha and beta are both 0"),
    (["run", "--methods", "cmgan", "--set", "backbone=vgg"], "must be one of auto, resnet50"),
    (["run", "--methods", "hog_cca", "--set", "pca_dim=1.5"], "expects int, got '1.5'"),
    (["run", "--methods", "hog_euclidean", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "--methods", "hog_euclidean", "--seed", "-1"], "--seeds must be a non-negative integer"),
    (["run", "--methods", "hog_euclidean", "--seeds", "0,x"], "expected comma-separated integers"),
    (["run", "--config", "/nonexistent.toml"], "run config not found"),
    (["tune", "--method", "hog_cca", "--grid", "pca_dim=-1"], "must be a number >= 1"),
    (["tune", "--method", "hog_cca"], "give at least one --grid"),
    (["tune", "--method", "hog_cca", "--grid", "nokey=1"], "unknown config key"),
    (["tune", "--method", "hog_cca", "--grid", "pca_dim=8", "--metric", "mINP"], "--metric: invalid choice: 'mINP' (choose from 'mAP', 'r1')"),
    (["sweep", "--method", "hog_cca", "--set", "pca_dim=8", "--on", "train"], "--on: invalid choice: 'train'"),
    (["run", "--methods", "hog_euclidean", "--modes", ""], "--modes and --shots each need at least one value"),
    (["run", "--methods", "hog_euclidean", "--trials"], "expected one argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["table", "--results", "/nonexistent/results"], "results directory not found"),
    (["table", "--format", "docx", "--results", "."], "--format: invalid choice: 'docx'"),
    (["eval", "--features", "/nonexistent.npz"], "feature file not found"),
    (["eval", "--features", "/nonexistent.npz", "--trials", "11"], "--trials must be between 1 and 10"),
    (["eval", "--features", "/nonexistent.npz", "--distance", "manhattan"], "--distance: invalid choice: 'manhattan'"),
])
def test_user_mistakes_are_one_line(capsys, argv, pattern):
    _one_line_error(capsys, argv, pattern)


@pytest.mark.parametrize("arrays, pattern", [
    ({"features": np.ones((2, 3))}, "missing key(s) paths"),
    ({"features": np.ones(3), "paths": np.array(["cam3/0006/0001.jpg"] * 3)}, "N x D array"),
    ({"features": np.ones((2, 3)), "paths": np.array(["cam3/0006/0001.jpg"])}, "1 paths but 2 feature rows"),
    ({"features": np.array([[np.nan, 1.0], [0.0, 1.0]]), "paths": np.array(["cam3/0006/0001.jpg",
                                                                            "cam1/0006/0001.jpg"])}, "NaN"),
    ({"features": np.ones((2, 2)) * 1j, "paths": np.array(["cam3/0006/0001.jpg", "cam1/0006/0001.jpg"])},
     "must be real numbers, got complex128"),
    ({"features": np.array([["a", "b"]]), "paths": np.array(["cam3/0006/0001.jpg"])}, "must be numeric"),
    ({"features": np.ones((1, 2)), "paths": np.array(["images/a.jpg"])}, "outside the SYSU-MM01 layout"),
])
def test_bad_feature_files(tmp_path, capsys, arrays, pattern):
    np.savez(tmp_path / "bad.npz", **arrays)
    _one_line_error(capsys, ["eval", "--features", str(tmp_path / "bad.npz")], pattern)


def test_results_path_that_is_a_file(tiny_root, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(capsys, ["run", "--methods", "hog_euclidean", "--data", str(tiny_root),
                             "--results", str(blocker / "r")], "results directory is not writable")


def test_a_text_file_as_features_is_named_as_such(tmp_path, capsys):
    (tmp_path / "feats.txt").write_text("0.1 0.2\n")
    _one_line_error(capsys, ["eval", "--features", str(tmp_path / "feats.txt")], "not an npz file")
    np.save(tmp_path / "feats.npy", np.ones((2, 2)))
    _one_line_error(capsys, ["eval", "--features", str(tmp_path / "feats.npy")], "not an npz file")


def test_bare_command_lists_the_commands(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    for command in ("run", "table", "eval", "list", "plot", "show", "report"):
        assert f"    {command}" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("reidbench ")


def test_non_utf8_id_list_is_one_line(tiny_root, tmp_path, capsys):
    import shutil

    copy = tmp_path / "sysu"
    shutil.copytree(tiny_root, copy)
    (copy / "exp" / "train_id.txt").write_bytes(b"1,2,\xff3\n")
    _one_line_error(capsys, ["run", "--methods", "hog_euclidean", "--data", str(copy)], "not UTF-8 text")
    assert not (tmp_path / "runs").exists()


def test_bad_config_writes_nothing_and_reads_no_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line_error(capsys, ["run", "--methods", "hog_cca", "--set", "pca_dim=-5"], "pca_dim")
    assert list(tmp_path.iterdir()) == []  # no results folder, and the dataset was never generated


def test_eval_agw_warns_when_test_images_are_missing(run_dir, tiny, tiny_root, tmp_path, capsys):
    payload = json.loads(result_file(run_dir, "hog_euclidean").read_text())
    feats = np.load(payload["artifacts"]["local"]["embeddings"])["features"]
    sysu = get_protocol("sysu")
    paths = np.array(sysu.evaluation_set(tiny).paths)
    np.savez(tmp_path / "all.npz", features=feats, paths=paths)
    keep = np.arange(len(paths)) != len(paths) - 1  # drop one gallery image
    np.savez(tmp_path / "some.npz", features=feats[keep], paths=paths[keep])
    assert main(["eval", "--features", str(tmp_path / "all.npz"), "--protocol", "sysu-agw",
                 "--data", str(tiny_root), "--json"]) == 0
    assert "lacks" not in capsys.readouterr().err
    assert main(["eval", "--features", str(tmp_path / "some.npz"), "--protocol", "sysu-agw",
                 "--data", str(tiny_root), "--json"]) == 0
    captured = capsys.readouterr()
    assert "lacks 1 test image(s) of the dataset" in captured.err and "AGW code's draws" in captured.err
    assert "lacks 1 test image(s)" in json.loads(captured.out)["all-single"]["gallery_note"]
    assert main(["eval", "--features", str(tmp_path / "all.npz"), "--protocol", "sysu-agw"]) == 0
    assert "cannot be checked against a full listing (pass --data ROOT)" in capsys.readouterr().err


def test_an_interrupted_run_points_to_resume(monkeypatch, capsys):
    import reidbench.runner

    def interrupted(opts):
        raise KeyboardInterrupt("cmgan interrupted at step 7")

    monkeypatch.setattr(reidbench.runner, "run", interrupted)
    assert main(["run", "--methods", "cmgan"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--resume" in err and len(err.strip().splitlines()) == 1


def _subcommands(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in _subcommands(sub))


def test_every_help_shows_defaults_and_choices():
    from reidbench.cli import build_parser

    commands = dict(_subcommands(build_parser()))
    assert {"run", "table", "eval", "tune", "config", "list", "data synth", "features", "plot cmc", "plot losses",
            "sweep", "show", "report", "bench gpu"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        for action in parser._actions:
            if action.choices and action.option_strings and not hasattr(action.choices, "items"):
                assert all(str(c) in text for c in action.choices), (name, action.dest)
            if action.option_strings and action.default not in (None, False, [], "==SUPPRESS=="):
                assert "default" in (action.help or "") or "(default:" in text, (name, action.dest)
    table_help = commands["table"].format_help()
    assert "(default: markdown)" in table_help and "markdown, latex, csv, html, json, tidy" in table_help


def test_latex_escapes_every_special_character():
    import pandas as pd

    from reidbench.report import render

    label = "Mine #$%&_{}~^\\ row"
    frame = pd.DataFrame([["12.50 ± 0.30"]], index=pd.Index([label], name="Method"),
                         columns=pd.MultiIndex.from_tuples([("All-search Single-shot", "r1")]))
    text = render(frame, "latex", caption="on synthetic_small: 100% & more")
    row = next(line for line in text.splitlines() if line.startswith("Mine"))
    assert row.startswith(r"Mine \#\$\%\&\_\{\}\textasciitilde \textasciicircum \textbackslash \space row")
    assert r"\caption{on synthetic\_small: 100\% \& more}" in text
    assert r"\toprule" in text and "All-search Single-shot" in text
