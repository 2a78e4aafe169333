"""Request-body validation like each service's: bad bodies get a 400, never a 500 or a 200.

`validate_body(provider, body)` parses the JSON (refusing absurd nesting early), checks the
fields every generation request carries — types, ranges, required fields, roles, text parts —
and raises `WireError(400, ...)` with the wording the service uses, so each wire renders it
in its own error shape. Fields it does not know (tools, response formats, ...) pass through
unchecked: the wire modules own those.

Gemini's API reads proto JSON, which takes `snake_case` and `lowerCamelCase` field names
alike; `camel_keys` rewrites the first into the second (leaving user-named keys such as a
schema's `properties` or a function call's `args` alone) so the rest of the emulator reads
one spelling.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from automatosx.emulator._wire import WireError

__all__ = ["MAX_JSON_DEPTH", "camel_keys", "json_depth", "validate_body"]

# The deepest legitimate body (a tool's JSON schema inside tools[i].input_schema) needs a few
# dozen levels; anything past this is refused before it can cost anything.
MAX_JSON_DEPTH = 96

# Values under these keys are user data (schema properties, call arguments, labels): their
# keys are names, not proto fields, so they keep their spelling.
_OPAQUE_KEYS = frozenset(
    {"properties", "args", "response", "labels", "parametersJsonSchema", "responseJsonSchema"}
)

_ANTHROPIC_ROLES = ("user", "assistant")
_OPENAI_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_GEMINI_ROLES = ("user", "model", "function", "tool")


def json_depth(value: Any) -> int:
    """How deeply `value` nests containers (a scalar is 0, `[]` is 1)."""
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def _load(body: bytes, not_json: str, too_deep: str) -> Any:
    try:
        data = json.loads(body)
    except RecursionError:
        raise WireError(400, too_deep) from None
    except ValueError:
        raise WireError(400, not_json) from None
    # Counting brackets is C-fast and bounds the depth; walk only when it could be too deep.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        raise WireError(400, too_deep)
    return data


def camel_keys(value: Any) -> Any:
    """`value` with snake_case object keys spelled lowerCamelCase (proto JSON's two names)."""
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _camel(key) if isinstance(key, str) else key
        out[name] = item if name in _OPAQUE_KEYS else camel_keys(item)
    return out


def _camel(name: str) -> str:
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object" if isinstance(value, dict) else "null")


# -- Anthropic: pydantic-style "<loc>: <message>" ----------------------------------------------


def _anthropic(data: Any) -> dict[str, Any]:
    def bad(loc: str, message: str) -> WireError:
        return WireError(400, f"{loc}: {message}")

    if not isinstance(data, dict):
        raise WireError(400, "Input should be a valid dictionary")
    for name in ("model", "max_tokens", "messages"):
        if name not in data:
            raise bad(name, "Field required")
    if not isinstance(data["model"], str):
        raise bad("model", "Input should be a valid string")
    max_tokens = data["max_tokens"]
    if not _is_int(max_tokens):
        raise bad("max_tokens", "Input should be a valid integer")
    if max_tokens < 1:
        raise bad("max_tokens", "Input should be greater than or equal to 1")
    if "stream" in data and not isinstance(data["stream"], bool):
        raise bad("stream", "Input should be a valid boolean")
    _check_range(data, "temperature", 0.0, 1.0, bad)
    _check_range(data, "top_p", 0.0, 1.0, bad)
    system = data.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise bad("system", "Input should be a valid string")
    messages = data["messages"]
    if not isinstance(messages, list):
        raise bad("messages", "Input should be a valid list")
    if not messages:
        raise bad("messages", "at least one message is required")
    for i, message in enumerate(messages):
        loc = f"messages.{i}"
        if not isinstance(message, dict):
            raise bad(loc, "Input should be a valid dictionary")
        for name in ("role", "content"):
            if name not in message:
                raise bad(f"{loc}.{name}", "Field required")
        if message["role"] not in _ANTHROPIC_ROLES:
            raise bad(f"{loc}.role", "Input should be 'user' or 'assistant'")
        _anthropic_content(message["content"], f"{loc}.content", bad)
    return data


def _anthropic_content(content: Any, loc: str, bad: Callable[[str, str], WireError]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad(loc, "Input should be a valid list")
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise bad(f"{loc}.{j}", "Input should be a valid dictionary")
        if "type" not in block:
            raise bad(f"{loc}.{j}.type", "Field required")
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise bad(f"{loc}.{j}.text", "Input should be a valid string")


def _check_range(
    data: dict[str, Any],
    name: str,
    low: float,
    high: float,
    bad: Callable[[str, str], WireError],
) -> None:
    value = data.get(name)
    if value is None:
        return
    if not _is_number(value):
        raise bad(name, "Input should be a valid number")
    if value < low:
        raise bad(name, f"Input should be greater than or equal to {low:g}")
    if value > high:
        raise bad(name, f"Input should be less than or equal to {high:g}")


# -- OpenAI: "Invalid type for 'x': ..." with param and code -----------------------------------


def _openai_body(data: Any, required: str) -> dict[str, Any]:
    """An OpenAI body's object shape, its model, and its ``required`` field (Chat Completions:
    messages; Responses: input)."""
    if not isinstance(data, dict):
        raise WireError(400, "We could not parse the JSON body of your request.")
    if "model" not in data:
        raise WireError(400, "you must provide a model parameter")
    if not isinstance(data["model"], str):
        raise _openai_type("model", "a string", data["model"])
    if required not in data:
        raise WireError(
            400,
            f"Missing required parameter: '{required}'.",
            error="missing_required_parameter",
            param=required,
        )
    return data


def _openai(raw: Any) -> dict[str, Any]:
    data = _openai_body(raw, "messages")
    for name in ("stream", "logprobs"):
        if name in data and data[name] is not None and not isinstance(data[name], bool):
            raise _openai_type(name, "a boolean", data[name])
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = data.get(name)
        if value is None:
            continue
        if not _is_int(value):
            raise _openai_type(name, "an integer", value)
        if value < 1:
            raise WireError(
                400,
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got "
                f"{value} instead.",
                error="integer_below_min_value",
                param=name,
            )
    _openai_range(data, "temperature", 0, 2)
    _openai_range(data, "top_p", 0, 1)
    _openai_range(data, "presence_penalty", -2, 2)
    _openai_range(data, "frequency_penalty", -2, 2)
    _openai_messages(data["messages"])
    return data


def _openai_type(param: str, expected: str, value: Any) -> WireError:
    return WireError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_a(_type_name(value))} "
        "instead.",
        error="invalid_type",
        param=param,
    )


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _openai_range(data: dict[str, Any], name: str, low: float, high: float) -> None:
    value = data.get(name)
    if value is None:
        return
    if not _is_number(value):
        raise _openai_type(name, "a decimal", value)
    if low <= value <= high:
        return
    side, bound, word = ("below", low, ">=") if value < low else ("above", high, "<=")
    raise WireError(
        400,
        f"Invalid '{name}': decimal {side} {'minimum' if side == 'below' else 'maximum'} value. "
        f"Expected a value {word} {bound:g}, but got {value:g} instead.",
        error=f"decimal_{side}_{'min' if side == 'below' else 'max'}_value",
        param=name,
    )


