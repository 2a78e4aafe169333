"""Request-body validation like each service's: bad bodies get a 400, never a 500 or a 200.

`validate_body(dialect, body)` parses the JSON (refusing absurd nesting, `NaN`/`Infinity`
and lone UTF-16 surrogates early, as the services' parsers do), refuses top-level fields the
service does not know (`_fields`), then runs the wire's own checks (`_validate_anthropic`,
`_validate_openai`, `_validate_gemini`): types, ranges, required fields, roles, text parts.
It raises `WireError(400, ...)` with the wording the service uses, so each wire renders it
in its own error shape. Nested fields it does not know (inside tools, response formats, ...)
pass through: the wire modules and the schema generator own those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NoReturn

from automatosx.emulator._fields import ACCEPTED_FIELDS
from automatosx.emulator._validate_anthropic import check_anthropic
from automatosx.emulator._validate_gemini import camel_keys, camel_name, check_gemini
from automatosx.emulator._validate_openai import check_azure, check_openai, check_responses
from automatosx.emulator._wire import WireError

__all__ = ["MAX_JSON_DEPTH", "camel_keys", "json_depth", "validate_body"]

# The deepest legitimate body (a tool's JSON schema inside tools[i].input_schema) needs a few
# dozen levels; anything past this is refused before it can cost anything.
MAX_JSON_DEPTH = 96
# A \uD800-\uDFFF escape: half of a surrogate pair, or a lone one no service accepts.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")

_OPENAI_NOT_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)
_OPENAI_TOO_DEEP = "We could not parse the JSON body of your request: it is nested too deeply."


def json_depth(value: Any) -> int:
    """How deeply `value` nests containers (a scalar is 0, `[]` is 1)."""
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _load(body: bytes, not_json: str, too_deep: str) -> Any:
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise WireError(400, too_deep) from None
    except ValueError:
        raise WireError(400, not_json) from None
    # Counting brackets is C-fast and bounds the depth; walk only when it could be too deep.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        raise WireError(400, too_deep)
    if _SURROGATE_ESCAPE.search(body):
        try:  # pairs decode to one character; a lone half cannot be encoded
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise WireError(400, not_json) from None
    return data


def _unknown_anthropic(name: str) -> WireError:
    return WireError(400, f"{name}: Extra inputs are not permitted")


def _unknown_openai(name: str) -> WireError:
    return WireError(400, f"Unknown parameter: '{name}'.", error="unknown_parameter", param=name)


def _unknown_gemini(name: str) -> WireError:
    return WireError(
        400, f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    )


_Check = Callable[[Any], dict[str, Any]]
_WIRES: dict[str, tuple[_Check, Callable[[str], WireError], str, str]] = {
    "claude": (
        check_anthropic,
        _unknown_anthropic,
        "There was an error parsing the body of your request",
        "Request body is nested too deeply",
    ),
    "openai": (check_openai, _unknown_openai, _OPENAI_NOT_JSON, _OPENAI_TOO_DEEP),
    "azure": (check_azure, _unknown_openai, _OPENAI_NOT_JSON, _OPENAI_TOO_DEEP),
    "responses": (check_responses, _unknown_openai, _OPENAI_NOT_JSON, _OPENAI_TOO_DEEP),
    "gemini": (
        check_gemini,
        _unknown_gemini,
        "Invalid JSON payload received. Unexpected token.",
        "Invalid JSON payload received. Message nesting too deep.",
    ),
}
_WIRES["vertex"] = _WIRES["gemini"]


def validate_body(dialect: str, body: bytes) -> dict[str, Any]:
    """The request body as a dict, validated like `dialect`'s service validates it
    ("claude", "openai", "responses", "gemini", or the clouds' "azure" and "vertex").

    Raises `WireError(400, ...)` with the service's wording (and, for OpenAI, its `param`
    and `code`). Gemini's body comes back with its keys in lowerCamelCase.
    """
    check, unknown, not_json, too_deep = _WIRES[dialect]
    data = _load(body, not_json, too_deep)
    if isinstance(data, dict):
        accepted = ACCEPTED_FIELDS[dialect]
        spelling = camel_name if dialect in ("gemini", "vertex") else str
        for name in data:
            if spelling(name) not in accepted:
                raise unknown(name)
    return check(data)
