"""The install maps every source folder into the reidbench namespace, and nothing else."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_package_is_installed():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = setup["package-dir"]
    folders = {name: ROOT / path for name, path in mapping.items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((name, *rel)))
    assert found == set(setup["packages"])
    assert all(name.split(".")[0] == "reidbench" for name in setup["packages"])


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
