"""The command line starts without method code: ``--help`` and argument errors answer at once."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import json, sys
from reidbench.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)
"""


def _modules_after(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_method_code_and_no_torch():
    for argv in (["--help"], ["run", "--methods"], ["table", "--bogus"]):
        loaded = _modules_after(*argv)
        assert "reidbench.cli" in loaded  # the probe ran the command line
        methods = sorted(m for m in loaded if m == "reidbench.methods" or m.startswith("reidbench.methods."))
        assert not methods, f"reidbench {' '.join(argv)} imported {methods}"
        assert not {"torch", "torchvision", "reidbench.evaluation", "reidbench.protocols"} & loaded, argv


def test_lazy_choices_still_refuse_unknown_values(capsys):
    """(``features --descriptor`` is checked in test_features_export.)"""
    from reidbench.cli import main

    assert main(["eval", "--features", "x.npz", "--distance", "manhattan"]) == 2
    err = capsys.readouterr().err
    assert "--distance: invalid choice: 'manhattan'" in err and "euclidean" in err
