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
_KNOWN_TYPES = frozenset(_TYPE_ORDER) | {"type_unspecified"}
_MAX_DEPTH = 32  # nesting of the generated value
_MAX_NODES = 10_000  # values in one generated instance
_MAX_CHARS = 100_000  # characters of all its strings together
_MAX_REF_CHAIN = 32  # $ref -> $ref -> ... before a schema is a value
_RECURSE = 2  # how often one $ref may open on a path before only required parts are made


class SchemaError(ValueError):
    """A schema the generator cannot follow: an unresolvable, outside or endlessly recursive
    `$ref`, a sub-schema that is not an object, bounds no value meets, or an instance past
    the generator's size limits. Its message names the place in the schema."""


class _Recursion(SchemaError):
    """A `$ref` recursed past `_RECURSE` even with optional parts left out."""


def instance_of(schema: Any, name: str = "value") -> Any:
    """A JSON value valid against `schema`; the same schema always gives the same value.

    `name` seeds string values (a property's string is its name), so replies read sensibly.
    A recursive schema gets a small finite instance (optional parts left out, arrays at their
    minimum length, the first `anyOf` branch that ends) when the recursion allows one.
    Raises `SchemaError` otherwise, or when the instance would pass 10,000 values or 100,000
    characters.
    """
    if isinstance(schema, bool):
        return {} if schema else None
    return _Generator(_node(schema, "schema")).value(schema, name, 0, 0, "schema")


def _node(schema: Any, where: str) -> Mapping[str, Any] | bool:
    if isinstance(schema, (Mapping, bool)):
        return schema
    raise SchemaError(f"{where}: a schema must be an object or a boolean, not {schema!r:.40}")


