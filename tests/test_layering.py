"""The floor plan holds (ARCHITECTURE.md): who may import whom, and every method keeps the contract."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from reidbench.evaluation import METRICS
from reidbench.methods.base import Method, RunContext
from reidbench.package_map import FOLDERS
from reidbench.registry import all_methods

ROOT = Path(__file__).resolve().parents[1]
# folder -> installed package, as reidbench/package_map.py maps them
PACKAGES = {"reidbench": "reidbench", **{folder: package for package, folder in FOLDERS.items()}}
# layer -> (its modules, what they must not import)
RULES = {
    "core": (lambda m: m.startswith("reidbench.") and not m.startswith(
        ("reidbench.figures", "reidbench.commands", "reidbench.methods", "reidbench.protocols"))
             and m not in ("reidbench.cli", "reidbench.__main__"),
             ("reidbench.figures", "reidbench.commands", "reidbench.cli", "reidbench.methods.handcrafted",
              "reidbench.methods.deep")),
    "data": (lambda m: m.startswith("reidbench.data"),
             ("reidbench.protocols", "reidbench.methods", "reidbench.runner", "reidbench.store", "reidbench.figures",
              "reidbench.commands")),
    "protocols": (lambda m: m.startswith("reidbench.protocols"),
                  ("reidbench.methods", "reidbench.runner", "reidbench.figures", "reidbench.commands")),
    "methods": (lambda m: m.startswith("reidbench.methods"),
                ("reidbench.runner", "reidbench.figures", "reidbench.commands", "reidbench.cli",
                 "reidbench.store", "reidbench.report")),
    "figures": (lambda m: m.startswith("reidbench.figures"),
                ("reidbench.runner", "reidbench.sweep", "reidbench.tuning", "reidbench.commands", "reidbench.cli")),
}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *rel)).removesuffix(".__init__")
            out[name] = path
    return out


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("layer", RULES)
def test_import_layering(layer):
    belongs, forbidden = RULES[layer]
    mine = {name: path for name, path in modules().items() if belongs(name)}
    assert mine, layer
    broken = [f"{name} imports {imp}" for name, path in mine.items() for imp in imports_of(path)
              if imp.startswith(forbidden)]
    assert not broken, broken


def test_the_data_layer_reads_no_other_layers_files():
    """Package data is read through its own package: an arrow no import graph shows (``resources.files``
    of a higher layer) is refused too."""
    higher = ("reidbench.protocols", "reidbench.methods", "reidbench.tuned")
    found = [f"{name}: {target}" for name, path in modules().items() if name.startswith("reidbench.data")
             for target in higher if f'files("{target}' in path.read_text()]
    assert not found, found


# ------------------------------------------------------------------ the method contract
# Small enough for seconds per method on a CPU; keys a method does not have are skipped.
TINY = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 6, "eval_every": 3, "pca_dim": 16,
        "pca_fit_rows": 200}


@pytest.mark.parametrize("name", sorted(n for n, s in all_methods().items() if not s.source.startswith("plugin")))
def test_every_method_keeps_the_contract(name, tiny, tmp_path):
    spec = all_methods()[name]
    method = spec.create({k: v for k, v in TINY.items() if k in spec.config})
    assert isinstance(method, Method) and method.distance in METRICS
    ctx = RunContext(seed=0, device="cpu", cache_dir=tmp_path / "cache", work_dir=tmp_path / "work",
                     dataset_fingerprint=tiny.fingerprint, progress=False)
    method.fit(tiny.train, tiny.val, ctx)
    probes = tiny.test.subset(np.arange(0, len(tiny.test), 7))
    feats = np.asarray(method.embed(probes, ctx))
    assert feats.ndim == 2 and feats.shape[0] == len(probes) and feats.shape[1] >= 1
    assert np.isfinite(feats).all()
    assert np.array_equal(feats, np.asarray(method.embed(probes, ctx)))  # embedding is a function of the image
    assert isinstance(method.provenance(), dict) and isinstance(method.resolved_config("cpu"), dict)
