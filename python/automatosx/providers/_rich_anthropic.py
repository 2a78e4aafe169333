"""The rich request in Anthropic's Messages API shape, and the rich parts of its replies.

Only requests with something beyond text messages come here (``ProviderRequest.is_rich``):

* parts: text blocks; images as ``{"type": "image", "source": base64 | url}``;
* tools: ``{"name", "description", "input_schema"}``; ``toolChoice`` auto/none/required/
  {"name"} as ``{"type": "auto" | "none" | "any" | "tool"}``; ``parallelToolCalls: false`` as
  ``disable_parallel_tool_use``;
* an assistant's ``toolCalls`` as ``tool_use`` blocks; ``tool`` messages as ``tool_result``
  blocks of one user turn (consecutive tool messages share it, as Anthropic requires);
* ``promptCache``: ``cache_control`` breakpoints on the last tool, the system prompt and the
  last message's last block;
* ``reasoning``: ``thinking`` with a token budget (an effort maps to a budget); Anthropic
  refuses a temperature other than 1 with thinking, so that is refused here first;
* ``responseFormat`` json_schema: ``output_format`` (structured outputs beta); json_object
  has no Anthropic equivalent and is refused.

Everything rich travels in ``extra_body``: no dependency on the SDK version's parameters.
"""

from __future__ import annotations

from typing import Any

from automatosx.providers._rich import anthropic_call_id, budget_of, unsupported, wire_tool_call
from automatosx.schemas import ImagePart, Message, ProviderRequest, TextPart, ToolCall

__all__ = ["STRUCTURED_OUTPUTS_BETA", "rich_params", "tool_calls_of"]

STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"
_CACHE = {"type": "ephemeral"}
_MIN_THINKING_BUDGET = 1_024


def _block(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
    }


def _blocks(content: str | list[TextPart | ImagePart] | None) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [_block(part) for part in content]


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": anthropic_call_id(call.id),
        "name": call.name,
        "input": call.arguments,
    }


def _messages(request: ProviderRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages) of the conversation."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role = message.role
        if role == "system":
            system.extend(_blocks(message.content))
        elif role == "tool":
            result = _tool_result(message)
            last = messages[-1] if messages else None
            if last is not None and last.get("_tool_results"):
                last["content"].append(result)
            else:
                messages.append({"role": "user", "content": [result], "_tool_results": True})
        else:
            content = _blocks(message.content)
            if message.tool_calls is not None:
                content.extend(_tool_use(call) for call in message.tool_calls)
            messages.append({"role": role, "content": content})
    for native in messages:
        native.pop("_tool_results", None)
    return system, messages


def _tool_result(message: Message) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": anthropic_call_id(message.tool_call_id or ""),
        "content": _blocks(message.content),
    }


def _tools(request: ProviderRequest) -> list[dict[str, Any]]:
    tools = []
    for tool in request.tools or ():
        native: dict[str, Any] = {
            "name": tool.name,
            "input_schema": tool.parameters or {"type": "object", "properties": {}},
        }
        if tool.description:
            native["description"] = tool.description
        tools.append(native)
    return tools


def _tool_choice(request: ProviderRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    native: dict[str, Any]
    if choice is None:
        if request.parallel_tool_calls is not False:
            return None
        native = {"type": "auto"}
    elif choice == "required":
        native = {"type": "any"}
    elif isinstance(choice, str):
        native = {"type": choice}
    else:
        native = {"type": "tool", "name": choice.name}
    if request.parallel_tool_calls is False and native["type"] != "none":
        native["disable_parallel_tool_use"] = True
    return native


def rich_params(request: ProviderRequest, params: dict[str, Any]) -> None:
    """Complete ``params`` (model, max_tokens, sampling set) with the rich request."""
    system, messages = _messages(request)
    params["messages"] = messages
    params.pop("system", None)
    body: dict[str, Any] = params.setdefault("extra_body", {})
    if request.tools is not None:
        body["tools"] = _tools(request)
    choice = _tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice
    if request.prompt_cache:
        _cache_breakpoints(system, messages, body.get("tools"))
    if system:
        params["system"] = system
    if request.reasoning is not None:
        _thinking(request, params, body)
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_object":
            raise unsupported(
                "claude", "responseFormat json_object", "use json_schema with an object schema"
            )
        body["output_format"] = {"type": "json_schema", "schema": fmt.json_schema}
        params["extra_headers"] = {"anthropic-beta": STRUCTURED_OUTPUTS_BETA}


def _cache_breakpoints(
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
) -> None:
    if tools:
        tools[-1]["cache_control"] = _CACHE
    if system:
        system[-1]["cache_control"] = _CACHE
    if messages and messages[-1]["content"]:
        messages[-1]["content"][-1]["cache_control"] = _CACHE


def _thinking(request: ProviderRequest, params: dict[str, Any], body: dict[str, Any]) -> None:
    assert request.reasoning is not None
    budget = max(budget_of(request.reasoning), _MIN_THINKING_BUDGET)
    if request.temperature != 1.0 or request.top_p is not None:
        raise unsupported(
            "claude",
            "temperature or topP together with reasoning",
            "leave temperature at 1 and topP unset when reasoning is on",
        )
    if request.max_tokens is None:
        params["max_tokens"] = budget + params["max_tokens"]
    elif request.max_tokens <= budget:
        raise unsupported(
            "claude",
            f"a thinking budget of {budget} with maxTokens {request.max_tokens}",
            "raise maxTokens above the budget (it includes the thinking)",
        )
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}


def tool_calls_of(content: list[dict[str, Any]]) -> list[ToolCall] | None:
    """The ``tool_use`` blocks of a reply's content, or None."""
    calls = [
        wire_tool_call(block["id"], block["name"], block.get("input"))
        for block in content
        if block.get("type") == "tool_use"
    ]
    return calls or None
