"""The command line end to end on the tiny replica, and its one-line errors."""
from __future__ import annotations

import json
import numpy as np
import pytest

from reidbench.cli import main
from reidbench.protocols import get_protocol


@pytest.fixture(scope="module")
def run_dir(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    assert main(["run", "--methods", "hog_euclidean,lomo_euclidean", "--data", str(tiny_root), "--results", str(out),
                 "--cache", str(cache), "--no-progress"]) == 0
    return out


def test_run_writes_a_result_with_provenance(run_dir, tiny):
    payload = json.loads((run_dir / "hog_euclidean__sysu.json").read_text())
    assert payload["method"]["label"] == "HOG+Euclidean"
    assert set(payload["settings"]) == {"all-single", "all-multi", "indoor-single", "indoor-multi"}
    s = payload["settings"]["all-single"]
    assert len(s["trials"]) == 10 and s["gallery_source"] == "seeded_rand_perm"
    assert s["num_valid_probes"] == len(get_protocol("sysu").probes(tiny))
    assert 0 < s["mean"]["mAP"] <= 100 and s["std"]["r1"] >= 0
    for key in ("seed", "versions", "git", "device", "timings", "created"):
        assert key in payload
    assert payload["method"]["config"] == {"resize": "bicubic"}
    assert payload["dataset"]["fingerprint"] == tiny.fingerprint
    assert payload["timings"]["eval_s"] > 0 and payload["versions"]["torch"]


def test_table_formats(run_dir, capsys):
    for fmt, marker in (("markdown", "| HOG+Euclidean |"), ("latex", r"\begin{tabular}"),
                        ("csv", "HOG+Euclidean,"), ("html", "<table")):
        assert main(["table", "--results", str(run_dir), "--format", fmt]) == 0
        assert marker in capsys.readouterr().out
    assert main(["table", "--results", str(run_dir), "--with-paper", "--std", "--minp"]) == 0
    out = capsys.readouterr().out
    assert "HOG+Euclidean (paper) | 2.76 | 18.25 | 31.91 | 4.24" in out and "±" in out and "mINP" in out


def test_table_baseline_adds_paired_differences(run_dir, capsys):
    from reidbench.stats import paired_difference

    assert main(["table", "--results", str(run_dir), "--baseline", "hog_euclidean", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    lomo = json.loads((run_dir / "lomo_euclidean__sysu.json").read_text())["settings"]["all-single"]["trials"]
    hog = json.loads((run_dir / "hog_euclidean__sysu.json").read_text())["settings"]["all-single"]["trials"]
    expected = str(paired_difference([t["r1"] for t in lomo], [t["r1"] for t in hog]))
    row = next(line for line in out.splitlines() if line.startswith("LOMO+Euclidean"))
    assert expected in row and "baseline" in out


def test_eval_own_features_agrees_with_the_run(run_dir, tiny, tmp_path, capsys):
    payload = json.loads((run_dir / "hog_euclidean__sysu.json").read_text())
    feats = np.load(payload["artifacts"]["embeddings"])["features"]
    sysu = get_protocol("sysu")
    paths = np.array(sysu.probes(tiny).paths + sysu.pool(tiny).paths)
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
    (["run"], "required: --methods"),
    (["table", "--results", "/nonexistent/results"], "results directory not found"),
    (["table", "--format", "docx", "--results", "."], "unknown format 'docx'"),
    (["eval", "--features", "/nonexistent.npz"], "feature file not found"),
])
def test_user_mistakes_are_one_line(capsys, argv, pattern):
    _one_line_error(capsys, argv, pattern)


@pytest.mark.parametrize("arrays, pattern", [
    ({"features": np.ones((2, 3))}, "missing key(s) paths"),
    ({"features": np.ones(3), "paths": np.array(["cam3/0006/0001.jpg"] * 3)}, "N x D array"),
    ({"features": np.ones((2, 3)), "paths": np.array(["cam3/0006/0001.jpg"])}, "1 paths but 2 feature rows"),
    ({"features": np.array([[np.nan, 1.0]]), "paths": np.array(["cam3/0006/0001.jpg"])}, "NaN"),
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
