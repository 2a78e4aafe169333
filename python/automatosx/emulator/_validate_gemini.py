"""Gemini bodies checked like the service: proto JSON errors, INVALID_ARGUMENT.

Gemini's API reads proto JSON, which takes `snake_case` and `lowerCamelCase` field names
alike; `camel_keys` rewrites the first into the second (leaving user-named keys such as a
schema's `properties` or a function call's `args` alone) so the rest of the emulator reads
one spelling.
"""

from __future__ import annotations

import json
from typing import Any

from automatosx.emulator._wire import WireError, is_int, is_number

__all__ = ["camel_keys", "camel_name", "check_gemini"]

_GEMINI_ROLES = ("user", "model", "function", "tool")
# Values under these keys are user data (schema properties, call arguments, labels): their
# keys are names, not proto fields, so they keep their spelling.
_OPAQUE_KEYS = frozenset(
    {"properties", "args", "response", "labels", "parametersJsonSchema", "responseJsonSchema"}
)


def camel_keys(value: Any) -> Any:
    """`value` with snake_case object keys spelled lowerCamelCase (proto JSON's two names)."""
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = camel_name(key) if isinstance(key, str) else key
        out[name] = item if name in _OPAQUE_KEYS else camel_keys(item)
    return out


def camel_name(name: str) -> str:
    """A proto field name in lowerCamelCase (snake_case is its other JSON spelling)."""
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


_GEMINI_CONTENT = "type.googleapis.com/google.ai.generativelanguage.v1beta.Content"


def check_gemini(raw: Any) -> dict[str, Any]:
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
    if data.get("systemInstruction") is not None:  # proto JSON: null is the default
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
        if not is_int(tokens):
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
        if not is_number(value):
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
