"""``reidbench.methods`` and ``reidbench.protocols`` import from their folders, and nothing else leaks in.

Python started in the repository root finds the checkout's ``reidbench/`` first; the two packages
then come from ``methods/`` and ``protocols/`` through the finder ``reidbench/__init__.py`` adds,
which maps exactly the names of ``reidbench/package_map.py`` (never the repository root, whose
``results/``, ``tests/`` and ``reidbench/`` would otherwise import as ``reidbench.results`` ...).
From anywhere else the install provides them. Each check runs in a fresh interpreter.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = runpy.run_path(str(ROOT / "reidbench" / "package_map.py"))["FOLDERS"]
# what must not import -> the module its ModuleNotFoundError names
LEAKS = {"reidbench.results": "reidbench.results", "reidbench.tests": "reidbench.tests",
         "reidbench.reidbench": "reidbench.reidbench", "reidbench.reidbench.errors": "reidbench.reidbench"}

PROBE = r"""
import importlib, json, sys

leaks = {}
for name in sys.argv[1].split(","):
    try:
        importlib.import_module(name)
        leaks[name] = "imported"
    except ModuleNotFoundError as exc:
        leaks[name] = exc.name
import reidbench
import reidbench.errors
import reidbench.methods.deep.engine
import reidbench.methods.deep.task
import reidbench.protocols.sysu
missing = [name for name in sys.argv[2].split(",") if importlib.util.find_spec(name) is None]
loaded = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()
          if name.startswith("reidbench")}
print(json.dumps({
    "leaks": leaks, "missing": missing, "files": loaded,
    "errors_modules": [name for name in loaded if name.split(".")[-1] == "errors"],
    "one_class": reidbench.methods.deep.task.ReidbenchError is reidbench.errors.ReidbenchError,
}))
"""


def source_packages() -> list[str]:
    """Every package of the namespace's mapped folders: each folder with an ``__init__.py``."""
    return sorted(".".join((name, *init.parent.relative_to(ROOT / folder).parts))
                  for name, folder in FOLDERS.items() for init in (ROOT / folder).rglob("__init__.py"))


def probe(cwd: Path, pythonpath: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(LEAKS), ",".join(source_packages())],
                          check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check(found: dict) -> None:
    assert found["leaks"] == LEAKS, "the repository root leaks into the reidbench namespace"
    assert found["missing"] == []
    assert found["errors_modules"] == ["reidbench.errors"] and found["one_class"]
    for name in found["files"]:
        assert name == "reidbench" or name.split(".")[1] not in ("results", "tests", "reidbench"), name


def test_the_map_names_exactly_the_two_folders():
    assert FOLDERS == {"reidbench.methods": "methods", "reidbench.protocols": "protocols"}
    for folder in FOLDERS.values():
        assert (ROOT / folder / "__init__.py").is_file() and (ROOT / folder).resolve() != ROOT


@pytest.mark.parametrize("where", ["repository root", "checkout on PYTHONPATH"])
def test_a_checkout_maps_its_own_folders(where, tmp_path):
    found = probe(ROOT) if where == "repository root" else probe(tmp_path, pythonpath=ROOT)
    check(found)
    files = {name: Path(file) for name, file in found["files"].items() if file}
    assert files["reidbench"] == ROOT / "reidbench" / "__init__.py"
    assert files["reidbench.methods"] == ROOT / "methods" / "__init__.py"
    assert files["reidbench.methods.deep.engine"] == ROOT / "methods" / "deep" / "engine.py"
    assert files["reidbench.protocols.sysu"] == ROOT / "protocols" / "sysu.py"


def test_the_install_provides_every_package(tmp_path):
    """From a folder outside the checkout: the installed reidbench (wheel, or strict editable link tree)."""
    try:
        importlib.metadata.distribution("reidbench")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("reidbench is not installed in this interpreter")
    check(probe(tmp_path))
