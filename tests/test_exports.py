"""Tables ready for papers and scripts: LaTeX/HTML with one header row per level, plain CSV, JSON,
the tidy frame; and `table` showing every config that was run."""
from __future__ import annotations

import io
import json
import shutil
import subprocess

import pandas as pd
import pytest

import reidbench
from reidbench.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    common = dict(dataset="synthetic-tiny", results=out / "r", cache=out / "c", trials=2, progress=False)
    reidbench.run(methods=["hog_euclidean", "hog_cca"], **common)
    reidbench.run(methods="hog_cca", overrides={"hog_cca": {"pca_dim": 8}}, **common)  # the user's own config
    return out / "r"


def table(folder, capsys, *extra: str) -> tuple[str, str]:
    assert main(["table", "--results", str(folder), *extra]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_the_default_table_shows_every_config_run_default_first(folder, capsys):
    out, _ = table(folder, capsys)
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| HOG")]
    assert rows == ["HOG+Euclidean", "HOG+CCA", "HOG+CCA [pca_dim=8]"]
    out, _ = table(folder, capsys, "--variants", "default")
    assert "pca_dim=8" not in out and "| HOG+CCA |" in out


def test_csv_reads_as_is_and_the_caption_goes_to_stderr(folder, capsys):
    out, err = table(folder, capsys, "--format", "csv")
    frame = pd.read_csv(io.StringIO(out), index_col=0)
    assert frame.index.name == "Method" and list(frame.index) == ["HOG+Euclidean", "HOG+CCA", "HOG+CCA [pca_dim=8]"]
    assert frame.columns[0] == "All-search Single-shot r1" and frame.dtypes.map(pd.api.types.is_float_dtype).all()
    assert err.startswith("reidbench: caption: SYSU-MM01 protocol") and "#" not in out


def test_json_holds_caption_and_numbers(folder, capsys):
    out, _ = table(folder, capsys, "--format", "json", "--with-paper", "--minp")
    data = json.loads(out)
    frame = pd.DataFrame(data["data"], index=data["index"], columns=pd.MultiIndex.from_tuples(data["columns"]))
    assert "SYNTHETIC" in data["caption"] and isinstance(data["data"][0][0], float)
    assert frame.loc["HOG+Euclidean (synthetic data)", ("All-search Single-shot", "r1")] == data["data"][0][0]
    assert any(v is None for row in data["data"] for v in row)  # the paper has no mINP: null, not "–"


def test_tidy_is_the_data_frame(folder, capsys):
    out, _ = table(folder, capsys, "--format", "tidy")
    tidy = pd.read_csv(io.StringIO(out))
    frame = reidbench.load_results(folder)
    assert list(tidy.columns) == list(frame.columns) and len(tidy) == len(frame)
    assert sorted(tidy["trial"].unique()) == [1, 2]  # numbered from 1, as captions say
    pd.testing.assert_series_equal(tidy["value"], frame["value"].reset_index(drop=True), check_names=False)


def test_html_has_no_empty_header_row(folder, capsys):
    out, _ = table(folder, capsys, "--format", "html")
    head = out[out.index("<thead>"):out.index("</thead>")]
    rows = head.split("<tr>")[1:]
    assert len(rows) == 2 and "<th>Method</th>" in rows[0]  # setting groups (Method in the corner), metrics
    assert all(row.count("<th></th>") <= 1 for row in rows)


def _latex_rows(latex: str) -> list[str]:
    body = latex[latex.index(r"\toprule") + len(r"\toprule"):latex.index(r"\midrule")]
    return [r.strip() for r in body.split(r"\\") if r.strip()]


def test_latex_header_is_two_rows_and_compiles(folder, capsys, tmp_path):
    out, _ = table(folder, capsys, "--format", "latex", "--std")
    header = _latex_rows(out)
    assert len(header) == 2 and header[0].startswith("Method &") and header[1].startswith("& r1")
    assert all(cell.strip() for cell in header[1].split("&")[1:])  # no row of empty cells
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (the header structure is checked above)")
    doc = tmp_path / "t.tex"
    # booktabs' rules as plain rules: the test needs only LaTeX's base packages.
    doc.write_text("\\documentclass{article}\n\\providecommand{\\toprule}{\\hline}"
                   "\\providecommand{\\midrule}{\\hline}\\providecommand{\\bottomrule}{\\hline}\n"
                   f"\\begin{{document}}\n{out}\n\\end{{document}}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-1500:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000
