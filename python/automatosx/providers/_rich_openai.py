"""The rich request in OpenAI Chat Completions' shape, and the rich parts of its replies.

* parts: ``{"type": "text"}`` and ``{"type": "image_url", "image_url": {"url"}}`` (base64
  data as a ``data:`` URL);
* tools: ``{"type": "function", "function": {"name", "description", "parameters"}}``;
  ``toolChoice`` auto/none/required or ``{"type": "function", "function": {"name"}}``;
  ``parallel_tool_calls``;
* an assistant's ``toolCalls`` as ``tool_calls`` with JSON-string arguments; a ``tool``
  message as ``{"role": "tool", "tool_call_id", "content"}`` (text only: OpenAI refuses
  images in tool results, so they are refused here);
* ``responseFormat`` as ``response_format`` (json_object, json_schema);
* ``reasoning`` as ``reasoning_effort`` (a budget maps to the nearest effort);
* ``promptCache``: OpenAI caches long prompts by itself; nothing to send.

Ids longer than OpenAI's 40 characters become a stable digest (see ``_rich``).
"""

from __future__ import annotations

import json
from typing import Any

from automatosx.providers._rich import effort_of, openai_call_id, unsupported, wire_tool_call
from automatosx.schemas import ImagePart, Message, ProviderRequest, TextPart, ToolCall

__all__ = ["rich_params", "tool_calls_of", "ToolCallAssembler"]


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _content(content: str | list[TextPart | ImagePart] | None) -> Any:
    if content is None or isinstance(content, str):
        return content
    return [_part(part) for part in content]


def _message(message: Message) -> dict[str, Any]:
    role = message.role
    if role == "tool":
        if isinstance(message.content, list) and any(
            isinstance(part, ImagePart) for part in message.content
        ):
            raise unsupported("openai", "images in a tool result", "send the image as a user part")
        return {
            "role": "tool",
            "tool_call_id": openai_call_id(message.tool_call_id or ""),
            "content": _content(message.content),
        }
    native: dict[str, Any] = {"role": role, "content": _content(message.content) or None}
    if message.name is not None:
        native["name"] = message.name
    if message.tool_calls is not None:
        native["tool_calls"] = [_tool_call(call) for call in message.tool_calls]
    return native


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": openai_call_id(call.id),
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def rich_params(request: ProviderRequest, params: dict[str, Any]) -> None:
    """Complete ``params`` (model, sampling set) with the rich request."""
    params["messages"] = [_message(message) for message in request.messages]
    body: dict[str, Any] = {}
    if request.tools is not None:
        tools = []
        for tool in request.tools:
            function: dict[str, Any] = {"name": tool.name}
            if tool.description:
                function["description"] = tool.description
            function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
            tools.append({"type": "function", "function": function})
        body["tools"] = tools
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            choice
            if isinstance(choice, str)
            else {"type": "function", "function": {"name": choice.name}}
        )
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        else:
            schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.json_schema}
            if fmt.strict is not None:
                schema["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if request.reasoning is not None:
        body["reasoning_effort"] = effort_of(request.reasoning)
    if body:
        params["extra_body"] = body


def tool_calls_of(message: dict[str, Any]) -> list[ToolCall] | None:
    """The ``tool_calls`` of a reply's message, or None."""
    calls = message.get("tool_calls")
    if not calls:
        return None
    return [
        wire_tool_call(call["id"], call["function"]["name"], call["function"].get("arguments"))
        for call in calls
    ]


class ToolCallAssembler:
    """Tool calls of a stream: ``delta.tool_calls`` fragments keyed by ``index`` (the first
    carries the id and name, the rest pieces of the JSON-string arguments)."""

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}

    def add(self, fragments: list[dict[str, Any]]) -> None:
        for fragment in fragments:
            slot = self._calls.setdefault(fragment["index"], [None, None, []])
            if fragment.get("id"):
                slot[0] = fragment["id"]
            function = fragment.get("function") or {}
            if function.get("name"):
                slot[1] = function["name"]
            if function.get("arguments"):
                slot[2].append(function["arguments"])

    def finish(self) -> list[ToolCall]:
        """The completed calls in index order (``ValueError`` if one is malformed)."""
        calls = [
            wire_tool_call(call_id, name, "".join(parts))
            for _, (call_id, name, parts) in sorted(self._calls.items())
        ]
        self._calls.clear()
        return calls
