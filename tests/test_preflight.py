"""Everything a user can get wrong is found before any work: corrupt images, bad configs, slow start-up."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reidbench.cli import main
from reidbench.registry import all_methods


@pytest.fixture
def corrupt_copy(tiny_root, tmp_path) -> tuple[Path, Path]:
    """The tiny replica with one truncated test image (an RGB gallery image of the last test identity)."""
    copy = tmp_path / "sysu"
    shutil.copytree(tiny_root, copy)
    test_id = int((copy / "exp" / "test_id.txt").read_text().split(",")[-1])
    victim = sorted(copy.glob(f"cam[1245]/{test_id:04d}/*.jpg"))[-1]
    victim.write_bytes(victim.read_bytes()[:300])
    return copy, victim


def test_a_corrupt_test_image_stops_a_deep_run_before_training(corrupt_copy, tmp_path, capsys):
    copy, victim = corrupt_copy
    cache = tmp_path / "cache"
    assert main(["run", "--methods", "cmgan", "--data", str(copy), "--results", str(tmp_path / "r"),
                 "--cache", str(cache), "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("reidbench: error: corrupt or unreadable image:") and str(victim) in err[-1]
    assert not (cache / "work").exists() and not (cache / "deep_decoded").exists()  # nothing trained or decoded
    assert not list((tmp_path / "r").glob("*.json"))


def test_a_valid_dataset_is_checked_once(tiny_root, tmp_path):
    from reidbench.data.sysu import load_sysu
    from reidbench.data.validate import check_images

    data = load_sysu(tiny_root)
    assert check_images(data, tmp_path, progress=False) == data.num_images - _outside_splits(data)
    assert check_images(data, tmp_path, progress=False) == 0  # the marker spares the second decode


def _outside_splits(data) -> int:
    ids = {pid for split in ("train", "val", "test") for pid in data.ids(split)}
    return sum(len(v) for (cam, pid), v in data.files.items() if pid not in ids)


def test_every_config_key_of_a_builtin_method_has_a_rule_its_default_obeys():
    for name, spec in all_methods().items():
        if spec.source.startswith("plugin"):
            continue
        for key, value in spec.config.items():
            if isinstance(value, bool):
                continue  # type-checked: True/False only
            assert key in spec.rules, (name, key)
            assert spec.rules[key].accepts(value), (name, key, value)
        spec.resolve({})


def _python(code: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("argv", [["list"], ["--help"], ["run", "--methods", "cmgan", "--data", "/nonexistent"],
                                  ["run", "--methods", "cmgan", "--set", "margin=-1"], ["table", "--results", "R"]])
def test_cheap_commands_do_not_import_torch(argv, tmp_path, tiny_root):
    from reidbench.runner import RunOptions, run

    run(RunOptions(methods=["hog_euclidean"], data=tiny_root, results=tmp_path / "R", cache=tmp_path / "c",
                   progress=False, modes=("all",), shots=("single",), device="cpu"))
    code = ("import sys\nfrom reidbench.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules or 'torchvision' in sys.modules else 'NO-TORCH')")
    assert _python(code, tmp_path).strip().splitlines()[-1] == "NO-TORCH"
