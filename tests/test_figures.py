"""Figures and the HTML report on the tiny replica: files exist and hold the run's numbers."""
from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reidbench import registry
from reidbench.cli import main
from reidbench.errors import ReidbenchError
from reidbench.figures import cmc, losses, retrieval
from reidbench.figures.html_report import build_report
from reidbench.methods.base import Method
from reidbench.protocols import get_protocol
from reidbench.report import context_text
from reidbench.runner import RunOptions, run
from reidbench.selection import select_rows
from reidbench.store import load_results

ORACLE = "fig_oracle"


class _Oracle(Method):
    """Identity one-hot plus seeded noise: a second, better method without image reading."""

    def embed(self, images, ctx):
        rng = np.random.default_rng([ctx.seed, len(images)])
        onehot = (images.pids[:, None] == np.unique(images.pids)[None, :]).astype(np.float64)
        return onehot + self.config["noise"] * rng.standard_normal(onehot.shape)


cli = main


@pytest.fixture(scope="module")
def results_dir(tiny_root, tmp_path_factory) -> Path:
    """hog_euclidean and an oracle, 10 trials, into one results folder."""
    spec = registry.MethodSpec(ORACLE, _Oracle, "Oracle+noise", "plugin", config={"noise": 0.6})
    registry.METHODS.add(ORACLE, spec)
    try:
        out = tmp_path_factory.mktemp("results")
        run(RunOptions(methods=["hog_euclidean", ORACLE], data=tiny_root, results=out,
                       cache=tmp_path_factory.mktemp("cache"), progress=False))
    finally:
        registry.METHODS.forget(ORACLE)
    return out


def _path(results_dir: Path, name: str) -> Path:
    (path,) = results_dir.glob(f"{name}__sysu__*.json")
    return path


def _result(results_dir: Path, name: str) -> dict:
    return json.loads(_path(results_dir, name).read_text())


# ------------------------------------------------------------------ CMC
def test_cmc_lines_and_bands_are_the_result_curves(results_dir):
    hog = _result(results_dir, "hog_euclidean")
    entry = hog["settings"]["all-single"]
    trials = np.array(entry["cmc_trials"])
    assert trials.shape == (10, len(entry["cmc_mean"]))
    np.testing.assert_allclose(trials.mean(0), entry["cmc_mean"], atol=1e-9)  # runner: per-trial curves agree
    assert [c[0] for c in entry["cmc_trials"]] == pytest.approx([t["r1"] for t in entry["trials"]])

    rows = select_rows(load_results(results_dir), "sysu")
    assert [row.method for row in rows] == ["hog_euclidean", ORACLE]
    curves = [cmc.cmc_curve(row, "all-single", 20) for row in rows]
    fig = cmc.plot_cmc(curves, "all-single", context_text([row.result for row in rows]))
    ax = fig.axes[0]
    title = fig.get_suptitle()
    assert "SYNTHETIC replica" in title and "seeded trials" in title
    extent = fig._suptitle.get_window_extent(fig._get_renderer())  # the whole title lies on the figure
    assert extent.x0 >= 0 and extent.x1 <= fig.bbox.x1 and extent.y1 <= fig.bbox.y1
    n = len(entry["cmc_mean"])  # 8 gallery identities: the curve is flat at its end value after rank 8
    expected = np.concatenate([entry["cmc_mean"], [entry["cmc_mean"][-1]] * (20 - n)])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(1, 21))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), expected)
    np.testing.assert_allclose(ax.lines[1].get_ydata()[:n], _result(results_dir, ORACLE)["settings"]["all-single"]["cmc_mean"])
    band = ax.collections[0].get_paths()[0].vertices
    low, high = trials.min(0), trials.max(0)
    for rank in range(1, n + 1):
        ys = band[np.isclose(band[:, 0], rank), 1]
        assert ys.min() == pytest.approx(low[rank - 1]) and ys.max() == pytest.approx(high[rank - 1])
    assert any("min–max over 10 trials" in t.get_text() for t in ax.get_legend().get_texts())
    assert f"r1 {entry['cmc_mean'][0]:.2f}%" in ax.get_legend().get_texts()[0].get_text()


