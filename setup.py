"""The package map for setuptools; everything else about the build is in pyproject.toml.

``reidbench`` is ``reidbench/``; the other packages of the namespace come from the folders that
``reidbench/package_map.py`` names (``reidbench.methods`` from ``methods/``, ...), each with every
subpackage below it (a folder with an ``__init__.py``).
"""
import runpy
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
FOLDERS = runpy.run_path(str(ROOT / "reidbench" / "package_map.py"))["FOLDERS"]
PACKAGE_DIR = {"reidbench": "reidbench", **FOLDERS}

setup(
    package_dir=PACKAGE_DIR,
    packages=[f"{name}.{sub}" if sub else name for name, folder in PACKAGE_DIR.items()
              for sub in ("", *find_packages(str(ROOT / folder)))],
)
