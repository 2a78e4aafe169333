"""Rich requests end to end: the router over the real SDKs over real HTTP to the emulator,
recording into a real SQLite file read back after the router closes.

Tool calls (execute and stream), structured output into a caller's model, cache and
reasoning token details priced and recorded, images stored without their bytes, and a
tool-calling conversation that falls back across providers.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from pydantic import BaseModel
from tests.e2e.conftest import NAMES, Harness

from automatosx import Router
from automatosx.emulator import Rule
from automatosx.errors import OutputValidationError
from automatosx.pricing import PriceBook
from automatosx.schemas import StreamChunk

WEATHER = {
    "name": "get_weather",
    "description": "The weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CLAUDE_CALL_ID = "toolu_01A09q90qw90lq917835lq9"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


class City(BaseModel):
    name: str
    population: int


class Verdict(BaseModel):
    verdict: bool


def make_router(e2e: Harness, primary: str, fallbacks: tuple[str, ...] = ()) -> Router:
    """A router with generous timeouts: these tests pin behaviour, never speed, and the
    machine running them may be busy."""
    slow = {"timeout": 60_000, "max_retries": 0}
    return e2e.router(
        primary,
        fallbacks,
        providers=dict.fromkeys(NAMES, slow),
        firstTokenTimeoutMs=60_000,
        streamIdleTimeoutMs=60_000,
    )


def tool_request(e2e: Harness, **fields: Any) -> dict[str, Any]:
    return e2e.request("What is the weather in Paris?", tools=[WEATHER], **fields)


@pytest.mark.parametrize("name", NAMES)
async def test_execute_returns_and_records_the_forced_tool_call(e2e: Harness, name: str) -> None:
    async with make_router(e2e, name) as router:
        request = tool_request(e2e, toolChoice="required")
        response = await router.execute(request)
    assert response.provider == name
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls is not None
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.name == "get_weather"
    assert isinstance(call.arguments["city"], str)
    stored = await e2e.stored(request["requestId"])
    assert stored.request.state == "completed"
    assert stored.response is not None
    assert stored.response.tool_calls == response.tool_calls
    row = e2e.rows(
        "SELECT tool_calls FROM provider_responses WHERE request_id = ?", (request["requestId"],)
    )[0]
    assert json.loads(row["tool_calls"]) == [call.model_dump(mode="json")]


@pytest.mark.parametrize("name", NAMES)
async def test_stream_yields_each_tool_call_as_its_own_chunk(e2e: Harness, name: str) -> None:
    async with make_router(e2e, name) as router:
        request = tool_request(e2e, toolChoice="required")
        stream = router.stream(request)
        chunks: list[StreamChunk] = [chunk async for chunk in stream]
    calls = [c for c in chunks if c.tool_call is not None]
    assert len(calls) == 1
    assert calls[0].chunk == ""
    assert calls[0].tool_call is not None
    assert calls[0].tool_call.name == "get_weather"
    assert [c.index for c in chunks] == list(range(len(chunks)))  # its own index, in order
    assert chunks[-1].done
    assert chunks[-1].tool_call is None
    response = stream.response
    assert response is not None
    assert response.tool_calls == [calls[0].tool_call]
    assert response.finish_reason == "tool_calls"
    stored = await e2e.stored(request["requestId"])
    assert stored.request.state == "completed"
    assert stored.response is not None
    assert stored.response.tool_calls == response.tool_calls


async def test_text_then_tool_call_stream_keeps_the_text_in_order(e2e: Harness) -> None:
    async with make_router(e2e, "openai") as router:
        plain = await router.execute(e2e.request("Say hello", tools=[WEATHER]))
        stream = router.stream(e2e.request("Say hello", tools=[WEATHER]))
        chunks = [chunk async for chunk in stream]
    assert plain.tool_calls == []  # auto and not named: the model only talks
    assert "".join(c.chunk for c in chunks) == plain.content
    assert all(c.tool_call is None for c in chunks)


@pytest.mark.parametrize("name", NAMES)
async def test_response_model_gets_the_reply_parsed_into_it(e2e: Harness, name: str) -> None:
    async with make_router(e2e, name) as router:
        response = await router.execute(e2e.request("A big city?"), response_model=City)
    assert isinstance(response.parsed, City)
    assert City.model_validate_json(response.content) == response.parsed


async def test_reply_not_matching_the_model_raises_and_the_request_is_completed(
    e2e: Harness,
) -> None:
    request = e2e.request(
        "Is it true?",
        responseFormat={"type": "json_schema", "name": "City", "schema": City.model_json_schema()},
    )  # the request's own format wins, so the reply is a City, not a Verdict
    async with make_router(e2e, "openai") as router:
        with pytest.raises(OutputValidationError) as caught:
            await router.execute(request, response_model=Verdict)
    error = caught.value
    assert City.model_validate_json(error.raw)
    assert [e["loc"] for e in error.errors] == [("verdict",)]
    assert "Verdict" in str(error)
    assert "verdict" in str(error)
    stored = await e2e.stored(request["requestId"])
    assert stored.request.state == "completed"
    assert stored.response is not None
    assert stored.response.content == error.raw


@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_cache_tokens_are_priced_at_cache_rates_and_recorded(e2e: Harness, mode: str) -> None:
    # Over 1,024 tokens: below that no service (nor the emulator) caches a prompt.
    system = f"You are terse. Session {uuid.uuid4()}. " + "Context. " * 600
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Hello"},
    ]
    async with make_router(e2e, "claude") as router:
        for _ in range(2):
            request = e2e.request(messages=messages, promptCache=True)
            if mode == "execute":
                response = await router.execute(request)
            else:
                stream = router.stream(request)
                _ = [c async for c in stream]
                assert stream.response is not None
                response = stream.response
    usage = response.tokens
    assert usage.cached_input_tokens, usage  # the second time the prefix is read
    prices = PriceBook()
    rates = prices.rates("claude", response.model)
    assert rates is not None
    assert rates.cache_read is not None
    plain = prices.cost(
        "claude", response.model, usage.model_copy(update={"cached_input_tokens": None})
    )
    assert response.cost == pytest.approx(prices.cost("claude", response.model, usage))
    assert plain is not None
    assert response.cost is not None
    assert response.cost < plain
    stored = await e2e.stored(request["requestId"])
    assert stored.response is not None
    assert stored.response.tokens.cached_input_tokens == usage.cached_input_tokens
    assert stored.response.cost == pytest.approx(response.cost)


async def test_reasoning_tokens_are_recorded(e2e: Harness) -> None:
    async with make_router(e2e, "openai") as router:
        request = e2e.request("Think", reasoning={"effort": "high"})
        response = await router.execute(request)
    assert response.tokens.reasoning_tokens
    assert response.tokens.reasoning_tokens <= response.tokens.output_tokens
    stored = await e2e.stored(request["requestId"])
    assert stored.response is not None
    assert stored.response.tokens.reasoning_tokens == response.tokens.reasoning_tokens


@pytest.mark.parametrize("name", NAMES)
async def test_stored_messages_hold_no_image_bytes(e2e: Harness, name: str) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image", "data": PNG, "mediaType": "image/png"},
    ]
    request = e2e.request(messages=[{"role": "user", "content": content}])
    async with make_router(e2e, name) as router:
        response = await router.execute(request)
    assert response.tokens.input_tokens > 0
    stored = e2e.request_row(request["requestId"])["messages"]
    assert PNG not in stored
    assert PNG[:24] not in stored
    image = json.loads(stored)[0]["content"][1]
    assert image["type"] == "image"
    assert image["bytes"] == len(base64.b64decode(PNG))
    assert len(image["sha256"]) == 64


def claude_history() -> list[dict[str, Any]]:
    """A conversation Claude started: its tool call (a ``toolu_`` id) and the tool's result."""
    return [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "toolCalls": [
                {"id": CLAUDE_CALL_ID, "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {"role": "tool", "toolCallId": CLAUDE_CALL_ID, "content": "18C and sunny"},
    ]


@pytest.mark.parametrize(
    ("failing", "answering"), [(("claude",), "gemini"), (("claude", "gemini"), "openai")]
)
@pytest.mark.parametrize("mode", ["execute", "stream"])
async def test_tool_conversation_continues_on_the_fallback_provider(
    e2e: Harness, failing: tuple[str, ...], answering: str, mode: str
) -> None:
    for name in failing:
        e2e.scenario.add(Rule(provider=name, status=500))
    request = e2e.request(messages=claude_history(), tools=[WEATHER])
    async with make_router(e2e, "claude", ("gemini", "openai")) as router:
        if mode == "execute":
            response = await router.execute(request)
        else:
            stream = router.stream(request)
            _ = [c async for c in stream]
            assert stream.response is not None
            response = stream.response
    assert response.provider == answering
    assert "18C and sunny" in response.content  # the tool result reached the model
    assert response.tool_calls == []
    stored = await e2e.stored(request["requestId"])
    assert [a.provider for a in stored.attempts] == [*failing, answering]
    assert [a.outcome for a in stored.attempts] == ["failure"] * len(failing) + ["success"]
    assert stored.request.state == "completed"
