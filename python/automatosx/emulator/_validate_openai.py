"""OpenAI bodies (Chat Completions, Azure, Responses) checked like the service:
"Invalid type for 'x': ..." with `param` and `code`."""

from __future__ import annotations

import json
from typing import Any

from automatosx.emulator._wire import WireError, a_noun, is_int, is_number, type_name

__all__ = ["check_azure", "check_openai", "check_responses"]

_OPENAI_ROLES = ("system", "assistant", "user", "function", "tool", "developer")


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


def check_openai(raw: Any) -> dict[str, Any]:
    data = _openai_body(raw, "messages")
    for name in ("stream", "logprobs"):
        if name in data and data[name] is not None and not isinstance(data[name], bool):
            raise _openai_type(name, "a boolean", data[name])
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = data.get(name)
        if value is None:
            continue
        if not is_int(value):
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
    _array_fields(data, "tools", "functions")
    _openai_messages(data["messages"])
    return data


def _openai_type(param: str, expected: str, value: Any) -> WireError:
    return WireError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {a_noun(type_name(value))} "
        "instead.",
        error="invalid_type",
        param=param,
    )


def _openai_range(data: dict[str, Any], name: str, low: float, high: float) -> None:
    value = data.get(name)
    if value is None:
        return
    if not is_number(value):
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


def check_azure(data: Any) -> dict[str, Any]:
    # The deployment in the path names the model; the body need not.
    if isinstance(data, dict):
        data.setdefault("model", "")
    return check_openai(data)


def _array_fields(data: dict[str, Any], *names: str) -> None:
    for name in names:
        if data.get(name) is not None and not isinstance(data[name], list):
            raise _openai_type(name, "an array", data[name])


def check_responses(raw: Any) -> dict[str, Any]:
    """The Responses API: ``input`` (a string or a list of items) instead of ``messages``."""
    data = _openai_body(raw, "input")
    if not isinstance(data["input"], (str, list)):
        raise _openai_type("input", "a string or an array", data["input"])
    if "stream" in data and data["stream"] is not None and not isinstance(data["stream"], bool):
        raise _openai_type("stream", "a boolean", data["stream"])
    _array_fields(data, "tools", "include")
    value = data.get("max_output_tokens")
    if value is not None and (not is_int(value) or value < 1):
        raise WireError(
            400,
            f"Invalid 'max_output_tokens': expected an integer >= 1, but got {value!r} instead.",
            error="invalid_value",
            param="max_output_tokens",
        )
    return data
