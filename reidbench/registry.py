"""Method registry: built-ins register with a decorator, plugins through entry points (:mod:`reidbench.plugins`).

Modelled on timm's ``register_model``/``create_model``: a method is a name bound
to a factory plus the facts a report needs (Table-1 label, family, reference,
default config). Third-party packages expose a :class:`MethodSpec` (or a factory
decorated with :func:`register_method`) under the entry-point group
``reidbench.methods``; reidbench itself never needs editing.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from reidbench.config import Rule, merge_config
from reidbench.errors import ReidbenchError
from reidbench.plugins import Registry

ENTRY_POINT_GROUP = "reidbench.methods"
FAMILIES = ("handcrafted", "deep", "plugin")


@dataclass(frozen=True)
class MethodSpec:
    """What the registry knows about one method."""

    name: str
    factory: Callable[[dict[str, Any]], Any]
    label: str
    family: str
    reference: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    source: str = "reidbench"
    rules: dict[str, Rule] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], None] | None = None  # rules that tie several keys together

    def resolve(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The default config updated by ``overrides``, every value checked (nothing is built)."""
        config = merge_config(self.config, overrides or {}, self.name, self.rules)
        if self.check is not None:
            try:
                self.check(config)
            except ReidbenchError as exc:
                raise ReidbenchError(f"method '{self.name}': {exc}") from None
        return config

    @property
    def needs_torch(self) -> bool:
        """Whether a run of this method resolves a torch device and seeds torch: every method but
        the hand-crafted ones (numpy only), whose runs then never import torch."""
        return self.family != "handcrafted"

    @property
    def code_digest(self) -> str:
        """Digest of the source that implements the method (see :func:`source_digest`)."""
        return source_digest(getattr(self.factory, "__module__", "") or "")

    def create(self, overrides: dict[str, Any] | None = None) -> Any:
        """Build the method with its default config updated by ``overrides``."""
        return self.factory(self.resolve(overrides))


def _load_builtins() -> None:
    import reidbench.methods.catalog  # noqa: F401  (registers on import)


def _spec_of(name: str, obj: Any, source: str) -> MethodSpec:
    """The spec an entry point names: a MethodSpec or a factory decorated with :func:`register_method`."""
    spec = getattr(obj, "method_spec", obj)
    if not isinstance(spec, MethodSpec):
        raise ReidbenchError(f"plugin entry point '{name}' ({source}) is neither a MethodSpec "
                             "nor a factory decorated with @register_method")
    if spec.name != name:
        raise ReidbenchError(f"plugin entry point '{name}' names a method called '{spec.name}'; "
                             "the two names must agree")
    return MethodSpec(spec.name, spec.factory, spec.label, spec.family or "plugin", spec.reference, spec.config,
                      source=source, rules=spec.rules, check=spec.check)


METHODS: Registry[MethodSpec] = Registry("method", ENTRY_POINT_GROUP, _load_builtins, _spec_of,
                                         same=lambda a, b: a.factory is b.factory)


def register_method(name: str, *, label: str, family: str, reference: str = "",
                    config: dict[str, Any] | None = None, rules: dict[str, Rule] | None = None,
                    check: Callable[[dict[str, Any]], None] | None = None) -> Callable:
    """Decorator registering ``factory(config) -> Method`` (a class works too).

    ``rules`` gives the valid values of config keys (see :mod:`reidbench.config`) and
    ``check(config)`` raises for invalid combinations; both run when the method is
    resolved, before any data is read.
    """

    def decorate(factory: Callable) -> Callable:
        spec = MethodSpec(name, factory, label, family, reference, dict(config or {}),
                          source=getattr(factory, "__module__", "reidbench"), rules=dict(rules or {}),
                          check=check)
        METHODS.add(name, spec, spec.source)
        factory.method_spec = spec
        return factory

    return decorate


def all_methods() -> dict[str, MethodSpec]:
    """Every registered method, built-ins first, then plugins."""
    return METHODS.all()


def get_method(name: str) -> MethodSpec:
    return METHODS.get(name)


def create_method(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """Instantiate a registered method by name (timm's ``create_model``)."""
    return get_method(name).create(overrides)


@lru_cache(maxsize=None)
def source_digest(module: str) -> str:
    """Digest of the Python files beside ``module`` (its package's folder; the file alone for a
    top-level module). Cached embeddings and tuning points carry it in their key, so features
    computed by older code of a method are never reused after that code changes."""
    mod = sys.modules.get(module)
    path = Path(getattr(mod, "__file__", "") or "")
    if not path.is_file():
        return "unknown"
    files = sorted(path.parent.glob("*.py")) if getattr(mod, "__package__", "") else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]
