"""The four settings as figures name them, and checking a ``--setting`` value."""
from __future__ import annotations

from reidbench.errors import ReidbenchError
from reidbench.report import SETTINGS

SETTING_LABELS = {key: f"{mode} {shots}" for key, mode, shots in SETTINGS}


def check_setting(setting: str) -> str:
    if setting not in SETTING_LABELS:
        raise ReidbenchError(f"unknown setting '{setting}' (known: {', '.join(SETTING_LABELS)})")
    return setting
