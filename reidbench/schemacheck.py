"""A JSON value checked against a JSON Schema, for the keywords reidbench's shipped schemas use.

Result files are validated against ``reidbench/schema/result-<N>.schema.json`` on every
read, without making the ``jsonschema`` package a runtime dependency: the schema uses a
small, fixed subset of draft 2020-12 (listed in :data:`CHECKED`), and a keyword outside
it is refused (so a schema edit can never go silently unchecked). ``format`` is not
checked (as ``jsonschema`` by default); an integer must be written as one. ``tests/test_bad_input.py``
compares the verdicts with ``jsonschema``'s on many broken results.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterator

CHECKED = frozenset({"type", "const", "enum", "required", "properties", "additionalProperties", "propertyNames",
                     "pattern", "minLength", "minimum", "maximum", "minItems", "maxItems", "minProperties",
                     "items", "$ref", "allOf", "if", "then"})
IGNORED = frozenset({"$schema", "$id", "$defs", "title", "description", "format", "contentEncoding"})


def first_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """The first way ``value`` breaks ``schema`` as ``"<where>: <what>"``, or None when it follows it."""
    return first_problem_in(value, schema, schema)


def first_problem_in(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> str | None:
    """:func:`first_problem` for a part of ``root`` (its ``$ref`` resolve in ``root``)."""
    return next(_problems(value, schema, root, ""), None)


def _problems(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str) -> Iterator[str]:
    unknown = set(schema) - CHECKED - IGNORED
    if unknown:
        raise ValueError(f"schema keyword(s) not supported: {', '.join(sorted(unknown))}")
    if "$ref" in schema:
        yield from _problems(value, _resolve(root, schema["$ref"]), root, where)
    if "type" in schema and not any(_is(value, t) for t in _listed(schema["type"])):
        yield f"{_at(where)}expected {' or '.join(_listed(schema['type']))}, got {_kind(value)}"
        return
    if "const" in schema and not _equal(value, schema["const"]):
        yield f"{_at(where)}must be {schema['const']!r}, got {value!r}"
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        yield f"{_at(where)}{value!r} is not one of {', '.join(map(repr, schema['enum']))}"
    if isinstance(value, str):
        yield from _string(value, schema, where)
    elif _is(value, "number"):
        yield from _number(value, schema, where)
    elif isinstance(value, list):
        yield from _array(value, schema, root, where)
    elif isinstance(value, dict):
        yield from _object(value, schema, root, where)
    for part in schema.get("allOf", ()):
        yield from _problems(value, part, root, where)
    if "if" in schema and "then" in schema and first_problem_in(value, schema["if"], root) is None:
        yield from _problems(value, schema["then"], root, where)


def _string(value: str, schema: dict[str, Any], where: str) -> Iterator[str]:
    if len(value) < schema.get("minLength", 0):
        yield f"{_at(where)}must not be empty" if schema["minLength"] == 1 else f"{_at(where)}too short"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{_at(where)}{value!r} does not match {schema['pattern']}"


def _number(value: float, schema: dict[str, Any], where: str) -> Iterator[str]:
    if not math.isfinite(value):
        yield f"{_at(where)}{value} is not a finite number"
    elif "minimum" in schema and value < schema["minimum"]:
        yield f"{_at(where)}{value} is below the minimum {schema['minimum']}"
    elif "maximum" in schema and value > schema["maximum"]:
        yield f"{_at(where)}{value} is above the maximum {schema['maximum']}"


def _array(value: list, schema: dict[str, Any], root: dict[str, Any], where: str) -> Iterator[str]:
    if len(value) < schema.get("minItems", 0):
        yield f"{_at(where)}needs at least {schema['minItems']} item(s), has {len(value)}"
    if len(value) > schema.get("maxItems", math.inf):
        yield f"{_at(where)}allows at most {schema['maxItems']} item(s), has {len(value)}"
    if "items" in schema:
        for i, item in enumerate(value):
            yield from _problems(item, schema["items"], root, f"{where}[{i}]")


def _object(value: dict, schema: dict[str, Any], root: dict[str, Any], where: str) -> Iterator[str]:
    for key in schema.get("required", ()):
        if key not in value:
            yield f"{_at(where)}missing key '{key}'"
    if len(value) < schema.get("minProperties", 0):
        yield f"{_at(where)}needs at least {schema['minProperties']} entr(ies), has {len(value)}"
    props = schema.get("properties", {})
    for key, item in value.items():
        inner = f"{where}.{key}" if where else key
        if "propertyNames" in schema:
            yield from (f"{_at(inner)}bad key: {p}" for p in _problems(key, schema["propertyNames"], root, ""))
        if key in props:
            yield from _problems(item, props[key], root, inner)
        elif "additionalProperties" in schema:
            yield from _problems(item, schema["additionalProperties"], root, inner)


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported, got {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _is(value: Any, name: str) -> bool:
    """JSON types; a boolean is no number and, stricter than draft 2020-12, 1.0 is no integer
    (reidbench writes integers as such, and code downstream counts with them)."""
    if name in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return name == "number" or isinstance(value, int)
    return isinstance(value, {"object": dict, "array": list, "string": str, "boolean": bool,
                              "null": type(None)}[name])


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _listed(types: str | list[str]) -> list[str]:
    return [types] if isinstance(types, str) else list(types)


def _kind(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, name):
            return name
    return type(value).__name__


def _at(where: str) -> str:
    return f"{where}: " if where else ""
