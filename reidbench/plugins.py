"""One small registry kind for methods, datasets and protocols: name -> entry, built-ins plus entry points.

A registry loads its built-ins on first use, then every entry point of its group
(``reidbench.methods``, ``reidbench.datasets``, ``reidbench.protocols``), so a third-party
package adds one without editing reidbench. Two entries with one name are an error; an
unknown name is answered with the closest known ones.
"""
from __future__ import annotations

import difflib
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from reidbench.errors import ReidbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name."""

    def __init__(self, kind: str, group: str, builtins: Callable[[], None],
                 entry_of: Callable[[str, Any, str], T], same: Callable[[T, T], bool] = lambda a, b: a is b):
        """``entry_of(name, loaded object, source)`` turns what an entry point names into an entry;
        ``same(old, new)`` says two registrations under one name are one entry (not a clash)."""
        self.kind, self.group = kind, group
        self._builtins, self._entry_of, self._same = builtins, entry_of, same
        self._entries: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._loaded = False

    def add(self, name: str, entry: T, source: str = "reidbench") -> None:
        """Register ``entry``; another entry under ``name`` is a clash unless they are the same."""
        old = self._entries.get(name)
        if old is not None and not self._same(old, entry):
            raise ReidbenchError(f"{self.kind} name clash: '{name}' is registered by {self._sources[name]} "
                                 f"and again by {source}")
        self._entries[name] = entry
        self._sources[name] = source

    def all(self) -> dict[str, T]:
        """Every entry, built-ins first, then plugins."""
        if not self._loaded:
            self._loaded = True
            self._builtins()
            for ep in metadata.entry_points(group=self.group):
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plugin must not hide the others' errors
                    raise ReidbenchError(f"plugin entry point '{ep.name}' ({ep.value}) failed to load: {exc}") from None
                entry = self._entry_of(ep.name, obj, f"plugin {ep.value}")
                self.add(ep.name, entry, f"plugin {ep.value}")
        return dict(self._entries)

    def get(self, name: str) -> T:
        entries = self.all()
        if name not in entries:
            close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(entries)})"
            raise ReidbenchError(f"unknown {self.kind} '{name}'{hint}")
        return entries[name]

    def source(self, name: str) -> str:
        return self._sources[name]

    def forget(self, name: str) -> None:
        """Drop an entry (tests that register a temporary one)."""
        self._entries.pop(name, None)
        self._sources.pop(name, None)

    def reload_plugins(self) -> None:
        """Read the entry points again on next use (after installing a plugin in-process)."""
        self._loaded = False