def test_plot_cmc_command_writes_png_and_pdf(results_dir, tmp_path):
    assert cli(["plot", "cmc", "--results", str(results_dir), "--setting", "indoor-multi", "--max-rank", "5",
                "--methods", "hog_euclidean", "--out", str(tmp_path / "cmc")]) == 0
    with Image.open(tmp_path / "cmc.png") as img:
        assert img.size[0] > 500 and img.size[1] > 300
    assert (tmp_path / "cmc.pdf").read_bytes().startswith(b"%PDF")
    assert cli(["plot", "cmc", "--results", str(results_dir)]) == 0
    assert (results_dir / "figures" / "cmc_all-single.png").is_file()


def test_plot_cmc_errors(results_dir, capsys):
    assert cli(["plot", "cmc", "--results", str(results_dir), "--methods", "lomo_cca"]) == 2
    assert "no result for method(s) lomo_cca" in capsys.readouterr().err
    assert cli(["plot", "cmc", "--results", str(results_dir), "--setting", "outdoor"]) == 2
    assert "unknown setting 'outdoor'" in capsys.readouterr().err


# --------------------------------------------------------------- losses
LOSS_COLUMNS = ["step", "epoch", "phase", "l_ide", "l_tri", "l_gen", "l_dis", "d_acc", "l_total", "lr_g", "lr_d"]


def write_losses(folder: Path, steps: int = 60, columns: list[str] = LOSS_COLUMNS) -> pd.DataFrame:
    """A cmGAN-like log: K = 5 generator steps, then one discriminator step."""
    rows = []
    for s in range(steps):
        phase = "dis" if s % 6 == 5 else "gen"
        l_ide, l_tri, l_dis = 5 * math.exp(-s / 20) + 0.5, 1 + 1 / (s + 1), 0.69 + 0.3 * math.cos(s)
        l_gen = l_ide + l_tri
        total = 0.05 * l_dis if phase == "dis" else l_gen - 0.05 * l_dis
        rows.append([s, s // 20, phase, l_ide, l_tri, l_gen, l_dis, 0.5, total, 1e-4, 1e-3])
    frame = pd.DataFrame(rows, columns=LOSS_COLUMNS)[columns]
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "losses.csv", index=False)
    return frame


def test_loss_figures_plot_the_logged_values(tmp_path):
    frame = write_losses(tmp_path / "work")
    fig, data = losses.plot_losses(losses.read_loss_log(tmp_path / "work" / "losses.csv"), tmp_path, "cmgan", smooth=1)
    ax_gen, ax_dis, ax_tot = fig.axes
    np.testing.assert_allclose(ax_gen.lines[0].get_ydata(), frame["l_gen"])
    np.testing.assert_array_equal(ax_gen.lines[0].get_xdata(), frame["step"])
    np.testing.assert_allclose(ax_dis.lines[0].get_ydata(), frame["l_dis"])
    assert ax_dis.lines[1].get_ydata()[0] == pytest.approx(2 * math.log(2))  # chance line: pair-summed l_dis
    gen_rows = frame[frame["phase"] == "gen"]
    with_d = next(l for l in ax_tot.lines if l.get_label().startswith("with discriminator"))
    without = next(l for l in ax_tot.lines if l.get_label().startswith("without"))
    np.testing.assert_allclose(with_d.get_ydata(), gen_rows["l_total"])  # discriminator steps left out
    np.testing.assert_allclose(without.get_ydata(), gen_rows["l_gen"])
    np.testing.assert_array_equal(with_d.get_xdata(), gen_rows["step"])
    assert len(gen_rows) == 50 and set(data) >= {"l_gen", "l_dis"}
    smoothed, _ = losses.plot_losses(frame, tmp_path, "cmgan", smooth=4)
    bold = [l for l in smoothed.axes[0].lines if l.get_gid() == "smoothed"][0]
    assert bold.get_ydata()[5] == pytest.approx(frame["l_gen"][2:6].mean())


def test_plot_losses_command(results_dir, tmp_path, capsys):
    work = tmp_path / "work"
    write_losses(work)
    result = _result(results_dir, ORACLE)
    result["artifacts"]["files"] = {"losses.csv": "run.losses.csv"}  # stored beside the result
    (tmp_path / "run.json").write_text(json.dumps(result))
    shutil.copy(work / "losses.csv", tmp_path / "run.losses.csv")
    assert cli(["plot", "losses", str(tmp_path / "run.json")]) == 0
    assert (tmp_path / "figures" / f"{ORACLE}_losses.png").is_file()
    assert cli(["plot", "losses", str(work), "--out", str(tmp_path / "l"), "--smooth", "3"]) == 0
    assert (tmp_path / "l.pdf").is_file() and (tmp_path / "l.png").is_file()
    capsys.readouterr()
    assert cli(["plot", "losses", str(_path(results_dir, "hog_euclidean"))]) == 2
    assert "'hog_euclidean' stores no loss log" in capsys.readouterr().err


def test_loss_log_without_discriminator_columns(tmp_path, capsys):
    write_losses(tmp_path / "wu", columns=["step", "epoch", "phase", "l_ide", "l_total", "lr_g"])
    assert cli(["plot", "losses", str(tmp_path / "wu")]) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) l_gen, l_dis" in err and err.count("\n") == 1
    frame = write_losses(tmp_path / "noadv")
    frame.assign(l_dis=np.nan).to_csv(tmp_path / "noadv" / "losses.csv", index=False)
    with pytest.raises(ReidbenchError, match="no values in column"):
        losses.plot_losses(losses.read_loss_log(tmp_path / "noadv" / "losses.csv"), tmp_path, "x")


