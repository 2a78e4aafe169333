"""Rich requests through the three adapters over the real SDKs and an httpx2.MockTransport
wire, for what the emulator cannot show: the exact native body each sends for tools, parts,
formats, reasoning and caching (and foreign tool-call ids); what it refuses before any HTTP;
reply shapes the emulator does not produce (interleaved argument fragments, a tool reply to
a request without tools). Reading replies of every feature over real HTTP is in
test_rich_over_emulator.py; the recorded real replies in test_rich_conformance.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from automatosx._output import parse_output
from automatosx.errors import InvalidRequestError, OutputValidationError
from automatosx.providers.base import StreamEnd
from automatosx.schemas import ProviderRequest, ProviderResponse, TokenUsage, ToolCall

from .conftest import json_response, sse_response

WEATHER = {
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PNG = "iVBORw0KGgo="
CLAUDE_ID = "toolu_01A09q90qw90lq917835lq9"


def rich_request(**fields: Any) -> ProviderRequest:
    doc: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image", "data": PNG, "mediaType": "image/png"},
                ],
            },
        ],
        "tools": [WEATHER],
    }
    doc.update(fields)
    return ProviderRequest.model_validate(doc)


def history_from_claude() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "toolCalls": [{"id": CLAUDE_ID, "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "toolCallId": CLAUDE_ID, "content": "18C, sunny"},
    ]


# -- Anthropic -------------------------------------------------------------------------------

CLAUDE_TOOL_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": CLAUDE_ID, "name": "get_weather", "input": {"city": "Oslo"}},
    ],
    "stop_reason": "tool_use",
    "usage": {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
    },
}


async def test_claude_sends_tools_images_cache_breakpoints_and_reads_tool_calls(
    wire_provider: Any,
) -> None:
    provider, wire = wire_provider("claude", json_response(200, CLAUDE_TOOL_REPLY))
    request = rich_request(toolChoice={"name": "get_weather"}, promptCache=True)
    response = await provider.execute(request)
    body = wire.body
    assert body["tools"][0]["input_schema"] == WEATHER["parameters"]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert body["system"] == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    ]
    image = body["messages"][0]["content"][1]
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert image["cache_control"] == {"type": "ephemeral"}
    assert response.tool_calls == [
        ToolCall(id=CLAUDE_ID, name="get_weather", arguments={"city": "Oslo"})
    ]
    assert response.finish_reason == "tool_calls"
    assert (response.tokens.input_tokens, response.tokens.cached_input_tokens) == (130, 100)
    assert response.tokens.cache_write_tokens == 20


async def test_claude_sends_tool_results_in_one_user_turn(wire_provider: Any) -> None:
    provider, wire = wire_provider("claude", json_response(200, CLAUDE_TOOL_REPLY))
    await provider.execute(ProviderRequest.model_validate({"messages": history_from_claude()}))
    assistant, result = wire.body["messages"][1:]
    assert assistant["content"] == [
        {"type": "tool_use", "id": CLAUDE_ID, "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert result["role"] == "user"
    assert result["content"][0]["tool_use_id"] == CLAUDE_ID


async def test_claude_thinking_budget_raises_max_tokens(wire_provider: Any) -> None:
    provider, wire = wire_provider("claude", json_response(200, CLAUDE_TOOL_REPLY))
    await provider.execute(rich_request(reasoning={"effort": "low"}))
    assert wire.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert wire.body["max_tokens"] > 2048


@pytest.mark.parametrize(
    "fields",
    [
        {"responseFormat": {"type": "json_object"}},
        {"reasoning": {"budgetTokens": 4000}, "temperature": 0.5},
        {"reasoning": {"budgetTokens": 4000}, "maxTokens": 1000},
    ],
    ids=["json-object", "thinking-with-temperature", "budget-above-max-tokens"],
)
async def test_claude_refuses_what_it_cannot_do_before_sending(
    wire_provider: Any, fields: dict[str, Any]
) -> None:
    provider, wire = wire_provider("claude", json_response(200, CLAUDE_TOOL_REPLY))
    with pytest.raises(InvalidRequestError, match="claude cannot take"):
        await provider.execute(rich_request(**fields))
    assert wire.requests == []


def _sse(events: list[dict[str, Any]]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


CLAUDE_STREAM = _sse(
    [
        {
            "type": "message_start",
            "message": {"model": "claude-sonnet-4-6", "usage": {"input_tokens": 9}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hm"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": CLAUDE_ID, "name": "get_weather"},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ty": "Oslo"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ]
)


# -- OpenAI ----------------------------------------------------------------------------------

OPENAI_TOOL_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 50,
        "completion_tokens": 20,
        "total_tokens": 70,
        "prompt_tokens_details": {"cached_tokens": 32},
        "completion_tokens_details": {"reasoning_tokens": 12},
    },
}


async def test_openai_sends_functions_formats_effort_and_reads_tool_calls(
    wire_provider: Any,
) -> None:
    provider, wire = wire_provider("openai", json_response(200, OPENAI_TOOL_REPLY))
    schema = {"type": "object", "properties": {"t": {"type": "number"}}}
    request = rich_request(
        toolChoice="required",
        parallelToolCalls=False,
        responseFormat={"type": "json_schema", "name": "w", "schema": schema, "strict": True},
        reasoning={"budgetTokens": 20_000},
    )
    response = await provider.execute(request)
    body = wire.body
    assert body["tools"] == [{"type": "function", "function": WEATHER}]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": schema, "strict": True},
    }
    assert body["reasoning_effort"] == "high"
    assert body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert response.tool_calls == [
        ToolCall(id="call_1", name="get_weather", arguments={"city": "Oslo"})
    ]
    assert (response.tokens.cached_input_tokens, response.tokens.reasoning_tokens) == (32, 12)


async def test_claude_history_continues_on_openai(wire_provider: Any) -> None:
    provider, wire = wire_provider("openai", json_response(200, OPENAI_TOOL_REPLY))
    await provider.execute(ProviderRequest.model_validate({"messages": history_from_claude()}))
    assistant, tool = wire.body["messages"][1:]
    call = assistant["tool_calls"][0]
    assert call["id"] == tool["tool_call_id"] == CLAUDE_ID
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


async def test_long_foreign_ids_become_the_same_short_openai_id(wire_provider: Any) -> None:
    long_id = "x" * 100
    history = history_from_claude()
    history[1]["toolCalls"][0]["id"] = history[2]["toolCallId"] = long_id
    provider, wire = wire_provider("openai", json_response(200, OPENAI_TOOL_REPLY))
    await provider.execute(ProviderRequest.model_validate({"messages": history}))
    assistant, tool = wire.body["messages"][1:]
    assert assistant["tool_calls"][0]["id"] == tool["tool_call_id"]
    assert len(tool["tool_call_id"]) <= 40


def _chunks(*deltas: dict[str, Any], finish: str = "tool_calls") -> str:
    lines = [
        {"model": "gpt-4o-mini", "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
        for d in deltas
    ]
    lines.append(
        {"model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    )
    lines.append({"model": "gpt-4o-mini", "choices": [], "usage": OPENAI_TOOL_REPLY["usage"]})
    return "".join(f"data: {json.dumps(x)}\n\n" for x in lines) + "data: [DONE]\n\n"


async def test_openai_stream_assembles_indexed_argument_fragments(wire_provider: Any) -> None:
    stream = _chunks(
        {"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "get_weather"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "get_weather"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": '{"city":"Rome"}'}}]},
    )
    provider, _ = wire_provider("openai", sse_response(stream))
    events = [e async for e in provider.stream(rich_request(stream=True))]
    *calls, end = events
    assert calls == [
        ToolCall(id="call_a", name="get_weather", arguments={"city": "Oslo"}),
        ToolCall(id="call_b", name="get_weather", arguments={"city": "Rome"}),
    ]
    assert isinstance(end, StreamEnd)
    assert end.tool_calls == tuple(calls)
    assert end.usage.cached_input_tokens == 32


async def test_openai_refuses_images_in_tool_results(wire_provider: Any) -> None:
    history = history_from_claude()
    history[2]["content"] = [{"type": "image", "url": "https://x.test/a.png"}]
    provider, wire = wire_provider("openai", json_response(200, OPENAI_TOOL_REPLY))
    with pytest.raises(InvalidRequestError, match="images in a tool result"):
        await provider.execute(ProviderRequest.model_validate({"messages": history}))
    assert wire.requests == []


# -- Gemini ----------------------------------------------------------------------------------

GEMINI_CALL_REPLY = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 40,
        "candidatesTokenCount": 5,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 16,
        "totalTokenCount": 75,
    },
    "modelVersion": "gemini-2.5-flash",
}


async def test_gemini_sends_declarations_config_and_maps_stop_with_calls(
    wire_provider: Any,
) -> None:
    provider, wire = wire_provider("gemini", json_response(200, GEMINI_CALL_REPLY))
    request = rich_request(
        toolChoice={"name": "get_weather"},
        responseFormat={"type": "json_schema", "name": "w", "schema": {"type": "object"}},
        reasoning={"effort": "medium"},
    )
    response = await provider.execute(request)
    body = wire.body
    declaration = body["tools"][0]["functionDeclarations"][0]
    # google-genai writes this field under its proto name, which the API accepts too.
    assert declaration["parameters_json_schema"] == WEATHER["parameters"]
    assert body["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["get_weather"],
    }
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == {"type": "object"}
    assert config["thinkingConfig"] == {"thinking_budget": 8192}  # as google-genai writes it
    inline = body["contents"][0]["parts"][1]["inlineData"]
    assert inline == {"mime_type": "image/png", "data": PNG}  # as google-genai writes it
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls is not None
    call = response.tool_calls[0]
    assert (call.name, call.arguments, call.id.startswith("call_")) == (
        "get_weather",
        {"city": "Oslo"},
        True,
    )
    assert (response.tokens.cached_input_tokens, response.tokens.reasoning_tokens) == (16, 30)


async def test_claude_history_continues_on_gemini_matched_by_name(wire_provider: Any) -> None:
    provider, wire = wire_provider("gemini", json_response(200, GEMINI_CALL_REPLY))
    await provider.execute(ProviderRequest.model_validate({"messages": history_from_claude()}))
    model_turn, tool_turn = wire.body["contents"][1:]
    assert model_turn["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    ]
    assert tool_turn["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"result": "18C, sunny"},
    }


async def test_gemini_refuses_serial_tool_calls_before_sending(wire_provider: Any) -> None:
    provider, wire = wire_provider("gemini", json_response(200, GEMINI_CALL_REPLY))
    with pytest.raises(InvalidRequestError, match="parallelToolCalls"):
        await provider.execute(rich_request(parallelToolCalls=False))
    assert wire.requests == []


# -- plain requests stay plain; structured output --------------------------------------------


async def test_plain_request_stream_of_a_tool_reply_yields_text_only(wire_provider: Any) -> None:
    provider, _ = wire_provider("claude", sse_response(CLAUDE_STREAM))
    request = ProviderRequest.model_validate({"messages": [{"role": "user", "content": "x"}]})
    events = [e async for e in provider.stream(request)]
    assert events[:-1] == ["Hm"]


class Weather(BaseModel):
    city: str
    celsius: float


def _reply(content: str) -> ProviderResponse:
    return ProviderResponse(
        request_id="123e4567-e89b-12d3-a456-426614174000",
        provider="openai",
        model="m",
        content=content,
        tokens=TokenUsage(),
        duration=1,
    )


def test_parse_output_fills_parsed_and_accepts_a_fenced_block() -> None:
    response = _reply('```json\n{"city": "Oslo", "celsius": 4}\n```')
    assert parse_output(response, Weather) == Weather(city="Oslo", celsius=4)
    assert response.parsed == Weather(city="Oslo", celsius=4)


def test_parse_output_error_carries_raw_text_and_field_errors() -> None:
    with pytest.raises(OutputValidationError, match="celsius") as info:
        parse_output(_reply('{"city": "Oslo"}'), Weather)
    assert info.value.raw == '{"city": "Oslo"}'
    assert info.value.errors[0]["loc"] == ("celsius",)
