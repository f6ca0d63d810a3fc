"""SYSU-MM01 evaluation protocols: the official one and the AGW-seeded compatibility mode."""
from __future__ import annotations

import difflib

from reidbench.errors import ReidbenchError
from reidbench.protocols.agw import SysuAgw
from reidbench.protocols.base import Galleries, Protocol, describe_source
from reidbench.protocols.settings import ALL_SETTINGS, Setting
from reidbench.protocols.sysu import SysuOfficial

PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (SysuOfficial, SysuAgw)}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        close = difflib.get_close_matches(name, PROTOCOLS, n=2, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ReidbenchError(f"unknown protocol '{name}' (known: {', '.join(PROTOCOLS)}){hint}")
    return PROTOCOLS[name]()


__all__ = ["ALL_SETTINGS", "Galleries", "PROTOCOLS", "Protocol", "Setting", "describe_source", "get_protocol"]
