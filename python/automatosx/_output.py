"""Structured output: a reply's text parsed into the caller's type.

``router.execute(request, response_model=T)`` asks the provider for JSON of ``T``'s schema
(:func:`with_response_model` fills in ``responseFormat`` when the request has none) and calls
:func:`parse_output` once the reply arrives; the result is a :class:`ParsedResponse` whose
``parsed`` is typed ``T`` for mypy and pyright. ``T`` is anything a pydantic ``TypeAdapter``
takes: a ``BaseModel``, a dataclass, a ``TypedDict``, ``list[Item]``, a union. The providers
want an object at the root of a JSON schema, so a type whose schema is not an object (a list,
a union, a scalar) is asked for as ``{"response": <its schema>}`` and unwrapped when parsed.

A reply that does not validate raises :class:`~automatosx.errors.OutputValidationError` to the
caller; the request itself completed (the provider answered), so it is recorded ``completed``
with its raw reply — what the model said is kept for inspection, and only the caller's check
failed. A type that has no JSON schema (a ``Callable`` field), or whose schema the request
cannot carry (an ``inf`` default, more than 10,000 enum values), is refused before anything is
sent: :class:`UnusableOutputType` here, which the router records as a failed request and raises
as ``RequestValidationError`` naming ``response_model``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic.errors import PydanticUserError

from automatosx.errors import OutputValidationError
from automatosx.schemas import JsonSchemaFormat, ProviderRequest, ProviderResponse, _assemble

__all__ = [
    "ParsedResponse",
    "UnusableOutputType",
    "as_parsed",
    "parse_output",
    "response_format_of",
    "with_response_model",
]

T = TypeVar("T")

_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]")
WRAPPER = "response"
"""The property a non-object type's value travels in."""


class ParsedResponse(ProviderResponse, Generic[T]):
    """A :class:`ProviderResponse` whose ``parsed`` holds the reply validated as ``T``
    (``execute(request, response_model=T)``)."""

    parsed: T


class UnusableOutputType(ValueError):
    """A ``response_model`` the providers cannot be asked for (no usable JSON schema)."""


class _Output:
    """What the router needs of one output type, built once per type."""

    __slots__ = ("adapter", "format", "name", "wrapped")

    def __init__(self, output_type: Any) -> None:
        name = getattr(output_type, "__name__", None) or repr(output_type)
        self.name = name
        try:
            self.adapter: TypeAdapter[Any] = TypeAdapter(output_type)
            schema = self.adapter.json_schema()
        except (PydanticUserError, TypeError, ValueError, RecursionError) as exc:
            raise UnusableOutputType(
                f"response_model: {name} has no JSON schema a provider can follow ({exc}); "
                "use JSON-compatible field types"
            ) from None
        schema = _root_inlined(schema)
        self.wrapped = schema.get("type") != "object"
        if self.wrapped:
            defs = schema.pop("$defs", None)
            schema = {"type": "object", "properties": {WRAPPER: schema}, "required": [WRAPPER]}
            if defs is not None:
                schema["$defs"] = defs
        label = _NOT_A_NAME.sub("_", name)[:64] or "output"
        try:
            self.format = JsonSchemaFormat(name=label, schema=schema)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise UnusableOutputType(
                f"response_model: {name}'s JSON schema cannot be sent ({reason}); "
                "give it finite defaults and at most 10,000 enum values"
            ) from None


def _root_inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A recursive model's schema is ``{"$ref": "#/$defs/M", "$defs": ...}``: the root made
    the referenced object itself (its inner references still resolve), so it is not wrapped."""
    ref = schema.get("$ref")
    defs = schema.get("$defs")
    if not isinstance(ref, str) or not isinstance(defs, dict) or set(schema) - {"$ref", "$defs"}:
        return schema
    target = defs.get(ref.removeprefix("#/$defs/")) if ref.startswith("#/$defs/") else None
    if not isinstance(target, dict) or target.get("type") != "object":
        return schema
    return {**target, "$defs": defs}


@functools.lru_cache(maxsize=256)
def _output(output_type: Any) -> _Output:
    return _Output(output_type)


def output_of(output_type: Any) -> _Output:
    """The output description of ``output_type`` (cached when the type is hashable)."""
    try:
        hash(output_type)
    except TypeError:
        return _Output(output_type)
    return _output(output_type)


def response_format_of(output_type: Any) -> JsonSchemaFormat:
    """The ``responseFormat`` asking for JSON of ``output_type``'s schema (named after it)."""
    return output_of(output_type).format


def with_response_model(
    request: ProviderRequest | Mapping[str, Any], output_type: Any
) -> ProviderRequest | Mapping[str, Any]:
    """``request`` asking for ``output_type``'s JSON: unchanged when it already has a
    ``responseFormat`` (the caller's choice wins), else a copy with one. Raw dicts stay dicts
    so that invalid input is still validated (and recorded) by the router's intake."""
    fmt = output_of(output_type).format
    if isinstance(request, ProviderRequest):
        if request.response_format is not None:
            return request
        return request.model_copy(update={"response_format": fmt})
    if not isinstance(request, Mapping):
        return request  # the intake reports the wrong type
    if request.get("responseFormat") is not None or request.get("response_format") is not None:
        return request
    return {**request, "responseFormat": fmt.model_dump(by_alias=True)}


def _json_text(text: str) -> str:
    """The JSON in a reply: the text itself, or the body of one ```json fenced block."""
    stripped = text.strip()
    if stripped.startswith("```"):
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        return body.rsplit("```", 1)[0].strip()
    return stripped


def parse_output(response: ProviderResponse, output_type: Any) -> Any:
    """``response.content`` validated as JSON of ``output_type``; also stored on
    ``response.parsed``. :class:`OutputValidationError` (with the raw text and pydantic's
    errors) when it is not valid JSON of that shape."""
    output = output_of(output_type)
    raw = response.content
    try:
        if output.wrapped:
            value = _unwrapped(output, _json_text(raw))
        else:
            value = output.adapter.validate_json(_json_text(raw))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        first = errors[0] if errors else {"loc": (), "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise OutputValidationError(
            f"the reply does not match {output.name}: {where}: {first['msg']} "
            f"({len(errors)} error(s))",
            raw=raw,
            errors=errors,
        ) from exc
    response.parsed = value
    return value


def _unwrapped(output: _Output, text: str) -> Any:
    """A wrapped type's value: ``{"response": value}`` as asked, or the bare value."""
    import json

    try:
        doc = json.loads(text)
    except ValueError:
        return output.adapter.validate_json(text)  # raises the JSON error
    if isinstance(doc, dict) and set(doc) == {WRAPPER}:
        return output.adapter.validate_python(doc[WRAPPER], strict=False)
    return output.adapter.validate_python(doc, strict=False)


def as_parsed(response: ProviderResponse) -> ParsedResponse[Any]:
    """``response`` as a :class:`ParsedResponse` (same fields, no validation)."""
    return _assemble(ParsedResponse, dict(response.__dict__), set(response.__pydantic_fields_set__))
