"""The shipped tuned configs: chosen on validation identities of this exact embedded dataset."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from reidbench.data.default import named_dataset
from reidbench.registry import all_methods
from reidbench.tuned import shipped_tuning

DATASET = "synthetic-small"
LEARNED_HANDCRAFTED = sorted(n for n, s in all_methods().items()
                             if s.family == "handcrafted" and not n.endswith("_euclidean"))


def record(method: str) -> dict:
    path = resources.files("reidbench.tuned").joinpath(DATASET, method, "tuning.json")
    return json.loads(path.read_text())


def test_every_learned_handcrafted_method_ships_a_tuned_config():
    assert set(LEARNED_HANDCRAFTED) <= set(shipped_tuning(DATASET))


def test_shipped_configs_belong_to_the_current_embedded_dataset():
    fingerprint = named_dataset(DATASET, progress=False).fingerprint
    for name, shipped in shipped_tuning(DATASET).items():
        assert shipped["tuning"]["fingerprint"] == fingerprint, name


@pytest.mark.parametrize("method", LEARNED_HANDCRAFTED)
def test_the_shipped_value_is_the_best_validation_point(method):
    rec = record(method)
    assert rec["protocol"].startswith("validation protocol") and "never test images" in rec["protocol"]
    metric = rec["metric"]
    best = max(rec["points"], key=lambda p: p["scores"][metric])
    assert rec["chosen"]["overrides"] == best["overrides"]
    assert shipped_tuning(DATASET)[method]["overrides"] == best["overrides"]
    assert len(rec["points"]) == len({json.dumps(p["overrides"], sort_keys=True) for p in rec["points"]}) > 1
