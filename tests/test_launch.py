"""Scale-out through submitit: Slurm jobs (here: submitit's local executor) write where a local run would."""
from __future__ import annotations

import json

import pytest

from reidbench.cli import main
from reidbench.launch import Launcher, _Job
from reidbench.runner import RunOptions
from reidbench.store import load_results


@pytest.fixture
def local_slurm(monkeypatch, tmp_path):
    monkeypatch.setenv("REIDBENCH_SLURM_CLUSTER", "local")
    return ["--launcher", "slurm", "--slurm-folder", str(tmp_path / "slurm"), "--slurm-time", "10"]


def test_sweep_points_run_as_jobs(local_slurm, tiny_root, tmp_path, result_schema, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--method", "hog_cca", "--set", "pca_dim=8,16", "--data", str(tiny_root), "--trials", "2",
                 "--out", str(out), "--cache", str(tmp_path / "cache"), "--no-progress", *local_slurm]) == 0
    assert "submitted 2 job(s) to local" in capsys.readouterr().err  # a message (logging), not a result
    manifest = json.loads((out / "sweep.json").read_text())
    assert [p["status"] for p in manifest["points"]] == ["ran", "ran"]
    for value in ("8", "16"):
        (result,) = load_results(out / f"pca_dim={value}")
        assert result["method"]["resolved"]["pca_dim"] == int(value)
        result.pop("_path")
        assert not list(result_schema.iter_errors(result))
    assert list((tmp_path / "slurm").glob("*_log.out"))  # submitit's job logs


def test_run_submits_one_job_per_method_and_seed(local_slurm, tiny_root, tmp_path):
    folder = tmp_path / "r"
    assert main(["run", "--methods", "hog_euclidean,hog_cca", "--seeds", "0,1", "--data", str(tiny_root),
                 "--results", str(folder), "--cache", str(tmp_path / "cache"), "--modes", "all", "--shots", "single",
                 "--no-progress", *local_slurm]) == 0
    results = load_results(folder)
    assert sorted((r["method"]["name"], r["seed"]) for r in results) == [
        ("hog_cca", 0), ("hog_cca", 1), ("hog_euclidean", 0), ("hog_euclidean", 1)]


def test_a_preempted_job_is_requeued_resuming():
    job = _Job(print)
    again = job.checkpoint(RunOptions(methods=["cmgan"]))
    assert again.function is job and again.args[0].resume is True


def test_launcher_options_are_checked():
    from reidbench.errors import ReidbenchError

    with pytest.raises(ReidbenchError, match="unknown --launcher 'pbs'"):
        Launcher(kind="pbs")
    with pytest.raises(ReidbenchError, match="--slurm-time"):
        Launcher(kind="slurm", time_min=0)