class _Generator:
    def __init__(self, root: Mapping[str, Any] | bool) -> None:
        self.root = root
        self.refs: list[str] = []  # the $refs open on the current path
        self.nodes = 0
        self.chars = 0

    @property
    def minimal(self) -> bool:
        """Inside a recursion: make only what the schema requires, so the recursion ends."""
        return len(self.refs) != len(set(self.refs))

    def resolve(self, schema: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], int]:
        """`schema` with its `$ref` chain followed; how many refs it opened on `self.refs`."""
        opened: list[str] = []
        while "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str):
                raise SchemaError(f"{where}.$ref: must be a string")
            if not ref.startswith("#"):
                raise SchemaError(f"{where}.$ref: {ref!r:.80} is not local; use #/$defs/<name>")
            if ref in opened or len(opened) > _MAX_REF_CHAIN:
                raise SchemaError(f"{where}.$ref: {ref!r:.80} refers to itself (too deep)")
            opened.append(ref)
            target: Any = self.root
            for key in [k for k in ref[1:].split("/") if k]:
                key = key.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or key not in target:
                    raise SchemaError(f"{where}.$ref: {ref!r:.80} does not resolve")
                target = target[key]
            if isinstance(target, bool):
                target = {} if target else {"not": {}}
            if not isinstance(target, Mapping):
                raise SchemaError(f"{where}.$ref: {ref!r:.80} is not a schema object")
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
        for ref in opened:
            if self.refs.count(ref) >= _RECURSE and self.minimal:
                raise _Recursion(f"{where}.$ref: {ref!r:.80} recurses without a base case")
        self.refs += opened
        return schema, len(opened)

    def value(self, schema: Any, name: str, index: int, depth: int, where: str) -> Any:
        if depth > _MAX_DEPTH:
            raise SchemaError(f"{where}: nesting too deep (recursive without a base case?)")
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise SchemaError(f"{where}: an instance would have over {_MAX_NODES:,} values")
        schema = _node(schema, where)
        if isinstance(schema, bool):
            if not schema:
                raise SchemaError(f"{where}: false admits no value")
            return name
        schema, opened = self.resolve(schema, where)
        try:
            return self._value(schema, name, index, depth, where)
        finally:
            if opened:
                del self.refs[-opened:]

    def _value(
        self, schema: Mapping[str, Any], name: str, index: int, depth: int, where: str
    ) -> Any:
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list) or not options:
                raise SchemaError(f"{where}.enum: must be a non-empty array")
            return options[index % len(options)]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.branch(schema, key, name, index, depth, where)
        if "allOf" in schema:
            parts = _list_of(schema, "allOf", where)
            resolved = []
            for i, part in enumerate(parts):
                part = _node(part, f"{where}.allOf.{i}")
                part = {} if part is True else part
                if part is False:
                    raise SchemaError(f"{where}.allOf.{i}: false admits no value")
                resolved.append(self.resolve(part, f"{where}.allOf.{i}")[0])
            merged = _merge([schema, *resolved])
            return self.value(merged, name, index, depth + 1, where)
        kind = _type_of(schema, where)
        if kind == "object":
            return self.object(schema, depth, where)
        if kind == "array":
            return self.array(schema, name, depth, where)
        if kind in ("integer", "number"):
            return _number(schema, index, integer=kind == "integer", where=where)
        if kind == "boolean":
            return index % 2 == 0
        if kind == "null":
            return None
        text = _string(schema, name, index, where)
        self.chars += len(text)
        if self.chars > _MAX_CHARS:
            raise SchemaError(f"{where}: an instance would have over {_MAX_CHARS:,} characters")
        return text

    def branch(
        self, schema: Mapping[str, Any], key: str, name: str, index: int, depth: int, where: str
    ) -> Any:
        """The first branch of `anyOf`/`oneOf` that gives a value (siblings apply to it)."""
        branches = _list_of(schema, key, where)
        base = {k: v for k, v in schema.items() if k not in (key, "nullable")}
        problem: SchemaError | None = None
        for i, option in enumerate(branches):
            at = f"{where}.{key}.{i}"
            option = _node(option, at)
            if option is False:
                continue
            branch, opened = self.resolve({} if option is True else option, at)
            nodes, chars = self.nodes, self.chars
            try:
                return self.value({**base, **branch}, name, index, depth + 1, at)
            except _Recursion as error:  # try the next branch: it may be the base case
                problem = error
                self.nodes, self.chars = nodes, chars
            finally:
                if opened:
                    del self.refs[-opened:]
        raise problem or SchemaError(f"{where}.{key}: no branch admits a value")

    def object(self, schema: Mapping[str, Any], depth: int, where: str) -> dict[str, Any]:
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise SchemaError(f"{where}.properties: must be an object")
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError(f"{where}.required: must be an array of strings")
        out: dict[str, Any] = {}
        minimal = self.minimal
        for key, sub in properties.items():
            if minimal and key not in required:
                continue
            out[str(key)] = self.value(sub, str(key), 0, depth + 1, f"{where}.properties.{key}")
        extra = schema.get("additionalProperties", True)
        if not isinstance(extra, (bool, Mapping)):
            raise SchemaError(f"{where}.additionalProperties: must be a schema or a boolean")
        for key in required:
            if key not in out:
                sub = extra if isinstance(extra, Mapping) else {}
                if extra is False:
                    raise SchemaError(f"{where}.required: {key!r} is not among the properties")
                at = f"{where}.additionalProperties"
                out[key] = self.value(sub, key, 0, depth + 1, at)
        return out

    def array(self, schema: Mapping[str, Any], name: str, depth: int, where: str) -> list[Any]:
        prefix = schema.get("prefixItems", [])
        if not isinstance(prefix, list):
            raise SchemaError(f"{where}.prefixItems: must be an array")
        items = schema.get("items", {})
        low = _count(schema, "minItems", where) or 0
        high = _count(schema, "maxItems", where)
        if high is not None and low > high:
            raise SchemaError(f"{where}: minItems {low} is above maxItems {high}")
        if low > _MAX_NODES:
            raise SchemaError(f"{where}.minItems: {low} is past the emulator's {_MAX_NODES:,}")
        wanted = low if self.minimal else max(low, 1, len(prefix))
        count = wanted if high is None else min(wanted, high)
        out = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            if isinstance(items, list):  # draft-4 tuple form
                sub = items[i] if i < len(items) else schema.get("additionalItems", {})
            out.append(self.value(sub, name, i, depth + 1, f"{where}.items"))
        return out


