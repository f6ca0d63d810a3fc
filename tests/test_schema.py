"""The published result schema: real results follow it, broken ones do not, old ones are refused."""
from __future__ import annotations

import json

import pytest

from reidbench.errors import ReidbenchError
from reidbench.runner import RunOptions, run
from reidbench.store import SCHEMA, load_results, schema_path


@pytest.fixture(scope="module")
def written(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("schema")
    (path,) = run(RunOptions(methods=["hog_euclidean"], data=tiny_root, results=out / "r", cache=out / "c",
                             progress=False, modes=("all",)))
    return json.loads(path.read_text())


def test_the_schema_file_ships_with_the_version(result_schema):
    assert schema_path().name == f"result-{SCHEMA}.schema.json"
    assert json.loads(schema_path().read_text())["properties"]["schema"] == {"const": SCHEMA}


def test_a_result_follows_it_and_broken_ones_do_not(written, result_schema):
    assert not list(result_schema.iter_errors(written))
    for breakage in (lambda r: r.pop("retrieval"), lambda r: r["settings"]["all-single"]["mean"].update(r1=101.0),
                     lambda r: r.update(seed=-1), lambda r: r["method"]["origin"].update(kind="guessed"),
                     lambda r: r["settings"].update({"outdoor-single": r["settings"]["all-single"]})):
        broken = json.loads(json.dumps(written))
        breakage(broken)
        assert list(result_schema.iter_errors(broken)), breakage


def test_an_old_schema_is_refused_with_a_clear_message(written, tmp_path):
    old = {**written, "schema": 1}
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(ReidbenchError, match="schema 1, this reidbench reads schema 2; re-run it"):
        load_results(tmp_path)
