"""The install maps every source folder into the reidbench namespace, and nothing else."""
from __future__ import annotations

import runpy
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def build_arguments(monkeypatch) -> dict:
    """What setup.py hands setuptools (the package map, from reidbench/package_map.py)."""
    setuptools = pytest.importorskip("setuptools")
    seen: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: seen.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return seen


def test_every_source_package_is_installed(monkeypatch):
    setup = build_arguments(monkeypatch)
    mapping = setup["package_dir"]
    mapped = runpy.run_path(str(ROOT / "reidbench" / "package_map.py"))["FOLDERS"]
    assert mapping == {"reidbench": "reidbench", **mapped}
    assert "" not in mapping and all((ROOT / path).resolve() != ROOT for path in mapping.values())
    folders = {name: ROOT / path for name, path in mapping.items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((name, *rel)))
    assert found == set(setup["packages"]) and len(found) == len(setup["packages"])
    assert all(name.split(".")[0] == "reidbench" for name in setup["packages"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not {"package-dir", "packages"} & set(pyproject), "the package map has one home: reidbench/package_map.py"


def test_every_dependency_is_used():
    """A declared dependency is imported somewhere in the package (jinja2 by pandas' Styler, for LaTeX)."""
    import re

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() for d in deps}
    module = {"pillow": "PIL", "scikit-image": "skimage", "tomli-w": "tomli_w"}
    indirect = {"jinja2"}
    source = "\n".join(p.read_text() for folder in ("reidbench", "methods", "protocols")
                       for p in (ROOT / folder).rglob("*.py"))
    unused = [n for n in sorted(names - indirect)
              if not re.search(rf"^\s*(import|from) {module.get(n, n)}\b", source, re.MULTILINE)]
    assert not unused, f"declared but never imported: {unused}"
