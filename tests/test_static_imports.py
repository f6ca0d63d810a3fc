"""Static tools resolve every reidbench module from the install (mypy as the witness).

mypy runs with this interpreter in a folder outside the checkout, so that what it finds is the
installed reidbench (a wheel under tox, the link tree of a strict editable install in a development
venv), never the checkout's folders. Only resolution counts: an import error (``import-not-found``,
``import-untyped``, ``import``) naming a ``reidbench`` module fails, every other mypy error is
ignored. A module that imports every module of the checkout, and one name that does not exist (which
must be reported, so the check cannot pass by finding nothing), is checked with the packages; the
line-count report says what mypy analysed. Third-party libraries are skipped (pyproject's
``[tool.mypy]``), which keeps this to seconds.

The same run holds code to the result record's one owner: a key of ``store.Result`` (or of its
method, protocol, dataset and setting records) that does not exist, read or written anywhere in
reidbench, is an error (``typeddict-item``, ``typeddict-unknown-key``); a canary reading a
misspelt key must be reported.
"""
from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"reidbench": "reidbench", **runpy.run_path(str(ROOT / "reidbench" / "package_map.py"))["FOLDERS"]}
RESOLUTION_CODES = {"import-not-found", "import-untyped", "import"}
CANARY = "reidbench.methods.no_such_module"
KEY_CODES = {"typeddict-item", "typeddict-unknown-key"}
KEY_CANARY = 'from reidbench.store import Result\n\n\ndef misspelt(r: Result) -> object:\n    return r["methd"]\n'
STRICT_INSTALL = "pip install -c constraints.txt --config-settings editable_mode=strict -e '.[test]'"


def checkout_modules() -> list[str]:
    out = []
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            if (path.parent / "__init__.py").is_file():
                rel = path.relative_to(ROOT / folder).with_suffix("").parts
                out.append(".".join((package, *rel)).removesuffix(".__init__"))
    return sorted(out)


def unresolved(errors: list[dict]) -> list[str]:
    """The reidbench modules that mypy's import errors name."""
    names = []
    for error in errors:
        quoted = re.search(r'"([\w.]+)"', error["message"])
        if error.get("code") in RESOLUTION_CODES and quoted and quoted.group(1).split(".")[0] == "reidbench":
            names.append(quoted.group(1))
    return sorted(set(names))


def test_mypy_resolves_every_reidbench_module_from_the_install(tmp_path):
    modules = checkout_modules()
    assert any(m.startswith("reidbench.methods.deep.") for m in modules), modules
    work = tmp_path / "outside"
    work.mkdir()
    (work / "probe_imports.py").write_text("".join(f"import {m}\n" for m in [*modules, CANARY]))
    (work / "probe_keys.py").write_text(KEY_CANARY)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--python-executable", sys.executable, "--cache-dir", str(tmp_path / "cache"),
         "--linecount-report", str(tmp_path / "report"), "--output", "json", "--no-error-summary",
         "-p", "reidbench", "-m", "probe_imports", "-m", "probe_keys"],
        check=False, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), (f"mypy could not run or find the packages (a development install must be "
                                       f"strict editable: {STRICT_INSTALL}):\n{proc.stdout}{proc.stderr}")
    errors = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    missing = unresolved(errors)
    assert CANARY in missing, f"the deliberately missing module went unreported:\n{proc.stdout}{proc.stderr}"
    missing.remove(CANARY)
    assert not missing, (f"static tools cannot resolve these modules from the install: {missing}. A development "
                         f"install must be strict editable, and made again after adding a module: {STRICT_INSTALL}")

    keys = [e for e in errors if e.get("code") in KEY_CODES]
    assert any(e["file"].endswith("probe_keys.py") for e in keys), f"the misspelt key went unreported: {errors}"
    wrong = [f"{e['file']}:{e['line']}: {e['message']}" for e in keys if not e["file"].endswith("probe_keys.py")]
    assert not wrong, "result-record keys that store.py does not define:\n" + "\n".join(wrong)

    lines = (tmp_path / "report" / "linecount.txt").read_text().splitlines()[1:]  # first: the total
    analysed = {line.split()[-1] for line in lines if line.strip()}
    assert not set(modules) - analysed, f"mypy did not analyse: {sorted(set(modules) - analysed)}"
    for package in FOLDERS:
        assert any(name.startswith(package + ".") for name in analysed), package
