"""Bad input, round two (issue 20): every file reidbench reads is checked before it is trusted.

Each case must end in one line on stderr, exit status 2, no traceback and nothing written.
Broken result files are generated from the shipped schema itself (every required key
missing, every typed value of the wrong type), so new keys are covered without new cases.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from reidbench.cli import main
from reidbench.config import tuned_in_effect
from reidbench.data.layouts import load
from reidbench.errors import ReidbenchError
from reidbench.schemacheck import first_problem
from reidbench.selection import select_rows
from reidbench.store import load_results, result_problem, schema_path
from reidbench.tuning import points_digest

REFERENCE = sorted((Path(__file__).parents[1] / "results" / "synthetic-small").glob("hog_euclidean__sysu__*.json"))[0]
SCHEMA = json.loads(schema_path().read_text())
WRONG = ("text", 12345, 1.5, [1], {"k": 1}, None, True)


def _types(node: dict[str, Any]) -> set[str]:
    kinds = node.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def _json_type(value: Any) -> str:
    return {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}[type(value)]


def _wrong_value(node: dict[str, Any]) -> Any:
    """A value ``node`` refuses: of another type, or outside its enum/const."""
    allowed = _types(node) | ({"number"} if "integer" in _types(node) else set()) | \
        ({"integer"} if "number" in _types(node) else set())
    for value in WRONG:
        if _types(node) and _json_type(value) not in allowed:
            return value
        if not _types(node) and ("enum" in node or "const" in node):
            return {"k": 1}
    return None


def _node(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _mutations(value: Any, node: dict[str, Any], path: tuple = ()) -> Iterator[tuple[str, tuple, Any]]:
    """(name, path, replacement or KeyError for deletion) for every required key and typed value."""
    node = _node(node)
    if isinstance(value, dict):
        for key in node.get("required", ()):
            yield f"missing {'.'.join(map(str, path + (key,)))}", path + (key,), KeyError
        children = [(k, node.get("properties", {}).get(k, node.get("additionalProperties"))) for k in value]
        seen_additional = False
        for key, child in children:
            if not isinstance(child, dict):
                continue
            if key not in node.get("properties", {}):
                if seen_additional:  # one entry of a map (settings, ranks...) stands for all
                    continue
                seen_additional = True
            wrong = _wrong_value(_node(child))
            if wrong is not None:
                yield f"wrong type {'.'.join(map(str, path + (key,)))}", path + (key,), wrong
            yield from _mutations(value[key], child, path + (key,))
    elif isinstance(value, list) and value and "items" in node:
        wrong = _wrong_value(_node(node["items"]))
        if wrong is not None:
            yield f"wrong type {'.'.join(map(str, path + (0,)))}", path + (0,), wrong
        yield from _mutations(value[0], node["items"], path + (0,))


def _apply(payload: dict[str, Any], path: tuple, replacement: Any) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    target = out
    for part in path[:-1]:
        target = target[part]
    if replacement is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = replacement
    return out


def _semantic_breakages(payload: dict[str, Any]) -> dict[str, Callable[[dict], Any]]:
    first = next(iter(payload["settings"]))
    key = next(iter(payload["retrieval"]["ranks"]))
    return {
        "old schema": lambda r: r.update(schema=1),
        "trials shorter than the protocol's": lambda r: r["settings"][first]["trials"].pop(),
        "gallery sizes shorter": lambda r: r["settings"][first]["gallery_size"].pop(),
        "empty cmc": lambda r: r["settings"][first].update(cmc_mean=[]),
        "ranks of the wrong size": lambda r: r["retrieval"]["ranks"][key].update(data="AAAA"),
        "ranks not base64": lambda r: r["retrieval"]["ranks"][key].update(data="!!"),
        "RegDB setting on SYSU": lambda r: r["settings"].update(v2t=r["settings"][first]),
        "no settings": lambda r: r.update(settings={}),
        "r1 above 100": lambda r: r["settings"][first]["mean"].update(r1=100.5),
    }


MUTATIONS = list(_mutations(json.loads(REFERENCE.read_text()), SCHEMA))


def test_the_mutations_cover_the_schema():
    names = {name for name, _, _ in MUTATIONS}
    assert len(MUTATIONS) > 100
    for must in ("missing dataset", "wrong type settings", "wrong type method", "missing method.origin.kind",
                 "wrong type settings.all-single.trials.0.r1", "missing retrieval.ranks.all-single.dtype"):
        assert must in names, must


def test_the_checker_agrees_with_jsonschema(result_schema):
    payload = json.loads(REFERENCE.read_text())
    assert first_problem(payload, SCHEMA) is None and not list(result_schema.iter_errors(payload))
    for name, path, replacement in MUTATIONS:
        broken = _apply(payload, path, replacement)
        ours, theirs = first_problem(broken, SCHEMA), next(result_schema.iter_errors(broken), None)
        assert bool(ours) == bool(theirs), (name, ours, theirs)
        assert ours is not None, name
    for name, breakage in _semantic_breakages(payload).items():
        broken = copy.deepcopy(payload)
        breakage(broken)
        assert result_problem(broken), name


def _one_line_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("reidbench: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def _broken_files() -> Iterator[tuple[str, str]]:
    payload = json.loads(REFERENCE.read_text())
    for name, path, replacement in MUTATIONS:
        yield name, json.dumps(_apply(payload, path, replacement))
    for name, breakage in _semantic_breakages(payload).items():
        broken = copy.deepcopy(payload)
        breakage(broken)
        yield name, json.dumps(broken)
    text = json.dumps(payload)
    yield "NaN", text.replace('"r1": ', '"r1": NaN, "x": ', 1)
    yield "not an object", json.dumps([payload])
    yield "cut short", text[: len(text) // 2]
    yield "empty", ""
    yield "not UTF-8", "\udcff"


def test_the_reader_refuses_every_broken_result(tmp_path):
    import reidbench

    result = tmp_path / REFERENCE.name
    for name, text in _broken_files():
        result.write_bytes(text.encode("utf-8", "surrogateescape"))
        with pytest.raises(ReidbenchError, match=str(result)) as err:
            load_results(tmp_path)
        assert "\n" not in str(err.value), name
        with pytest.raises(ReidbenchError, match=str(result)):
            reidbench.load_results(result)


def test_every_command_refuses_a_broken_result_in_one_line(tmp_path, capsys):
    """table, config, plot, report and show all read through the one reader (a sample of each class)."""
    folder = tmp_path / "r"
    folder.mkdir()
    result = folder / REFERENCE.name
    files = list(_broken_files())
    for name, text in files[:len(MUTATIONS):15] + files[len(MUTATIONS):]:  # every class, some schema cases
        result.write_bytes(text.encode("utf-8", "surrogateescape"))
        before = sorted(p.name for p in tmp_path.rglob("*"))
        _one_line_error(capsys, main(["table", "--results", str(folder)]), str(result))
        _one_line_error(capsys, main(["config", str(result), "--out", str(tmp_path / "c.toml")]), str(result))
        _one_line_error(capsys, main(["plot", "cmc", "--results", str(folder), "--out", str(tmp_path / "cmc")]))
        _one_line_error(capsys, main(["report", "--results", str(folder), "--out", str(tmp_path / "rep")]))
        _one_line_error(capsys, main(["show", str(result), "--out", str(tmp_path / "s.png")]))
        _one_line_error(capsys, main(["plot", "losses", str(result), "--out", str(tmp_path / "l")]))
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, name


def test_config_refuses_an_old_schema_as_table_does(tmp_path, capsys):
    old = {**json.loads(REFERENCE.read_text()), "schema": 1}
    (tmp_path / REFERENCE.name).write_text(json.dumps(old))
    _one_line_error(capsys, main(["config", str(tmp_path / REFERENCE.name)]), "schema 1, this reidbench reads schema 2")
    _one_line_error(capsys, main(["table", "--results", str(tmp_path)]), "schema 1, this reidbench reads schema 2")


def test_other_reidbench_files_beside_results_are_skipped(tmp_path):
    shutil.copy(REFERENCE, tmp_path / REFERENCE.name)
    (tmp_path / "sweep.json").write_text(json.dumps({"kind": "reidbench-sweep", "method": "hog_cca"}))
    (tmp_path / "tuning.json").write_text(json.dumps({"kind": "reidbench-tuning", "points": []}))
    assert [Path(r["_path"]).name for r in load_results(tmp_path)] == [REFERENCE.name]


# ------------------------------------------------------------------ feature rows outside the dataset
def _features(paths: list[str], out: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(out, features=rng.normal(size=(len(paths), 8)), paths=np.array(paths))
    return out


def _eval(capsys, data: Path, files: list[Path], *extra: str) -> tuple[int, str, str]:
    argv = ["eval", "--data", str(data), "--trials", "2", "--json", *extra]
    for f in files:
        argv += ["--features", str(f)]
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("layout", ["sysu", "llcm", "regdb"])
def test_rows_that_are_not_dataset_images_are_refused_or_counted(layout, tiny_root, llcm_root, regdb_root, tmp_path,
                                                                 capsys):
    root = {"sysu": tiny_root, "llcm": llcm_root, "regdb": regdb_root}[layout]
    data = load(root)
    listing = data.listing()
    test_pid = data.split(0).test.pids[0]
    ghost = {"sysu": f"cam1/{test_pid:04d}/0999.jpg", "llcm": f"test_vis/cam1/{test_pid:04d}/ghost.jpg",
             "regdb": f"Visible/{test_pid}/ghost.bmp"}[layout]
    files = 2 if layout == "regdb" else 1  # RegDB: one file per trial
    clean = [_features(listing, tmp_path / f"clean{i}.npz") for i in range(files)]
    dirty = [_features(listing + [ghost], tmp_path / f"dirty{i}.npz") for i in range(files)]
    code, out, err = _eval(capsys, root, clean)
    assert code == 0, err
    expected = json.loads(out)
    code, out, err = _eval(capsys, root, dirty)
    assert code == 2 and out == "" and err.count("\n") == 1 and ghost in err and "--ignore-extra-rows" in err, err
    code, out, err = _eval(capsys, root, dirty, "--ignore-extra-rows")
    assert code == 0, err
    got = json.loads(out)
    assert f"ignored {files} feature row(s)" in err
    for key, res in expected.items():  # the extra row changes no number
        assert got[key]["ignored_rows"] == files and res["ignored_rows"] == 0
        assert {k: v for k, v in got[key].items() if k not in ("ignored_rows", "gallery_note")} == \
            {k: v for k, v in res.items() if k not in ("ignored_rows", "gallery_note")}


def test_ignore_extra_rows_needs_a_dataset(tmp_path, capsys):
    f = _features(["cam1/0001/0001.jpg"], tmp_path / "f.npz")
    _one_line_error(capsys, main(["eval", "--features", str(f), "--ignore-extra-rows"]), "needs --data")


# ------------------------------------------------------------------ list files pointing outside the root
def _escapes(root: Path, rel: str) -> Iterator[tuple[str, str]]:
    """(description, replacement path) of the ways a listed path can leave ``root``."""
    outside = root.parent / "outside.jpg"
    shutil.copy(root / rel, outside)
    link_dir = Path(rel).parent
    yield "dot-dot", f"{link_dir}/../../../outside.jpg"
    yield "dot-dot that comes back", f"{link_dir}/../{link_dir.name}/{Path(rel).name}"
    yield "absolute", str(root / rel)
    (root / link_dir / "link.jpg").symlink_to(outside)
    yield "symlink out", f"{link_dir}/link.jpg"


@pytest.mark.parametrize("layout", ["llcm", "regdb"])
def test_list_file_paths_must_stay_inside_the_root(layout, llcm_root, regdb_root, tmp_path, capsys):
    root = shutil.copytree(llcm_root if layout == "llcm" else regdb_root, tmp_path / "data", symlinks=True)
    lists = sorted((root / "idx").glob("train_vis*.txt" if layout == "llcm" else "train_visible_1.txt"))
    lst = lists[0]
    original = lst.read_text()
    first, label = original.splitlines()[0].rsplit(" ", 1)
    for what, bad in _escapes(root, first):
        lst.write_text(original.replace(f"{first} {label}", f"{bad} {label}", 1))
        with pytest.raises(ReidbenchError, match="dataset root") as err:
            load(root)
        message = str(err.value)
        assert "\n" not in message and (f"{lst.name}, line 1" in message or "link.jpg" in message), (what, message)
        _one_line_error(capsys, main(["run", "--data", str(root), "--methods", "hog_euclidean",
                                      "--results", str(tmp_path / "r"), "--no-progress"]), "dataset root")
        assert not (tmp_path / "r").exists()
    lst.write_text(original)
    for link in root.rglob("link.jpg"):
        link.unlink()
    assert load(root).listing()


def test_llcm_test_images_linked_from_outside_are_refused(llcm_root, tmp_path):
    root = shutil.copytree(llcm_root, tmp_path / "data", symlinks=True)
    folder = next(p for p in sorted((root / "test_vis" / "cam1").iterdir()) if p.is_dir())
    image = next(folder.iterdir())
    shutil.copy(image, tmp_path / "elsewhere.jpg")
    image.unlink()
    image.symlink_to(tmp_path / "elsewhere.jpg")
    with pytest.raises(ReidbenchError, match="leads outside the dataset root"):
        load(root)


def test_llcm_reads_the_official_test_cameras_only(llcm_root, tmp_path):
    root = shutil.copytree(llcm_root, tmp_path / "data")
    before = load(root)
    pid = before.test_ids[0]
    donor = next((root / "test_nir").glob(f"cam*/{pid:04d}/*.jpg"))
    cam3 = root / "test_nir" / "cam3" / f"{pid:04d}"
    cam3.mkdir(parents=True)
    shutil.copy(donor, cam3 / f"{pid:04d}_c03{donor.name[8:]}")
    after = load(root)
    assert after.test_rows == before.test_rows  # test_nir/cam3 is never read, as in the official code
    assert np.array_equal(after.split(0).test.pids, before.split(0).test.pids)


# ------------------------------------------------------------------ options
BIG = str(2**64)


def _option_cases(data: str, out: str) -> list[tuple[list[str], str]]:
    """(argv, the flag its error must name)."""
    run = ["run", "--data", data, "--methods", "hog_euclidean", "--results", out, "--no-progress"]
    tune = ["tune", "--method", "hog_cca", "--grid", "n_components=2,4", "--data", data, "--out", out, "--no-progress"]
    sweep = ["sweep", "--method", "hog_cca", "--set", "n_components=2,4", "--data", data, "--out", out,
             "--no-progress"]
    cases = [(run, "--jobs", ("0", "-2")), (run, "--seeds", (BIG, "-1", f"0,{BIG}")),
             (run, "--trials", ("0", "-1", "11", BIG)), (run, "--slurm-time", ("0",)), (run, "--slurm-cpus", ("-1",)),
             (tune, "--val-trials", ("0", "-3", BIG)), (tune, "--seed", (BIG, "-1")), (tune, "--budget", ("0", "-1")),
             (tune, "--jobs", ("0",)), (sweep, "--seed", (BIG, "-1")), (sweep, "--trials", ("0", "99")),
             (sweep, "--jobs", ("0",)),
             (["eval", "--features", out + ".npz", "--data", data], "--trials", ("0", BIG)),
             (["data", "synth", "--out", out], "--seed", (BIG, "-1")),
             (["show", out + ".json"], "--queries", ("0", "-1")), (["show", out + ".json"], "--top-k", ("0",)),
             (["show", out + ".json"], "--seed", (BIG,)),
             (["report", "--results", out, "--out", out + "-rep"], "--queries", ("0",)),
             (["report", "--results", out, "--out", out + "-rep"], "--seed", ("-1", BIG)),
             (["plot", "cmc", "--results", out], "--max-rank", ("0",))]
    return [([*base, flag, value], flag) for base, flag, values in cases for value in values]


def test_out_of_range_options_fail_before_any_work(tiny_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    for argv, flag in _option_cases(str(tiny_root), str(out)):
        _one_line_error(capsys, main(argv), flag)
        assert sorted(tmp_path.iterdir()) == [], (argv, sorted(tmp_path.iterdir()))


def test_tune_grid_errors_name_grid(tiny_root, tmp_path, capsys):
    base = ["tune", "--method", "hog_cca", "--data", str(tiny_root), "--out", str(tmp_path / "t")]
    for grid in ("n_components", "n_components=2,2", "=2"):
        err = _one_line_error(capsys, main([*base, "--grid", grid]), "--grid")
        assert "--set" not in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("body", [
    'methods = ["hog_euclidean"]\n[overrides.hog_eucldean]\nx = 1\n',
    'methods = ["hog_euclidean"]\n[tuned.hog_cca]\nmetric = "mAP"\n',
    '[overrides.nope]\nx = 1\n',
    'trials = 0\n', 'seeds = [-1]\n', 'trials = 12\n',
])
def test_run_config_tables_and_values_are_checked(body, tiny_root, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(body)
    _one_line_error(capsys, main(["run", "--config", str(cfg), "--methods", "hog_euclidean", "--data", str(tiny_root),
                                  "--results", str(tmp_path / "r"), "--no-progress"]), str(cfg))
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ smaller truths
def test_val_tuned_only_while_a_tuned_value_is_in_effect():
    result = json.loads(REFERENCE.read_text())
    origin = {"kind": "manual", "base": {"cell": 8}, "tuning": {"metric": "mAP"}, "manual": {"cell": 6}}
    result["method"].update(origin=origin, changed={"cell": 6}, tags=["val-tuned"])
    assert not tuned_in_effect(origin)
    assert select_rows([result], "sysu")[0].label == "HOG+Euclidean [cell=6]"
    origin["base"] = {"cell": 8, "bins": 9}  # bins is still the tuned value
    assert tuned_in_effect(origin)
    assert select_rows([result], "sysu")[0].label == "HOG+Euclidean [val-tuned; cell=6]"


def test_tuning_digest_covers_scores_and_configs_only():
    points = [{"overrides": {"a": 1}, "scores": {"mAP": 10.0, "r1": 20.0}, "time_s": 1.5, "device": "cpu"}]
    again = [{**points[0], "time_s": 9.25, "device": "cuda:0"}]
    other = [{**points[0], "scores": {"mAP": 10.5, "r1": 20.0}}]
    assert points_digest(points) == points_digest(again) != points_digest(other)


def test_an_interrupted_tune_says_how_to_resume(tiny_root, tmp_path, capsys, monkeypatch):
    from reidbench import tuning

    def interrupted(opts):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "run_tune", interrupted)
    assert main(["tune", "--method", "hog_cca", "--grid", "n_components=2", "--data", str(tiny_root)]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_a_resumed_fit_is_reported_for_every_trial(regdb_root, tmp_path, capsys, monkeypatch):
    """RegDB trains one model per trial: a resume in any trial is on the console and in the result."""
    from reidbench.methods.handcrafted.methods import HandcraftedMethod

    monkeypatch.setattr(HandcraftedMethod, "provenance", lambda self: {"resumed_from_step": 7})
    assert main(["run", "--data", str(regdb_root), "--methods", "hog_euclidean", "--trials", "2", "--results",
                 str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "training resumed from its checkpoint at step 7 (trial 1)" in err
    assert "training resumed from its checkpoint at step 7 (trial 2)" in err
    (result,) = load_results(tmp_path / "r")
    assert result["method_provenance"]["resumed"] == [{"trial": 1, "from_step": 7}, {"trial": 2, "from_step": 7}]
