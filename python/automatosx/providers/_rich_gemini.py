"""The rich request in Gemini's ``generateContent`` shape (as google-genai's config dicts),
and the rich parts of its replies.

* parts: ``text``; images as ``inline_data`` (base64 data) or ``file_data`` (a URL, its
  MIME type guessed from the name: an image URL without a known extension is refused);
* tools: one ``function_declarations`` tool (``parameters_json_schema``); ``toolChoice`` as
  ``tool_config.function_calling_config`` (AUTO / NONE / ANY, ANY with one allowed name);
  Gemini has no switch for parallel calls, so ``parallelToolCalls: false`` is refused;
* an assistant's ``toolCalls`` as ``function_call`` parts; ``tool`` messages as
  ``function_response`` parts of one user turn. Gemini matches a response to its call by
  *name*: the name comes from the call the tool message answers (by id), so histories from
  Claude (``toolu_...``) or OpenAI continue here; Gemini's calls carry no id, so one is made;
* ``responseFormat`` as ``response_mime_type`` + ``response_json_schema``;
* ``reasoning`` as ``thinking_config.thinking_budget`` (an effort maps to a budget);
* ``promptCache``: Gemini caches implicitly; nothing to send.

Gemini answers a function call with finish reason STOP: a reply with calls maps to
``tool_calls``.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

from automatosx.providers._rich import budget_of, unsupported, wire_tool_call
from automatosx.schemas import ImagePart, ProviderRequest, TextPart, ToolCall

__all__ = ["gemini_config_options", "rich_params", "sdk_tool_calls", "tool_calls_of"]

_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if part.url is not None:
        mime, _ = mimetypes.guess_type(part.url.split("?", 1)[0])
        if mime is None or not mime.startswith("image/"):
            raise unsupported(
                "gemini",
                f"an image URL without a known image extension ({part.url[:80]})",
                "send the image as base64 data with its mediaType",
            )
        return {"file_data": {"file_uri": part.url, "mime_type": mime}}
    try:
        data = base64.b64decode(part.data or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise unsupported("gemini", "image data that is not base64", "encode it") from exc
    return {"inline_data": {"mime_type": part.media_type, "data": data}}


def _parts(content: str | list[TextPart | ImagePart] | None) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    return [_part(part) for part in content]


def _result(content: str | list[TextPart | ImagePart] | None) -> dict[str, Any]:
    if isinstance(content, list):
        if any(isinstance(part, ImagePart) for part in content):
            raise unsupported("gemini", "images in a tool result", "send them as a user part")
        return {"result": "".join(part.text for part in content if isinstance(part, TextPart))}
    return {"result": content or ""}


def _contents(request: ProviderRequest) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    tool_turn: dict[str, Any] | None = None
    for message in request.messages:
        role = message.role
        if role == "system":
            system.extend(part["text"] for part in _parts(message.content))
            continue
        if role == "tool":
            call_id = message.tool_call_id or ""
            response = {"name": names[call_id], "response": _result(message.content)}
            if tool_turn is None:
                tool_turn = {"role": "user", "parts": []}
                contents.append(tool_turn)
            tool_turn["parts"].append({"function_response": response})
            continue
        tool_turn = None
        parts = _parts(message.content)
        for call in message.tool_calls or ():
            names[call.id] = call.name
            parts.append({"function_call": {"name": call.name, "args": call.arguments}})
        contents.append({"role": "model" if role == "assistant" else "user", "parts": parts})
    return system, contents


def rich_params(request: ProviderRequest, params: dict[str, Any]) -> None:
    """Complete ``params`` (model, config with sampling) with the rich request."""
    system, contents = _contents(request)
    params["contents"] = contents
    config: dict[str, Any] = params["config"]
    if system:
        config["system_instruction"] = "\n\n".join(system)
    if request.tools is not None:
        if request.parallel_tool_calls is False:
            raise unsupported("gemini", "parallelToolCalls: false", "leave parallelToolCalls unset")
        declarations = []
        for tool in request.tools:
            declaration: dict[str, Any] = {"name": tool.name}
            if tool.description:
                declaration["description"] = tool.description
            if tool.parameters:
                declaration["parameters_json_schema"] = tool.parameters
            declarations.append(declaration)
        config["tools"] = [{"function_declarations": declarations}]
    choice = request.tool_choice
    if choice is not None:
        calling: dict[str, Any]
        if isinstance(choice, str):
            calling = {"mode": _MODES[choice]}
        else:
            calling = {"mode": "ANY", "allowed_function_names": [choice.name]}
        config["tool_config"] = {"function_calling_config": calling}
    fmt = request.response_format
    if fmt is not None:
        config["response_mime_type"] = "application/json"
        if fmt.type == "json_schema":
            config["response_json_schema"] = fmt.json_schema
    if request.reasoning is not None:
        config["thinking_config"] = {"thinking_budget": budget_of(request.reasoning)}


_ROUTER_OWNED = frozenset(
    {"http_options", "should_return_http_response", "automatic_function_calling"}
)


def gemini_config_options(options: dict[str, Any]) -> dict[str, Any]:
    """``providerOptions.gemini``: fields of google-genai's ``GenerateContentConfig`` (snake_case
    or camelCase), checked against the SDK's model before sending; the fields the adapter
    itself owns (its HTTP options, raw-reply switch, function-calling loop) are refused."""
    from google.genai.types import GenerateContentConfig

    fields = GenerateContentConfig.model_fields
    by_alias = {field.alias: name for name, field in fields.items() if field.alias}
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = key if key in fields else by_alias.get(key)
        if name is None or name in _ROUTER_OWNED:
            raise unsupported(
                "gemini",
                f"providerOptions.gemini.{key}",
                "name a field of google-genai's GenerateContentConfig the router does not set "
                "itself",
            )
        out[name] = value
    return out


def tool_calls_of(candidate: dict[str, Any] | None) -> list[ToolCall] | None:
    """The ``functionCall`` parts of a JSON reply's candidate, or None."""
    content = candidate.get("content") if candidate is not None else None
    parts = content.get("parts") if content is not None else None
    calls = [
        wire_tool_call(part["functionCall"].get("id"), part["functionCall"].get("name"),
                       part["functionCall"].get("args"))
        for part in parts or ()
        if part.get("functionCall")
    ]  # fmt: skip
    return calls or None


def sdk_tool_calls(candidate: Any) -> list[ToolCall]:
    """The function calls of a streamed chunk's candidate (google-genai objects)."""
    content = candidate.content if candidate is not None else None
    if content is None or not content.parts:
        return []
    return [
        wire_tool_call(part.function_call.id, part.function_call.name, part.function_call.args)
        for part in content.parts
        if part.function_call is not None
    ]
