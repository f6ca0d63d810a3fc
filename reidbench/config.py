"""Method configs: typed overrides, checked against each key's rule before any data is read.

A method declares its default config (the types come from the defaults) and a
:class:`Rule` per key that has a valid range or a fixed set of values. Command-line
strings are converted to the default's type; a value out of range is a one-line
error naming the key and what it accepts, raised when the method is resolved,
long before a fit could trip over it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from reidbench.errors import ReidbenchError


class Rule:
    """What values a config key accepts."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Range(Rule):
    """A number in [lo, hi]; ``open`` excludes ends ("lo", "hi" or "both"); ``also`` adds exact values."""

    lo: float | None = None
    hi: float | None = None
    open: str = ""
    also: tuple[Any, ...] = ()

    def accepts(self, value: Any) -> bool:
        if value in self.also and not isinstance(value, bool):
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.lo is not None and (value < self.lo or (value == self.lo and self.open in ("lo", "both"))):
            return False
        return not (self.hi is not None and (value > self.hi or (value == self.hi and self.open in ("hi", "both"))))

    def describe(self) -> str:
        lo_b, hi_b = ("(" if self.open in ("lo", "both") else "["), (")" if self.open in ("hi", "both") else "]")
        if self.lo is not None and self.hi is not None:
            text = f"a number in {lo_b}{self.lo:g}, {self.hi:g}{hi_b}"
        elif self.lo is not None:
            text = f"a number {'>' if lo_b == '(' else '>='} {self.lo:g}"
        elif self.hi is not None:
            text = f"a number {'<' if hi_b == ')' else '<='} {self.hi:g}"
        else:
            text = "a finite number"
        return " or ".join([*(repr(v) for v in self.also), text])


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


@dataclass(frozen=True)
class OneOfOrPath(Rule):
    """One of a fixed set of words, or any other text taken as a file path (checked at use)."""

    values: tuple[str, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def describe(self) -> str:
        return f"{', '.join(self.values)} or a file path"


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


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or isinstance(default, str):
        return True  # free-form or mixed (e.g. "auto" or a number): the rule decides
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            (isinstance(default, float) or float(value).is_integer())
    return isinstance(value, type(default))


def merge_config(defaults: Mapping[str, Any], overrides: Mapping[str, Any], name: str,
                 rules: Mapping[str, Rule] | None = None) -> dict[str, Any]:
    """Defaults updated by overrides, each converted and checked; an unknown key is an error."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ReidbenchError(
            f"unknown config key(s) for method '{name}': {', '.join(unknown)} "
            f"(known: {', '.join(sorted(defaults)) or 'none'})")
    merged = dict(defaults)
    for key, raw in overrides.items():
        value = coerce_like(defaults[key], raw, key)
        if not _type_ok(defaults[key], value):
            raise ReidbenchError(f"config key '{key}' of method '{name}' expects "
                                 f"{type(defaults[key]).__name__}, got {value!r}")
        if isinstance(defaults[key], int) and not isinstance(defaults[key], bool):
            value = int(value)
        rule = (rules or {}).get(key)
        if rule is not None and not rule.accepts(value):
            raise ReidbenchError(f"config key '{key}' of method '{name}' must be {rule.describe()}, got {value!r}")
        merged[key] = value
    return merged


def changed_keys(defaults: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``config`` whose value differs from the default: what makes a row non-default."""
    return {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}


def tuned_in_effect(origin: Mapping[str, Any]) -> bool:
    """Whether a tuned value still decides the config: some tuned key was not changed by hand
    (a row is labelled ``val-tuned`` only then)."""
    return bool(set(origin.get("base") or {}) - set(origin.get("manual") or {}))
