"""Structured output: a reply's text parsed into the caller's pydantic model.

``router.execute(request, response_model=Model)`` asks the provider for JSON of ``Model``'s
schema (:func:`with_response_model` fills in ``responseFormat`` when the request has none) and
calls :func:`parse_output` once the reply arrives. A reply that does not validate raises
:class:`~automatosx.errors.OutputValidationError` to the caller; the request itself completed
(the provider answered), so it is recorded ``completed`` with its raw reply — what the model
said is kept for inspection, and only the caller's check failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from automatosx.errors import OutputValidationError
from automatosx.schemas import JsonSchemaFormat, ProviderRequest, ProviderResponse

__all__ = ["parse_output", "response_format_of", "with_response_model"]

_M = TypeVar("_M", bound=BaseModel)


_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]")


def response_format_of(model_cls: type[BaseModel]) -> JsonSchemaFormat:
    """The ``responseFormat`` asking for JSON of ``model_cls``'s schema (named after it)."""
    name = _NOT_A_NAME.sub("_", model_cls.__name__)[:64] or "output"
    return JsonSchemaFormat(name=name, schema=model_cls.model_json_schema())


def with_response_model(
    request: ProviderRequest | Mapping[str, Any], model_cls: type[BaseModel]
) -> ProviderRequest | Mapping[str, Any]:
    """``request`` asking for ``model_cls``'s JSON: unchanged when it already has a
    ``responseFormat`` (the caller's choice wins), else a copy with one. Raw dicts stay dicts
    so that invalid input is still validated (and recorded) by the router's intake."""
    if not isinstance(model_cls, type) or not issubclass(model_cls, BaseModel):
        raise TypeError(
            f"response_model: expected a pydantic BaseModel subclass, got {model_cls!r}"
        )
    if isinstance(request, ProviderRequest):
        if request.response_format is not None:
            return request
        return request.model_copy(update={"response_format": response_format_of(model_cls)})
    if not isinstance(request, Mapping):
        return request  # the intake reports the wrong type
    if request.get("responseFormat") is not None or request.get("response_format") is not None:
        return request
    fmt = response_format_of(model_cls).model_dump(by_alias=True)
    return {**request, "responseFormat": fmt}


def _json_text(text: str) -> str:
    """The JSON in a reply: the text itself, or the body of one ```json fenced block."""
    stripped = text.strip()
    if stripped.startswith("```"):
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        return body.rsplit("```", 1)[0].strip()
    return stripped


def parse_output(response: ProviderResponse, model_cls: type[_M]) -> _M:
    """``response.content`` validated as JSON into ``model_cls``; also stored on
    ``response.parsed``. :class:`OutputValidationError` (with the raw text and pydantic's
    errors) when it is not valid JSON of that shape."""
    raw = response.content
    try:
        parsed = model_cls.model_validate_json(_json_text(raw))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        first = errors[0] if errors else {"loc": (), "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise OutputValidationError(
            f"the reply does not match {model_cls.__name__}: {where}: {first['msg']} "
            f"({len(errors)} error(s))",
            raw=raw,
            errors=errors,
        ) from exc
    response.parsed = parsed
    return parsed
