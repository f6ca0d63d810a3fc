"""A fresh machine survives two runs at once, and a killed generation leaves nothing that blocks the next (issue 20)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from reidbench.cli import main
from reidbench.data.default import remove_stale_partials

RUN = ["run", "--dataset", "synthetic-tiny", "--methods", "hog_euclidean", "--trials", "2", "--modes", "all",
       "--shots", "single", "--no-progress"]

# Writes the first identity folder of synthetic-tiny, says so, then waits to be killed mid-generation.
STALLED = """
import sys, time
from reidbench.data import synth
from reidbench.data.default import named_dataset
write = synth._write_folder
def stall(*job):
    n = write(*job)
    print("writing", flush=True)
    time.sleep(600)
    return n
synth._write_folder = stall
named_dataset("synthetic-tiny", progress=False)
"""


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "REIDBENCH_HOME": str(home)}


def test_two_runs_on_an_empty_cache_both_succeed_with_identical_results(tmp_path):
    home = tmp_path / "home"
    procs = [subprocess.Popen([sys.executable, "-m", "reidbench", *RUN, "--results", str(tmp_path / f"r{i}")],
                              env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outcomes = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outcomes):
        assert p.returncode == 0, err
    (a,), (b,) = (list((tmp_path / f"r{i}").glob("*.json")) for i in range(2))
    first, second = json.loads(a.read_text()), json.loads(b.read_text())
    assert a.name == b.name and first["id"] == second["id"]
    assert first["dataset"]["fingerprint"] == second["dataset"]["fingerprint"]
    for key in first["settings"]:
        assert first["settings"][key]["trials"] == second["settings"][key]["trials"]
    assert sum("generating the synthetic-tiny dataset" in err for _, err in outcomes) == 1  # generated once
    assert [p.name for p in (home / "datasets").iterdir() if not p.name.endswith(".lock")] == \
        [f"synthetic-tiny-seed0-v{first['dataset']['synthetic']['generator_version']}"]


def test_a_killed_generation_is_cleaned_up_by_the_next_run(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-c", STALLED], env=_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    (partial,) = (home / "datasets").glob(".synthetic-tiny-*.partial")
    assert any(partial.rglob("*.jpg")) and str(proc.pid) in partial.name
    monkeypatch.setenv("REIDBENCH_HOME", str(home))
    assert main([*RUN, "--results", str(tmp_path / "r")]) == 0
    assert f"removed {partial}" in capsys.readouterr().err
    assert not partial.exists() and not list((home / "datasets").glob(".*.partial"))
    assert len(list((tmp_path / "r").glob("*.json"))) == 1


def test_a_live_generation_is_left_alone(tmp_path):
    root = tmp_path / "synthetic-tiny-seed0-v1"
    mine = tmp_path / f".{root.name}.{os.getpid()}-abcd1234.partial"
    dead = tmp_path / f".{root.name}.999999999-abcd1234.partial"
    other = tmp_path / ".synthetic-small-seed0-v1.999999999-abcd1234.partial"
    for folder in (mine, dead, other):
        folder.mkdir()
    assert remove_stale_partials(root) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()
