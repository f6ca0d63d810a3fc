"""reidbench from Python: run, a tidy numeric frame, and the Table-1 view the CLI prints."""
from __future__ import annotations

import pandas as pd
import pytest

import reidbench
from reidbench.cli import main


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    return reidbench.run(methods=["hog_euclidean", "lomo_euclidean"], dataset="synthetic-tiny",
                         results=out / "r", cache=out / "c", progress=False)


def test_load_results_is_tidy_and_numeric(written):
    df = reidbench.load_results(written[0].parent)
    assert len(written) == 2 and set(df["method"]) == {"hog_euclidean", "lomo_euclidean"}
    assert pd.api.types.is_float_dtype(df["value"]) and df["value"].between(0, 100).all()
    for column in ("dataset", "protocol", "gallery_source", "config", "seed", "setting", "trial", "metric"):
        assert column in df.columns
    one = df[(df["method"] == "hog_euclidean") & (df["setting"] == "all-single") & (df["metric"] == "r1")]
    assert sorted(one["trial"]) == list(range(1, 11)) and set(one["synthetic"]) == {True}  # numbered from 1
    assert reidbench.load_results(written).equals(reidbench.load_results(written[0].parent))


def test_table_means_equal_the_cli_table(written, capsys):
    numbers = reidbench.table(reidbench.load_results(written))
    assert main(["table", "--results", str(written[0].parent), "--format", "csv"]) == 0
    printed = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), comment="#", index_col=0)
    for label in numbers.index:
        for (setting, metric), value in numbers.loc[label].items():
            column = next(c for c in printed.columns if c.endswith(metric) and _setting(c) == setting)
            assert f"{value:.2f}" == f"{printed.loc[label, column]:.2f}"


def _setting(column: str) -> str:
    mode = "all" if column.startswith("All-search") else "indoor"
    return f"{mode}-{'single' if 'Single-shot' in column else 'multi'}"


def test_run_options_read_a_config_as_the_command_line_does(tmp_path):
    """One builder for `reidbench run` and `reidbench.run`: given values win, [tuned] values stay tuned."""
    from reidbench.errors import ReidbenchError
    from reidbench.runoptions import run_options

    config = tmp_path / "run.toml"
    config.write_text('methods = ["hog_cca", "hog_euclidean"]\ndataset = "synthetic-tiny"\ntrials = 3\n'
                      '[overrides.hog_cca]\nn_components = 4\n[tuned.hog_cca]\nmetric = "mAP"\n'
                      '[overrides.hog_euclidean]\nresize = "bilinear"\n')
    opts = run_options(config, trials=2, sets=["hog_euclidean:resize=bicubic"], progress=False)
    assert opts.methods == ["hog_cca", "hog_euclidean"] and opts.dataset == "synthetic-tiny" and opts.trials == 2
    assert opts.tuned["hog_cca"]["overrides"] == {"n_components": 4} and opts.overrides["hog_cca"] == {}
    assert opts.overrides["hog_euclidean"] == {"resize": "bicubic"} and opts.seeds == (0,)
    with pytest.raises(ReidbenchError, match="not in this run"):
        run_options(config, overrides={"lomo_cca": {"eps": 0.1}})
    with pytest.raises(ReidbenchError, match="required: --methods"):
        run_options(None)
