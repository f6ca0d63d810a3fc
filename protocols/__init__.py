"""Evaluation protocols: SYSU-MM01's official one and the AGW lineage's, RegDB's and LLCM's.

Each is registered by name in :data:`PROTOCOLS`; third-party packages add theirs under
the entry-point group ``reidbench.protocols`` (a :class:`Protocol` subclass or instance).
"""
from __future__ import annotations

from typing import Any

from reidbench.errors import ReidbenchError
from reidbench.plugins import Registry
from reidbench.protocols.base import Galleries, Protocol
from reidbench.protocols.settings import Setting


def _builtins() -> None:
    from reidbench.protocols.agw import SysuAgw
    from reidbench.protocols.llcm import LlcmProtocol
    from reidbench.protocols.regdb import RegdbIdDedup, RegdbProtocol
    from reidbench.protocols.sysu import SysuOfficial

    for protocol in (SysuOfficial(), SysuAgw(), RegdbProtocol(), RegdbIdDedup(), LlcmProtocol()):
        PROTOCOLS.add(protocol.name, protocol)


def _protocol_of(name: str, obj: Any, source: str) -> Protocol:
    protocol = obj() if isinstance(obj, type) and issubclass(obj, Protocol) else obj
    if not isinstance(protocol, Protocol):
        raise ReidbenchError(f"plugin entry point '{name}' ({source}) is not a reidbench Protocol")
    if protocol.name != name:
        raise ReidbenchError(f"plugin entry point '{name}' names a protocol called '{protocol.name}'")
    return protocol


PROTOCOLS: Registry[Protocol] = Registry("protocol", "reidbench.protocols", _builtins, _protocol_of,
                                         same=lambda a, b: type(a) is type(b))


def get_protocol(name: str) -> Protocol:
    return PROTOCOLS.get(name)


def setting_keys() -> list[str]:
    """Every setting key of every registered protocol, in registration order."""
    return list(dict.fromkeys(s.key for p in PROTOCOLS.all().values() for s in p.settings))


def describe_source(source: str) -> str:
    """What a gallery source means (for captions and reports), as the protocol that names it words it;
    the source itself when no registered protocol does."""
    return next((p.gallery_sources[source] for p in PROTOCOLS.all().values() if source in p.gallery_sources),
                source)


def setting_group(key: str) -> str:
    """The column-group title of a setting key (the key itself when no protocol defines it)."""
    return next((s.group for p in PROTOCOLS.all().values() for s in p.settings if s.key == key), key)


__all__ = ["Galleries", "PROTOCOLS", "Protocol", "Setting", "describe_source", "get_protocol", "setting_group",
           "setting_keys"]
