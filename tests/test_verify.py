"""``reidbench verify``: a user's runs beside the shipped reference results, cell by cell."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from reidbench.cli import main
from reidbench.store import load_results
from reidbench.verify import DIFFERS, IDENTICAL, WITHIN, compare

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "synthetic-small"


@pytest.fixture()
def mine(tmp_path) -> Path:
    """A copy of the reference results, as a user's runs that reproduced them."""
    out = tmp_path / "mine"
    out.mkdir()
    for path in REFERENCE.glob("*.json"):
        if path.name.startswith(("hog_", "cmgan__")):
            shutil.copy(path, out / path.name)
    return out


def edit(path: Path, change) -> None:
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def test_the_reference_agrees_with_itself_bit_for_bit(mine, capsys):
    assert main(["verify", "--results", str(mine), "--reference", str(REFERENCE), "--exact"]) == 0
    out = capsys.readouterr()
    assert out.out.count(IDENTICAL) == len(list(mine.glob("*.json")))
    assert "agrees" in out.err and "not run here" in out.out


def test_a_changed_per_trial_number_is_flagged(mine, capsys):
    target = next(mine.glob("hog_cca__*.json"))
    edit(target, lambda p: p["settings"]["indoor-multi"]["trials"][3].update(mAP=p["settings"]["indoor-multi"]
                                                                            ["trials"][3]["mAP"] + 1e-9))
    assert main(["verify", "--results", str(mine), "--reference", str(REFERENCE), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    verdicts = {c["method"]: c["verdict"] for c in report["checks"]}
    assert verdicts["hog_cca"] == DIFFERS and verdicts["hog_euclidean"] == IDENTICAL
    assert not report["agrees"]


def test_a_seed_within_the_reference_seed_spread_agrees_unless_exact():
    reference = [r for r in load_results(REFERENCE) if r["method"]["name"] == "cmgan" and r["seed"] == 0]
    seeds = []
    for seed, shift in ((0, 0.0), (1, 2.0), (2, -2.0)):  # a row of three seeds, sd 2 points
        r = copy.deepcopy(reference[0])
        r["seed"], r["id"] = seed, f"{r['id']}-{seed}"
        for s in r["settings"].values():
            s["mean"] = {k: v + shift for k, v in s["mean"].items()}
        seeds.append(r)
    run = copy.deepcopy(seeds[0])
    for s in run["settings"].values():
        s["trials"] = [{k: v + 1.5 for k, v in t.items()} for t in s["trials"]]
        s["mean"] = {k: v + 1.5 for k, v in s["mean"].items()}
    check = compare([run], seeds).checks[0]
    assert check.verdict == WITHIN and check.largest == pytest.approx(1.5)
    assert compare([run], seeds).agrees() and not compare([run], seeds).agrees(exact=True)
    for s in run["settings"].values():
        s["mean"] = {k: v + 5 for k, v in s["mean"].items()}
    assert compare([run], seeds).checks[0].verdict == DIFFERS


def test_nothing_to_compare_is_one_line_and_status_2(tmp_path, mine, capsys):
    assert main(["verify", "--results", str(mine), "--reference", str(tmp_path / "nowhere")]) == 2
    assert "reference results not found" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(next(mine.glob("hog_cca__*.json")), other / "x.json")
    edit(other / "x.json", lambda p: p.update(id="0000000000"))
    assert main(["verify", "--results", str(other), "--reference", str(REFERENCE)]) == 2
    assert "no result in" in capsys.readouterr().err
