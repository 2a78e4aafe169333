"""Structured output: a reply's text parsed into the caller's pydantic model.

The router calls :func:`parse_output` for ``execute(..., response_model=Model)`` after the
reply arrives; the adapters asked the provider for JSON (``responseFormat``) already.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from automatosx.errors import OutputValidationError
from automatosx.schemas import ProviderResponse

__all__ = ["parse_output"]

_M = TypeVar("_M", bound=BaseModel)


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
