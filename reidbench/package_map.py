"""Where the packages of the reidbench namespace that are not under ``reidbench/`` live in the repository.

The one copy of this map. ``setup.py`` builds every install from it (wheel, sdist, editable), and
``reidbench/__init__.py`` maps exactly these names when Python runs from a checkout. The folders
are top-level in the repository but install inside the namespace, so that no generic ``methods``
or ``protocols`` package lands in site-packages; ``results/`` and ``tests/`` are never installed.
This file imports nothing: the build reads it before reidbench can be imported.
"""
FOLDERS = {"reidbench.methods": "methods", "reidbench.protocols": "protocols"}
