"""Shared fixtures: a tiny synthetic dataset and the real dataset's full layout (listing only)."""
from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from reidbench.data.sysu import SysuDataset, load_sysu
from reidbench.data import synth_llcm, synth_regdb
from reidbench.data.synth import generate


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep the user's cache out of tests."""
    monkeypatch.setenv("REIDBENCH_HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("data") / "tiny", preset="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny(tiny_root) -> SysuDataset:
    return load_sysu(tiny_root)


@pytest.fixture(scope="session")
def regdb_root(tmp_path_factory) -> Path:
    """The RegDB replica (``tiny``), read-only: tests that change it work on a copy."""
    return synth_regdb.generate(tmp_path_factory.mktemp("regdb") / "tiny", "tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def llcm_root(tmp_path_factory) -> Path:
    """The LLCM replica (``tiny``), read-only. "cam" in its path: the official code's path parsing
    would read the camera from it."""
    return synth_llcm.generate(tmp_path_factory.mktemp("camera_rig") / "llcm", "tiny", seed=0, progress=False)


def _official(name: str) -> np.ndarray:
    with resources.as_file(resources.files("reidbench.data").joinpath("sysu_official", name)) as p:
        return scipy.io.loadmat(p)["id"].ravel().astype(int)


@pytest.fixture(scope="session")
def full_layout() -> SysuDataset:
    """The real SYSU-MM01 listing (from image_counts.csv), without images."""
    with resources.files("reidbench.data").joinpath("sysu_official", "image_counts.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    files = {(int(r["cam"]), int(r["pid"])): tuple(f"cam{r['cam']}/{int(r['pid']):04d}/{k:04d}.jpg"
                                                     for k in range(1, int(r["n_images"]) + 1)) for r in rows}
    splits = {"train": tuple(sorted(_official("train_id.mat"))), "val": (),
              "test": tuple(sorted(_official("test_id.mat")))}
    return SysuDataset(Path("/nonexistent"), files, splits, name="full-layout")


@pytest.fixture(scope="session")
def result_schema():
    """A validator of the shipped result schema."""
    import json

    import jsonschema

    from reidbench.store import schema_path

    schema = json.loads(schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(autouse=True)
def _every_written_result_follows_the_schema(monkeypatch, result_schema):
    """Each result file a test writes in this process is validated against the shipped schema."""
    import json

    from reidbench import store

    real = store.save_result

    def checked(results_dir, payload):
        path = real(results_dir, payload)
        errors = sorted(result_schema.iter_errors(json.loads(path.read_text())), key=str)
        assert not errors, f"{path} breaks the result schema: {errors[0].message} at {list(errors[0].path)}"
        return path

    monkeypatch.setattr(store, "save_result", checked)
