"""Method registry: built-ins register with a decorator, plugins through entry points.

Modelled on timm's ``register_model``/``create_model``: a method is a name bound
to a factory plus the facts a report needs (Table-1 label, family, reference,
default config). Third-party packages expose a :class:`MethodSpec` (or a factory
decorated with :func:`register_method`) under the entry-point group
``reidbench.methods``; reidbench itself never needs editing.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

from reidbench.errors import ReidbenchError

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

    def create(self, overrides: dict[str, Any] | None = None) -> Any:
        """Build the method with its default config updated by ``overrides``."""
        config = merge_config(self.config, overrides or {}, self.name)
        return self.factory(config)


_REGISTRY: dict[str, MethodSpec] = {}
_plugins_loaded = False


def register_method(name: str, *, label: str, family: str, reference: str = "",
                    config: dict[str, Any] | None = None) -> Callable:
    """Decorator registering ``factory(config) -> Method`` (a class works too)."""

    def decorate(factory: Callable) -> Callable:
        spec = MethodSpec(name, factory, label, family, reference, dict(config or {}),
                          source=getattr(factory, "__module__", "reidbench"))
        _add(spec)
        factory.method_spec = spec
        return factory

    return decorate


def _add(spec: MethodSpec) -> None:
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing.factory is not spec.factory:
        raise ReidbenchError(
            f"method name clash: '{spec.name}' is registered by {existing.source} "
            f"and again by {spec.source}")
    _REGISTRY[spec.name] = spec


def _load_builtins() -> None:
    import reidbench.methods.catalog  # noqa: F401  (registers on import)


def load_plugins() -> None:
    """Register methods exposed under the ``reidbench.methods`` entry-point group."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not hide the others' errors
            raise ReidbenchError(f"plugin entry point '{ep.name}' ({ep.value}) failed to load: {exc}") from None
        spec = getattr(obj, "method_spec", obj)
        if not isinstance(spec, MethodSpec):
            raise ReidbenchError(
                f"plugin entry point '{ep.name}' ({ep.value}) is neither a MethodSpec "
                "nor a factory decorated with @register_method")
        if spec.name != ep.name:
            raise ReidbenchError(
                f"plugin entry point '{ep.name}' names a method called '{spec.name}'; "
                "the two names must agree")
        _add(MethodSpec(spec.name, spec.factory, spec.label, spec.family or "plugin",
                        spec.reference, spec.config, source=f"plugin {ep.value}"))


def all_methods() -> dict[str, MethodSpec]:
    """Every registered method, built-ins first, then plugins."""
    _load_builtins()
    load_plugins()
    return dict(_REGISTRY)


def get_method(name: str) -> MethodSpec:
    methods = all_methods()
    if name not in methods:
        close = difflib.get_close_matches(name, methods, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `reidbench list`"
        raise ReidbenchError(f"unknown method '{name}'{hint}")
    return methods[name]


def create_method(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """Instantiate a registered method by name (timm's ``create_model``)."""
    return get_method(name).create(overrides)


def merge_config(defaults: dict[str, Any], overrides: dict[str, Any], name: str) -> dict[str, Any]:
    """Defaults updated by overrides; an unknown key is a user error, not a silent no-op."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ReidbenchError(
            f"unknown config key(s) for method '{name}': {', '.join(unknown)} "
            f"(known: {', '.join(sorted(defaults)) or 'none'})")
    merged = dict(defaults)
    for key, value in overrides.items():
        merged[key] = coerce_like(defaults[key], value, key)
    return merged


def coerce_like(default: Any, value: Any, key: str) -> Any:
    """Convert a command-line string to the type of the default value."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, (list, tuple)):
            return type(default)(coerce_like(default[0], v, key) if default else v
                                 for v in value.split("+"))
    except ValueError:
        raise ReidbenchError(f"config key '{key}' expects {type(default).__name__}, got '{value}'") from None
    return value