# ------------------------------------------------------------ retrieval
def _independent_top_k(tiny, result: dict, key: str, trial: int, query: int, k: int) -> list[int]:
    """Evaluation-set rows of the top-k, recomputed from the embeddings file with plain numpy."""
    sysu = get_protocol("sysu")
    pool = sysu.evaluation_set(tiny)
    probe_rows = sysu.probes(tiny, sysu.setting(key))
    feats = np.load(result["artifacts"]["local"]["embeddings"])["features"].astype(np.float64)
    q, g = feats[probe_rows[query]], feats
    gallery = sysu.galleries(tiny, sysu.setting(key), 10).indices[trial]
    if pool.cams[probe_rows[query]] == 3:  # cam 3 (IR) and cam 2 (RGB) are the same room
        gallery = gallery[pool.cams[gallery] != 2]
    dist = np.linalg.norm(g[gallery] - q, axis=1)
    return [int(gallery[i]) for i in sorted(range(len(gallery)), key=lambda i: (dist[i], i))[:k]]


@pytest.mark.parametrize("setting", ["all-single", "indoor-multi"])
def test_stored_retrievals_equal_an_independent_ranking(results_dir, tiny, setting):
    path = _path(results_dir, "hog_euclidean")
    result = json.loads(path.read_text())
    view = retrieval.load_run(path, setting)
    assert view.trial == result["retrieval"]["trial"] == 0
    queries = np.arange(len(view.probes))
    rows = retrieval.retrieve(view, queries, 10)
    assert any(view.probes.cams[r.query] == 3 for r in rows)
    for r in rows:
        expected = _independent_top_k(tiny, result, setting, 0, r.query, 10)
        assert r.ranked.tolist() == expected
        assert r.matches.tolist() == [view.pool.pids[i] == view.probes.pids[r.query] for i in expected]
        if view.probes.cams[r.query] == 3:
            assert 2 not in view.pool.cams[r.ranked]


def test_queries_are_seeded_and_have_a_true_match(results_dir):
    view = retrieval.load_run(_path(results_dir, "hog_euclidean"), "indoor-single")
    a = retrieval.choose_queries(view, 6, seed=3)
    assert a.tolist() == retrieval.choose_queries(view, 6, seed=3).tolist() != retrieval.choose_queries(view, 6, 4).tolist()
    gal_pids = set(view.pool.pids[view.gallery])
    assert all(view.probes.pids[q] in gal_pids for q in a)
    with pytest.raises(ReidbenchError, match="only"):
        retrieval.choose_queries(view, 10_000, 0)


