"""A small deterministic generator of JSON values that are valid instances of a JSON schema.

The emulator answers structured-output requests and forced tool calls with such an instance,
so a client's own validation (pydantic, jsonschema, an SDK's `parse`) accepts the reply.

Honoured: `type` (also a list, and Gemini's upper-case OpenAPI names), `properties` (every
one is filled), `required`, `additionalProperties`, `enum` (first value), `const`, `nullable`,
arrays (`items`, `prefixItems`, `minItems`, `maxItems`, `uniqueItems`), nested objects,
`anyOf`/`oneOf` (first branch), `allOf` (merged), `$ref` to `#/$defs/...` and
`#/definitions/...`, numeric bounds (`minimum`, `maximum`, the exclusive ones, `multipleOf`),
string `minLength`/`maxLength` and the common `format`s (date-time, date, time, email, uri,
uuid, ipv4, ipv6, hostname). Not honoured: `pattern`, `not`, `if`/`then`, `dependent*`;
a schema using them may get an instance that fails it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["SchemaError", "instance_of"]

_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "duration": "P1D",
}
_TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")
_MAX_DEPTH = 32


class SchemaError(ValueError):
    """A schema the generator cannot follow (an unresolvable `$ref`, or endless recursion)."""


def instance_of(schema: Mapping[str, Any] | bool, name: str = "value") -> Any:
    """A JSON value valid against `schema`; the same schema always gives the same value.

    `name` seeds string values (a property's string is its name), so replies read sensibly.
    """
    if isinstance(schema, bool):
        return {} if schema else None
    return _Generator(schema).value(schema, name, 0, 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
        while "$ref" in schema:
            if depth > _MAX_DEPTH:
                raise SchemaError("schema: $ref chain too deep (recursive without a base case?)")
            ref = str(schema["$ref"])
            if not ref.startswith("#"):
                raise SchemaError(f"schema: $ref {ref!r} is not local; use #/$defs/<name>")
            target: Any = self.root
            for key in [k for k in ref[1:].split("/") if k]:
                key = key.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or key not in target:
                    raise SchemaError(f"schema: $ref {ref!r} does not resolve")
                target = target[key]
            if not isinstance(target, Mapping):
                raise SchemaError(f"schema: $ref {ref!r} is not a schema object")
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
            depth += 1
        return schema

    def value(self, schema: Mapping[str, Any] | bool, name: str, index: int, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise SchemaError("schema: nesting too deep (recursive without a base case?)")
        if isinstance(schema, bool):
            return None if not schema else name
        schema = self.resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            options = schema["enum"]
            return options[index % len(options)]
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                # Siblings of anyOf (e.g. a description, or "nullable") apply to the branch.
                base = {k: v for k, v in schema.items() if k not in (key, "nullable")}
                branch = self.resolve(branches[0], depth + 1) if branches[0] is not True else {}
                return self.value({**base, **branch}, name, index, depth + 1)
        if isinstance(schema.get("allOf"), list):
            merged = _merge([schema] + [self.resolve(s, depth + 1) for s in schema["allOf"]])
            return self.value(merged, name, index, depth + 1)
        kind = _type_of(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "integer":
            return _number(schema, index, integer=True)
        if kind == "number":
            return _number(schema, index, integer=False)
        if kind == "boolean":
            return index % 2 == 0
        if kind == "null":
            return None
        return _string(schema, name, index)

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        out: dict[str, Any] = {}
        if isinstance(properties, Mapping):
            for key, sub in properties.items():
                out[str(key)] = self.value(sub, str(key), 0, depth + 1)
        required = schema.get("required")
        extra = schema.get("additionalProperties", True)
        if isinstance(required, list):
            for key in required:
                if str(key) not in out:
                    sub = extra if isinstance(extra, Mapping) else {}
                    out[str(key)] = self.value(sub, str(key), 0, depth + 1)
        return out

    def array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        low = _int(schema.get("minItems"), 0)
        high = _int(schema.get("maxItems"), 1 << 16)
        count = min(max(low, 1, len(prefix)), high)
        out = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            if isinstance(items, list):  # draft-4 tuple form
                sub = items[i] if i < len(items) else schema.get("additionalItems", {})
            out.append(self.value(sub, name, i, depth + 1))
        return out


def _int(value: Any, default: int) -> int:
    # Gemini's proto-JSON writes int64 fields (minItems, maxLength) as strings.
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [str(k).lower() for k in kind]
        return next((t for t in _TYPE_ORDER if t in names and t != "null"), "null")
    if isinstance(kind, str) and kind.lower() != "type_unspecified":
        return kind.lower()
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _merge(schemas: list[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[Any] = []
    for schema in schemas:
        for key, value in schema.items():
            if key == "allOf":
                continue
            if key == "properties" and isinstance(value, Mapping):
                properties.update(value)
            elif key == "required" and isinstance(value, list):
                required += [r for r in value if r not in required]
            else:
                merged[key] = value
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _number(schema: Mapping[str, Any], index: int, *, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_low, bool):  # draft-4: a flag on minimum
        ex_low, low = (low, None) if ex_low else (None, low)
    if isinstance(ex_high, bool):
        ex_high, high = (high, None) if ex_high else (None, high)
    low, high = _float(low), _float(high)
    ex_low, ex_high = _float(ex_low), _float(ex_high)
    step = _float(schema.get("multipleOf"))
    lower = max([b for b in (low, ex_low) if b is not None], default=None)
    upper = min([b for b in (high, ex_high) if b is not None], default=None)
    if lower is None:
        candidate = 1.0 + index if upper is None else min(1.0 + index, upper)
    else:
        candidate = lower + index
    if upper is not None and candidate > upper:
        candidate = upper
    if step:
        candidate = math.ceil(candidate / step) * step
        if ex_low is not None and candidate <= ex_low:
            candidate += step
        if upper is not None and candidate > upper:
            candidate = math.floor(upper / step) * step
        if ex_high is not None and candidate >= ex_high:
            candidate -= step
    elif integer:
        candidate = float(math.ceil(candidate))
        if ex_low is not None and candidate <= ex_low:
            candidate += 1
        if upper is not None and candidate > upper:
            candidate = float(math.floor(upper))
        if ex_high is not None and candidate >= ex_high:
            candidate -= 1
    else:
        if ex_low is not None and candidate <= ex_low:
            candidate = ex_low + 1 if upper is None else (ex_low + upper) / 2
        if ex_high is not None and candidate >= ex_high:
            candidate = ex_high - 1 if lower is None else (lower + ex_high) / 2
    if integer or (step is not None and float(step).is_integer()):
        return round(candidate)
    return candidate


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _string(schema: Mapping[str, Any], name: str, index: int) -> str:
    text = _FORMATS.get(str(schema.get("format", "")))
    if text is None:
        text = name if index == 0 else f"{name} {index + 1}"
    low = _int(schema.get("minLength"), 0)
    high = _int(schema.get("maxLength"), max(low, len(text)))
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if len(text) > high:
        # Later items vary their last character (arrays read better), when there is room.
        vary = index and high > 0
        text = text[: high - 1] + str(index % 10) if vary else text[:high]
    return text
