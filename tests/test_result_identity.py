"""Result identity: runs of other configs, seeds or fewer settings never replace a result silently."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reidbench.cli import main
from reidbench.errors import ReidbenchError
from reidbench.registry import get_method
from reidbench.selection import select_rows
from reidbench.store import load_results


def _run(tiny_root: Path, out: Path, *extra: str) -> None:
    assert main(["run", "--methods", "hog_cca", "--data", str(tiny_root), "--results", str(out),
                 "--cache", str(out.parent / "cache"), "--no-progress", "--set", "n_components=4", *extra]) == 0


@pytest.fixture(scope="module")
def folder(tiny_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ident") / "runs"
    _run(tiny_root, out, "--modes", "all", "--shots", "single")  # one setting first
    _run(tiny_root, out, "--modes", "indoor")  # two more settings of the same identity
    _run(tiny_root, out, "--set", "pca_dim=8", "--modes", "all")  # another config
    _run(tiny_root, out, "--seed", "3", "--modes", "all", "--shots", "single")  # another seed
    return out


def test_files_per_identity(folder):
    names = sorted(p.name for p in folder.glob("*.json"))
    assert len(names) == 3 and all(n.startswith("hog_cca__sysu__") for n in names)
    by_variant = {(tuple(sorted(r["method"]["changed"].items())), r["seed"]): r for r in load_results(folder)}
    merged = by_variant[((("n_components", 4),), 0)]
    assert set(merged["settings"]) == {"all-single", "indoor-single", "indoor-multi"}
    assert [h["settings"] for h in merged["history"]] == [["all-single"], ["indoor-multi", "indoor-single"]]
    assert set(by_variant[((("n_components", 4), ("pca_dim", 8)), 0)]["settings"]) == {"all-single", "all-multi"}
    assert by_variant[((("n_components", 4),), 3)]["seed"] == 3


def test_a_subset_rerun_keeps_the_numbers(folder, tiny_root):
    (before,) = [r for r in load_results(folder) if r["seed"] == 0 and "pca_dim" not in r["method"]["changed"]]
    _run(tiny_root, folder, "--modes", "all", "--shots", "single")
    (after,) = [r for r in load_results(folder) if r["seed"] == 0 and "pca_dim" not in r["method"]["changed"]]
    assert after["settings"]["all-single"]["trials"] == before["settings"]["all-single"]["trials"]
    assert set(after["settings"]) == set(before["settings"]) and len(after["history"]) == 3


def test_table_labels_every_variant(folder, capsys):
    assert main(["table", "--results", str(folder), "--variants", "all"]) == 0
    out = capsys.readouterr().out
    assert "| HOG+CCA [n_components=4, 2 seeds] |" in out  # seeds 0 and 3 of one config: one row
    assert "| HOG+CCA [n_components=4, pca_dim=8] |" in out
    assert main(["table", "--results", str(folder)]) == 0  # no default-config run: the variants stand in
    assert capsys.readouterr().out.count("| HOG+CCA [") == 2


def test_default_view_prefers_the_default_config(folder, tiny_root, tmp_path):
    results = load_results(folder)
    default = json.loads(json.dumps(results[0]))
    default["method"]["changed"], default["method"]["resolved"], default["seed"] = {}, {"default": True}, 0
    rows = select_rows(results + [default], "sysu")
    assert [row.label for row in rows] == ["HOG+CCA"]
    assert len(select_rows(results + [default], "sysu", variants="all")) == 3


def test_a_table_never_mixes_datasets(folder):
    results = load_results(folder)
    other = json.loads(json.dumps(results[0]))
    other["dataset"]["fingerprint"] = "0" * 16
    with pytest.raises(ReidbenchError, match="2 different datasets"):
        select_rows(results + [other], "sysu")


def test_the_run_seed_reaches_handcrafted_matchers(tiny, tmp_path):
    from reidbench.methods.base import RunContext

    spec = get_method("hog_cca")
    assert "seed" not in spec.config
    method = spec.create({"n_components": 2, "pca_fit_rows": 40})
    ctx = RunContext(seed=5, cache_dir=tmp_path, dataset_fingerprint=tiny.fingerprint, progress=False)
    method.fit(tiny.train, tiny.val, ctx)
    assert method.matcher.pca_args["seed"] == 5
    other = get_method("hog_cca").create({"n_components": 2, "pca_fit_rows": 40})
    other.fit(tiny.train, tiny.val, RunContext(seed=6, cache_dir=tmp_path, dataset_fingerprint=tiny.fingerprint,
                                               progress=False))
    probes = tiny.test
    assert (method.embed(probes, ctx) != other.embed(probes, ctx)).any()  # the subsample follows the seed


def test_cached_embeddings_are_reused_only_by_the_same_code(tiny_root, tmp_path, monkeypatch, capsys):
    """A change to a method's source invalidates its cached embeddings (the result id stays)."""
    from reidbench.registry import MethodSpec

    out = tmp_path / "runs"
    _run(tiny_root, out, "--modes", "all", "--shots", "single")
    _run(tiny_root, out, "--modes", "all", "--shots", "single")
    assert capsys.readouterr().err.count("cached; evaluating only") == 1
    monkeypatch.setattr(MethodSpec, "code_digest", property(lambda self: "edited"))
    _run(tiny_root, out, "--modes", "all", "--shots", "single")
    assert "cached; evaluating only" not in capsys.readouterr().err
    assert len(list(out.glob("*.json"))) == 1


def test_source_digest_follows_the_files_beside_a_module(tmp_path, monkeypatch):
    from reidbench.registry import source_digest

    pkg = tmp_path / "toy_methods"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "impl.py").write_text("X = 1\n")
    (pkg / "helper.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("toy_methods.impl")
    before = source_digest("toy_methods.impl")
    (pkg / "helper.py").write_text("Y = 2\n")  # a sibling file of the factory's module
    source_digest.cache_clear()
    assert source_digest("toy_methods.impl") != before
    assert source_digest("no.such.module") == "unknown"