def _openai_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _openai_type("messages", "an array", messages)
    if not messages:
        raise WireError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            error="empty_array",
            param="messages",
        )
    for i, message in enumerate(messages):
        loc = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _openai_type(loc, "an object", message)
        if "role" not in message:
            raise WireError(
                400,
                f"Missing required parameter: '{loc}.role'.",
                error="missing_required_parameter",
                param=f"{loc}.role",
            )
        role = message["role"]
        if role not in _OPENAI_ROLES:
            supported = ", ".join(f"'{r}'" for r in _OPENAI_ROLES[:-1])
            raise WireError(
                400,
                f"Invalid value: {json.dumps(role)}. Supported values are: {supported}, and "
                f"'{_OPENAI_ROLES[-1]}'.",
                error="invalid_value",
                param=f"{loc}.role",
            )
        _openai_content(message.get("content"), f"{loc}.content")


def _openai_content(content: Any, loc: str) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _openai_type(loc, "one of a string or array of objects", content)
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise _openai_type(f"{loc}[{j}]", "an object", part)
        if part.get("type") == "text" and not isinstance(part.get("text"), str):
            raise _openai_type(f"{loc}[{j}].text", "a string", part.get("text"))


# -- Gemini: proto JSON errors, INVALID_ARGUMENT -----------------------------------------------

_GEMINI_CONTENT = "type.googleapis.com/google.ai.generativelanguage.v1beta.Content"