def test_show_frames_true_matches_green_and_false_red(results_dir, tmp_path):
    path = _path(results_dir, "hog_euclidean")
    out = tmp_path / "fig6.png"
    assert cli(["show", str(path), "--queries", "3", "--top-k", "6", "--seed", "1", "--out", str(out)]) == 0
    view = retrieval.load_run(path, "all-single")
    rows = retrieval.retrieve(view, retrieval.choose_queries(view, 3, 1), 6)
    grid = retrieval.render_grid(view, rows)
    with Image.open(out) as img:
        png = np.asarray(img.convert("RGB"))
    assert png.shape[:2] == (grid.image.height, grid.image.width)
    colours = 0
    for r, boxes in zip(rows, grid.boxes):
        expected = [retrieval.BLUE] + [retrieval.GREEN if ok else retrieval.RED for ok in r.matches]
        for (x0, y0, x1, y1), colour in zip(boxes, expected, strict=True):
            for x, y in ((x0 + 1, (y0 + y1) // 2), ((x0 + x1) // 2, y0 + 1), (x1 - 1, y1 - 1)):
                assert tuple(png[y, x]) == colour
                colours += 1
    assert colours == 3 * 7 * 3
    assert any(r.matches.any() for r in rows) and any((~r.matches).any() for r in rows)


def test_show_errors(results_dir, tiny_root, tmp_path, capsys):
    path = _path(results_dir, "hog_euclidean")
    assert cli(["show", str(path), "--top-k", "11"]) == 2
    assert "--top-k must be between 1 and 10" in capsys.readouterr().err
    moved = json.loads(path.read_text())
    moved["dataset"]["root"] = str(tmp_path / "gone")
    (tmp_path / "r.json").write_text(json.dumps(moved))
    assert cli(["show", str(tmp_path / "r.json")]) == 2
    assert "dataset root not found" in capsys.readouterr().err
    assert cli(["show", str(tmp_path / "r.json"), "--data", str(tiny_root), "--out", str(tmp_path / "f.png")]) == 0
    del moved["retrieval"]
    (tmp_path / "old.json").write_text(json.dumps(moved))
    assert cli(["show", str(tmp_path / "old.json")]) == 2
    assert "missing key 'retrieval'" in capsys.readouterr().err  # the reader checks the schema first


# --------------------------------------------------------------- report
class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.cells, self._in_cell = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        self._in_cell = tag in ("th", "td")

    def handle_data(self, data):
        if self._in_cell and data.strip():
            self.cells.append(data.strip())


def test_html_report_has_the_table_and_one_image_per_figure(results_dir, tmp_path):
    import base64
    import io

    folder = tmp_path / "results"
    shutil.copytree(results_dir, folder, ignore=shutil.ignore_patterns("figures"))
    oracle_path = _path(folder, ORACLE)
    oracle = json.loads(oracle_path.read_text())
    write_losses(tmp_path / "work")  # give one run a loss log, stored beside it
    shutil.copy(tmp_path / "work" / "losses.csv", oracle_path.with_name(oracle_path.stem + ".losses.csv"))
    oracle["artifacts"]["files"] = {"losses.csv": oracle_path.stem + ".losses.csv"}
    oracle_path.write_text(json.dumps(oracle))
    page = build_report(folder, tmp_path / "report", show="hog_euclidean", queries=2)
    title = page.read_text().split("<title>")[1].split("</title>")[0]
    assert title.startswith("reidbench report: ") and str(tmp_path) not in title  # no absolute path
    parsed = _Collect()
    parsed.feed(page.read_text())
    assert "HOG+Euclidean" in parsed.cells and "Oracle+noise" in parsed.cells
    hog = _result(folder, "hog_euclidean")
    assert f"{hog['settings']['all-single']['mean']['r1']:.2f}" in parsed.cells
    assert len(parsed.imgs) == 4 + 1 + 1  # CMC per setting, one loss figure, one retrieval figure
    for src in parsed.imgs:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as img:
            assert img.size[0] > 300
    oracle_path.with_name(oracle_path.stem + ".losses.csv").unlink()
    assert cli(["report", "--results", str(folder), "--out", str(tmp_path / "r2")]) == 0
    parsed = _Collect()
    parsed.feed((tmp_path / "r2" / "index.html").read_text())
    assert len(parsed.imgs) == 4 + 1
    assert "no run in this folder has a loss log" in (tmp_path / "r2" / "index.html").read_text()
    assert load_results(folder)  # the report wrote nothing into the results folder
