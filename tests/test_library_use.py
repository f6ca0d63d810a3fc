"""reidbench as a library and a light command: messages through logging, no torch where none is needed."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import reidbench
from reidbench.cli import main


def test_a_handcrafted_run_never_imports_torch(tmp_path):
    """torch made unimportable (``sys.modules['torch'] = None``): HOG+Euclidean still runs, device auto."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n"
                                           "sys.modules['torchvision'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(shim), "REIDBENCH_HOME": str(tmp_path / "home")}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "halted" in probe.stderr  # the shim works
    done = subprocess.run([sys.executable, "-m", "reidbench", "run", "--methods", "hog_euclidean", "--dataset",
                           "synthetic-tiny", "--results", str(tmp_path / "runs"), "--quiet", "--trials", "2"],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((tmp_path / "runs").glob("hog_euclidean__sysu__*.json"))) == 1
    assert done.stderr == ""  # --quiet: no messages and no bars


def test_messages_go_through_logging_and_progress_false_silences_them(tmp_path, caplog):
    opts = dict(dataset="synthetic-tiny", results=tmp_path / "r", cache=tmp_path / "c", trials=1,
                modes=("all",), shots=("single",))
    with caplog.at_level(logging.INFO, logger="reidbench"):
        reidbench.run(methods="hog_euclidean", progress=False, **opts)
        assert not [r for r in caplog.records if r.name == "reidbench"]
        reidbench.run(methods="hog_euclidean", **opts)
    said = [r.getMessage() for r in caplog.records if r.name == "reidbench"]
    assert any("cached; evaluating only" in m for m in said), said


def test_the_cli_prints_messages_unless_quiet(tmp_path, capsys):
    args = ["run", "--methods", "hog_euclidean", "--dataset", "synthetic-tiny", "--results", str(tmp_path / "r"),
            "--trials", "1", "--modes", "all", "--shots", "single", "--no-progress"]
    assert main(args) == 0
    assert "reidbench: [1/1] hog_euclidean" in capsys.readouterr().err
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "wrote" in captured.out


def test_only_rank_zero_speaks_under_torchrun(monkeypatch, caplog):
    from reidbench.messages import say

    with caplog.at_level(logging.INFO, logger="reidbench"):
        monkeypatch.setenv("RANK", "1")
        say("from rank 1")
        monkeypatch.setenv("RANK", "0")
        say("from rank 0")
    assert [r.getMessage() for r in caplog.records if r.name == "reidbench"] == ["from rank 0"]