def _gemini(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise WireError(
            400, 'Invalid JSON payload received. Unknown name "": Root element must be a message.'
        )
    data: dict[str, Any] = camel_keys(raw)
    contents = data.get("contents")
    if contents is None or contents == []:
        raise WireError(400, "* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise _gemini_value("contents", _GEMINI_CONTENT, contents)
    for i, content in enumerate(contents):
        _gemini_content(content, f"contents[{i}]")
    if "systemInstruction" in data:
        _gemini_content(data["systemInstruction"], "system_instruction", role_required=False)
    config = data.get("generationConfig")
    if config is not None:
        _gemini_config(config)
    return data


def _gemini_value(loc: str, kind: str, value: Any) -> WireError:
    shown = json.dumps(value) if not isinstance(value, (dict, list)) else ""
    return WireError(400, f"Invalid value at '{loc}' ({kind}), {shown}".rstrip(", "))


def _gemini_content(content: Any, loc: str, *, role_required: bool = True) -> None:
    if not isinstance(content, dict):
        raise _gemini_value(loc, _GEMINI_CONTENT, content)
    role = content.get("role")
    if role is not None and not isinstance(role, str):
        raise _gemini_value(f"{loc}.role", "TYPE_STRING", role)
    if role_required and role not in (None, "", *_GEMINI_ROLES):
        raise WireError(400, "Please use a valid role: user, model.")
    parts = content.get("parts")
    if parts is None:
        if role_required:
            raise WireError(
                400, f"* GenerateContentRequest.{loc}.parts: contents.parts must not be empty.\n"
            )
        return
    if not isinstance(parts, list):
        raise _gemini_value(
            f"{loc}.parts", "type.googleapis.com/google.ai.generativelanguage.v1beta.Part", parts
        )
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _gemini_value(
                f"{loc}.parts[{j}]",
                "type.googleapis.com/google.ai.generativelanguage.v1beta.Part",
                part,
            )
        if "text" in part and not isinstance(part["text"], str):
            raise _gemini_value(f"{loc}.parts[{j}].text", "TYPE_STRING", part["text"])


def _gemini_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise _gemini_value(
            "generation_config",
            "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig",
            config,
        )
    tokens = config.get("maxOutputTokens")
    if tokens is not None:
        if not _is_int(tokens):
            raise _gemini_value("generation_config.max_output_tokens", "TYPE_INT32", tokens)
        if tokens < 1:
            raise WireError(
                400,
                "* GenerateContentRequest.generation_config.max_output_tokens: "
                "max_output_tokens must be positive.\n",
            )
    for name, field, high in (("temperature", "temperature", 2.0), ("topP", "top_p", 1.0)):
        value = config.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise _gemini_value(f"generation_config.{field}", "TYPE_FLOAT", value)
        if not 0.0 <= value <= high:
            raise WireError(
                400,
                f"* GenerateContentRequest.generation_config.{field}: {field} must be in the "
                f"range [0.0, {high:.1f}].\n",
            )
    stops = config.get("stopSequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise _gemini_value("generation_config.stop_sequences", "TYPE_STRING", stops)


_CHECKS: dict[str, tuple[Callable[[Any], dict[str, Any]], str, str]] = {
    "claude": (
        _anthropic,
        "There was an error parsing the body of your request",
        "Request body is nested too deeply",
    ),
    "openai": (
        _openai,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
        "contact us through our help center at help.openai.com.)",
        "We could not parse the JSON body of your request: it is nested too deeply.",
    ),
    "gemini": (
        _gemini,
        "Invalid JSON payload received. Unexpected token.",
        "Invalid JSON payload received. Message nesting too deep.",
    ),
}


def _azure(data: Any) -> dict[str, Any]:
    # The deployment in the path names the model; the body need not.
    if isinstance(data, dict):
        data.setdefault("model", "")
    return _openai(data)


def _responses(raw: Any) -> dict[str, Any]:
    """The Responses API: ``input`` (a string or a list of items) instead of ``messages``."""
    data = _openai_body(raw, "input")
    if not isinstance(data["input"], (str, list)):
        raise _openai_type("input", "a string or an array", data["input"])
    if "stream" in data and data["stream"] is not None and not isinstance(data["stream"], bool):
        raise _openai_type("stream", "a boolean", data["stream"])
    value = data.get("max_output_tokens")
    if value is not None and (not _is_int(value) or value < 1):
        raise WireError(
            400,
            f"Invalid 'max_output_tokens': expected an integer >= 1, but got {value!r} instead.",
            error="invalid_value",
            param="max_output_tokens",
        )
    return data


_CHECKS["azure"] = (_azure, *_CHECKS["openai"][1:])
_CHECKS["responses"] = (_responses, *_CHECKS["openai"][1:])
_CHECKS["vertex"] = _CHECKS["gemini"]


def validate_body(provider: str, body: bytes) -> dict[str, Any]:
    """The request body as a dict, validated like `provider`'s service validates it
    (`provider`: "claude", "openai", "gemini", or the clouds' "azure" and "vertex").

    Raises `WireError(400, ...)` with the service's wording (and, for OpenAI, its `param`
    and `code`). Gemini's body comes back with its keys in lowerCamelCase.
    """
    check, not_json, too_deep = _CHECKS[provider]
    return check(_load(body, not_json, too_deep))
