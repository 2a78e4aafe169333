"""Every rich feature through each adapter's real SDK over real HTTP to the emulator on
loopback, in JSON and in streams: tool calls (forced, named, answered), structured output
(JSON Schema and JSON mode), images, prompt caching and reasoning token details.

The emulator's rules (emulator/_features.py) make each reply predictable: a forced or named
tool choice calls that tool with arguments valid against its schema; a tool result is quoted
in the answer; a schema gets an instance of it; each image adds IMAGE_TOKENS input tokens;
a repeated prefix is read from the cache; reasoning effort costs REASONING_TOKENS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from automatosx.emulator._features import IMAGE_TOKENS
from automatosx.providers import Provider
from automatosx.providers.base import StreamEnd
from automatosx.schemas import ProviderRequest, ProviderResponse, TokenUsage, ToolCall

from .conftest import NAMES

Make = Callable[..., Provider]
MODES = ("execute", "stream")
WEATHER = {
    "name": "get_weather",
    "description": "The weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}
PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def request(text: str = "Hello there", **fields: Any) -> ProviderRequest:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": text}], "maxTokens": 300, **fields}
    )


async def run(provider: Provider, req: ProviderRequest, mode: str) -> ProviderResponse:
    """One call in ``mode``; a stream is folded into a response (its calls streamed one by
    one must equal the StreamEnd's)."""
    if mode == "execute":
        return await provider.execute(req)
    text: list[str] = []
    streamed: list[ToolCall] = []
    end: StreamEnd | None = None
    async for event in provider.stream(req):
        if isinstance(event, str):
            text.append(event)
        elif isinstance(event, ToolCall):
            streamed.append(event)
        else:
            end = event
    assert end is not None
    assert list(end.tool_calls or ()) == streamed
    return ProviderResponse(
        request_id=req.request_id,
        provider=provider.name,
        model=end.model or "m",
        content="".join(text),
        tokens=end.usage,
        finish_reason=end.finish_reason,
        duration=0,
        tool_calls=streamed or None,
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_required_tool_choice_calls_a_tool_with_valid_arguments(
    live_provider: Make, name: str, mode: str
) -> None:
    reply = await run(
        live_provider(name), request(tools=[WEATHER, TIME], toolChoice="required"), mode
    )
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls is not None
    [call] = reply.tool_calls
    assert call.name in {"get_weather", "get_time"}
    if call.name == "get_weather":
        assert isinstance(call.arguments["city"], str)
        assert isinstance(call.arguments["days"], int)
    assert call.id


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_named_tool_choice_calls_that_tool(live_provider: Make, name: str, mode: str) -> None:
    reply = await run(
        live_provider(name), request(tools=[WEATHER, TIME], toolChoice={"name": "get_time"}), mode
    )
    assert [c.name for c in reply.tool_calls or ()] == ["get_time"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_no_tool_choice_gets_text_only(live_provider: Make, name: str, mode: str) -> None:
    reply = await run(
        live_provider(name), request("Call get_weather", tools=[WEATHER], toolChoice="none"), mode
    )
    assert reply.tool_calls == []
    assert reply.finish_reason == "stop"
    assert reply.content


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_tool_results_are_sent_back_and_answered(
    live_provider: Make, name: str, mode: str
) -> None:
    provider = live_provider(name)
    first = await provider.execute(request(tools=[WEATHER], toolChoice="required"))
    assert first.tool_calls is not None
    [call] = first.tool_calls
    history = [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "", "toolCalls": [call.model_dump()]},
        {"role": "tool", "toolCallId": call.id, "content": "Rain, 9C"},
    ]
    req = ProviderRequest.model_validate({"messages": history, "tools": [WEATHER]})
    reply = await run(provider, req, mode)
    assert "Rain, 9C" in reply.content
    assert reply.tool_calls == []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_json_schema_reply_is_an_instance_of_the_schema(
    live_provider: Make, name: str, mode: str
) -> None:
    fmt = {"type": "json_schema", "name": "City", "schema": CITY, "strict": True}
    reply = await run(live_provider(name), request(responseFormat=fmt), mode)
    city = json.loads(reply.content)
    assert set(city) == {"name", "population"}
    assert isinstance(city["name"], str)
    assert isinstance(city["population"], int)


@pytest.mark.parametrize("name", ["openai", "gemini"])
async def test_json_mode_reply_is_a_json_object(live_provider: Make, name: str) -> None:
    reply = await live_provider(name).execute(request(responseFormat={"type": "json_object"}))
    assert isinstance(json.loads(reply.content), dict)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_each_image_adds_its_input_tokens(live_provider: Make, name: str, mode: str) -> None:
    provider = live_provider(name)
    text_only = await run(provider, request("What is this?"), mode)
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "data": PNG, "mediaType": "image/png"},
    ]
    with_image = await run(
        provider,
        ProviderRequest.model_validate({"messages": [{"role": "user", "content": parts}]}),
        mode,
    )
    assert with_image.tokens.input_tokens - text_only.tokens.input_tokens >= IMAGE_TOKENS


def _cached(tokens: TokenUsage) -> int:
    return tokens.cached_input_tokens or 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_a_repeated_prefix_is_read_from_the_cache(
    live_provider: Make, name: str, mode: str
) -> None:
    provider = live_provider(name)
    session = uuid.uuid4()  # the emulator's cache is shared by the whole test session
    doc = {
        "messages": [
            # Over 1,024 tokens: below that no service (nor the emulator) caches a prompt.
            {"role": "system", "content": f"Context {session}. " + "Facts. " * 700},
            {"role": "user", "content": f"First question of {session}"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Second question"},
        ],
        "promptCache": True,
    }
    first = await run(provider, ProviderRequest.model_validate(doc), mode)
    second = await run(provider, ProviderRequest.model_validate(doc), mode)
    assert _cached(second.tokens) > _cached(first.tokens)
    assert _cached(second.tokens) <= second.tokens.input_tokens
    if name == "claude":  # Anthropic reports the write the first time
        assert first.tokens.cache_write_tokens


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_reasoning_tokens_are_reported_within_output(
    live_provider: Make, name: str, mode: str
) -> None:
    reply = await run(
        live_provider(name), request(reasoning={"effort": "high"}, maxTokens=30_000), mode
    )
    tokens = reply.tokens
    if name == "claude":  # thinking is billed as output; Anthropic does not split it out
        assert tokens.output_tokens > 0
        return
    assert tokens.reasoning_tokens
    assert tokens.reasoning_tokens <= tokens.output_tokens
