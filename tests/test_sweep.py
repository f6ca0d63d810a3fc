"""Sweeps: one run per value, a resumable manifest, parallel points, and the r1/mAP plot."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reidbench import registry
from reidbench.cli import main
from reidbench.errors import ReidbenchError
from reidbench import sweep
from reidbench.figures import sweep as sweep_figure
from reidbench.methods.base import Method
from reidbench.protocols.validation import TEST_SENSITIVITY
from reidbench.store import load_results

PROBE = "sweep_probe"


class _Noisy(Method):
    """Identity one-hot plus noise of a configurable scale; a negative scale is a user error."""

    def embed(self, images, ctx):
        if self.config["noise"] < 0:
            raise ReidbenchError("noise must be >= 0")
        rng = np.random.default_rng([ctx.seed, len(images)])
        onehot = (images.pids[:, None] == np.unique(images.pids)[None, :]).astype(np.float64)
        return onehot + self.config["noise"] * rng.standard_normal(onehot.shape)


@pytest.fixture
def probe_method():
    registry.METHODS.add(PROBE, registry.MethodSpec(PROBE, _Noisy, "Noisy oracle", "plugin",
                                                    config={"noise": 0.5, "name": "x"}))
    yield PROBE
    registry.METHODS.forget(PROBE)


def _opts(tiny_root: Path, out: Path, values: tuple[str, ...], **kw) -> sweep.SweepOptions:
    return sweep.SweepOptions(method=PROBE, key="noise", values=values, out=out, data=tiny_root, trials=3,
                              cache=out.parent / "cache", progress=False, **kw)


def test_parse_assignment_and_round_robin_devices(tmp_path):
    assert sweep.parse_assignment("margin=0.7,0.9, 1.2") == ("margin", ("0.7", "0.9", "1.2"))
    for bad in ("margin", "margin=", "=1,2", "m=1,1", "m=a/b"):
        with pytest.raises(ReidbenchError):
            sweep.parse_assignment(bad)
    opts = sweep.SweepOptions(method="cmgan", key="margin", values=("0.7", "0.9", "1.2", "1.4", "1.5"), out=tmp_path,
                              devices=("cuda:0", "cuda:1"))
    points = sweep.plan(opts, "sysu")
    assert [p.device for p in points] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert points[3].folder == tmp_path / "margin=1.4" and points[3].result is None  # not run yet
    assert {p.device for p in sweep.plan(replace(opts, devices=()), "sysu")} == {"auto"}


def test_sweep_runs_each_value_and_plots_its_metrics(probe_method, tiny_root, tmp_path):
    out = tmp_path / "sweep"
    manifest = sweep.run_sweep(_opts(tiny_root, out, ("1.5", "0.1", "0.6")))
    assert [p["status"] for p in manifest["points"]] == ["ran"] * 3
    assert json.loads((out / sweep.MANIFEST).read_text())["points"] == manifest["points"]
    for value in ("1.5", "0.1", "0.6"):
        (result,) = load_results(out / f"noise={value}")
        assert result["method"]["config"]["noise"] == float(value) and result["protocol"]["trials"] == 3
    points, title = sweep_figure.load_points(out, manifest)
    assert "test-set sensitivity (as in the paper's Fig. 3), not a selection" in title
    assert manifest["scored_on"] == TEST_SENSITIVITY
    fig = sweep_figure.plot_sweep(points, "noise", sweep_figure.settings_of(points, None), title)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
    assert "TEST" in fig.get_suptitle().upper() and "SYNTHETIC" in fig.get_suptitle()
    r1_bars, map_bars = fig.axes[0].containers  # all-single: rank-1 then mAP, sorted by value
    by_value = {v: entry["all-single"] for v, entry in points}
    order = ("0.1", "0.6", "1.5")
    np.testing.assert_allclose(r1_bars.lines[0].get_xdata(), [0.1, 0.6, 1.5])
    np.testing.assert_allclose(r1_bars.lines[0].get_ydata(), [by_value[v]["mean"]["r1"] for v in order])
    np.testing.assert_allclose(map_bars.lines[0].get_ydata(), [by_value[v]["mean"]["mAP"] for v in order])
    caps = map_bars.lines[1][0].get_ydata()  # lower caps: mean - std over the trials
    np.testing.assert_allclose(caps, [by_value[v]["mean"]["mAP"] - by_value[v]["std"]["mAP"] for v in order])
    by_value = {v: s["mean"] for v, s in by_value.items()}
    assert by_value["0.1"]["mAP"] > by_value["1.5"]["mAP"]  # less noise, better ranking
    one = sweep_figure.plot_sweep(points, "noise", sweep_figure.settings_of(points, "indoor-multi"), title)
    assert [ax.get_title() for ax in one.axes if ax.get_visible()] == ["Indoor-search Multi-shot"]


def test_a_sweep_takes_its_datasets_own_protocol(probe_method, regdb_root, tmp_path):
    """No --protocol: a RegDB sweep is scored under RegDB's protocol (not SYSU-MM01's, refused after the data)."""
    manifest = sweep.run_sweep(replace(_opts(regdb_root, tmp_path / "sweep", ("0.5",)), trials=2))
    assert manifest["protocol"] == "regdb" and [p["status"] for p in manifest["points"]] == ["ran"]
    (result,) = load_results(tmp_path / "sweep" / "noise=0.5")
    assert result["protocol"]["name"] == "regdb" and result["protocol"]["trials"] == 2
    with pytest.raises(ReidbenchError, match="is for sysu datasets"):
        sweep.run_sweep(replace(_opts(regdb_root, tmp_path / "other", ("0.5",)), protocol="sysu"))


def test_interrupted_sweep_continues_where_it_stopped(probe_method, tiny_root, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    with pytest.raises(ReidbenchError, match=r"1 sweep point\(s\) failed.*noise=-1: noise must be >= 0"):
        sweep.run_sweep(_opts(tiny_root, out, ("0.2", "-1", "0.8")))
    statuses = {p["value"]: p["status"] for p in json.loads((out / sweep.MANIFEST).read_text())["points"]}
    assert statuses == {"0.2": "ran", "-1": "pending", "0.8": "ran"}
    kept = {v: next((out / f"noise={v}").glob(f"{PROBE}__sysu__*.json")).read_text() for v in ("0.2", "0.8")}

    calls = []
    real_run = sweep.run
    monkeypatch.setattr(sweep, "run", lambda opts: calls.append(opts) or real_run(opts))
    manifest = sweep.run_sweep(_opts(tiny_root, out, ("0.2", "0.8", "1.0")))
    assert [c.overrides for c in calls] == [{PROBE: {"noise": "1.0"}}]  # only the missing point ran
    assert [p["status"] for p in manifest["points"]] == ["existing", "existing", "ran"]
    assert all(next((out / f"noise={v}").glob(f"{PROBE}__sysu__*.json")).read_text() == text
               for v, text in kept.items())
    with pytest.raises(ReidbenchError, match="another dataset, --seed or --trials"):
        sweep.run_sweep(replace(_opts(tiny_root, out, ("0.2",)), seed=7))


def test_sweep_checks_the_key_and_values_before_any_work(probe_method, tiny_root, tmp_path):
    with pytest.raises(ReidbenchError, match="no config key 'margin'"):
        sweep.run_sweep(replace(_opts(tiny_root, tmp_path / "s", ("1",)), key="margin"))
    with pytest.raises(ReidbenchError, match="expects float, got 'big'"):
        sweep.run_sweep(_opts(tiny_root, tmp_path / "s", ("0.1", "big")))
    with pytest.raises(ReidbenchError, match="unknown device 'tpu'"):
        sweep.run_sweep(replace(_opts(tiny_root, tmp_path / "s", ("0.1",)), devices=("cpu", "tpu")))
    assert not (tmp_path / "s").exists()


def test_parallel_points_in_separate_processes(tiny_root, tmp_path, result_schema):
    """Two points at once in spawned processes, through the command line (hog_euclidean is built in)."""
    out = tmp_path / "sweep"
    assert main(["sweep", "--method", "hog_euclidean", "--set", "resize=bicubic,bilinear",
                 "--data", str(tiny_root), "--trials", "1", "--jobs", "2", "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--setting", "all-single", "--no-progress"]) == 0
    manifest = json.loads((out / sweep.MANIFEST).read_text())
    assert [p["status"] for p in manifest["points"]] == ["ran", "ran"]
    for value in ("bicubic", "bilinear"):
        (result,) = load_results(out / f"resize={value}")
        assert result["method"]["config"]["resize"] == value
        result.pop("_path")
        assert not list(result_schema.iter_errors(result))  # written by a worker process: checked here
    assert (out / "sweep_resize.png").is_file() and (out / "sweep_resize.pdf").is_file()


def test_sweep_on_val_scores_the_validation_identities(tiny_root, tmp_path, capsys):
    out = tmp_path / "valsweep"
    assert main(["sweep", "--method", "hog_euclidean", "--set", "resize=bicubic,bilinear", "--on", "val",
                 "--data", str(tiny_root), "--out", str(out), "--cache", str(tmp_path / "cache"),
                 "--no-progress"]) == 0
    record = json.loads((out / "tuning.json").read_text())
    assert [p["overrides"]["resize"] for p in record["points"]] == ["bicubic", "bilinear"]
    assert all(0 < p["scores"]["mAP"] <= 100 for p in record["points"])
    assert (out / "sweep_resize.png").is_file() and not list(out.glob("resize=*"))  # no test result written