def _list_of(schema: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = schema[key]
    if not isinstance(value, list) or not value:
        raise SchemaError(f"{where}.{key}: must be a non-empty array of schemas")
    return value


def _count(schema: Mapping[str, Any], key: str, where: str) -> int | None:
    """A non-negative integer keyword (Gemini's proto JSON writes int64s as strings)."""
    value = schema.get(key)
    if value is None:
        return None
    number = _float(value)
    if isinstance(value, bool) or number is None or not math.isfinite(number):
        raise SchemaError(f"{where}.{key}: must be a non-negative integer")
    if number < 0 or not number.is_integer():
        raise SchemaError(f"{where}.{key}: must be a non-negative integer")
    return int(number)


def _type_of(schema: Mapping[str, Any], where: str) -> str:
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind] if kind is not None else []
    if not all(isinstance(k, str) and k.lower() in _KNOWN_TYPES for k in names):
        raise SchemaError(f"{where}.type: {kind!r:.60} is not a JSON schema type")
    lowered = [str(k).lower() for k in names if str(k).lower() != "type_unspecified"]
    if isinstance(kind, list):
        return next((t for t in _TYPE_ORDER if t in lowered and t != "null"), "null")
    if lowered:
        return lowered[0]
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


def _number(schema: Mapping[str, Any], index: int, *, integer: bool, where: str) -> int | float:
    bounds = [_float(schema.get(k, 0)) for k in ("minimum", "maximum", "multipleOf")]
    if not all(b is not None and math.isfinite(b) for b in bounds):
        raise SchemaError(f"{where}: minimum, maximum and multipleOf must be finite numbers")
    try:
        value = _bounded(schema, index, integer=integer)
    except (OverflowError, ValueError, ZeroDivisionError):
        value = None
    if value is None or not math.isfinite(value):
        raise SchemaError(f"{where}: no number meets its bounds")
    return value


def _bounded(schema: Mapping[str, Any], index: int, *, integer: bool) -> int | float | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_low, bool):  # draft-4: a flag on minimum
        ex_low, low = (low, None) if ex_low else (None, low)
    if isinstance(ex_high, bool):
        ex_high, high = (high, None) if ex_high else (None, high)
    low, high = _float(low), _float(high)
    ex_low, ex_high = _float(ex_low), _float(ex_high)
    step = _float(schema.get("multipleOf"))
    if step is not None and step <= 0:
        return None
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
    if (lower is not None and candidate < lower) or (upper is not None and candidate > upper):
        return None
    if (ex_low is not None and candidate <= ex_low) or (
        ex_high is not None and candidate >= ex_high
    ):
        return None
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


def _string(schema: Mapping[str, Any], name: str, index: int, where: str) -> str:
    text = _FORMATS.get(str(schema.get("format", "")))
    if text is None:
        text = name if index == 0 else f"{name} {index + 1}"
    low = _count(schema, "minLength", where) or 0
    high = _count(schema, "maxLength", where)
    if high is not None and low > high:
        raise SchemaError(f"{where}: minLength {low} is above maxLength {high}")
    if low > _MAX_CHARS:
        raise SchemaError(f"{where}.minLength: {low} is past the emulator's {_MAX_CHARS:,}")
    high = max(low, len(text)) if high is None else high
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if len(text) > high:
        # Later items vary their last character (arrays read better), when there is room.
        vary = index and high > 0
        text = text[: high - 1] + str(index % 10) if vary else text[:high]
    return text
