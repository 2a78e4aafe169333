"""The openai adapter against hand-made Chat Completions wire responses (MockTransport)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import (
    AuthenticationError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from automatosx.providers import Provider

from .conftest import API_KEY, Handler, Wire, collect, json_response, make_request, sse_response

Make = Callable[..., tuple[Provider, Wire]]


def completion(content: str | None = "Paris.", finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }


def chunk(text: str | None = None, finish: Any = None, usage: bool = False) -> str:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": []
        if usage
        else [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    if usage:
        data["usage"] = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    return f"data: {json.dumps(data)}\n\n"


DONE = "data: [DONE]\n\n"


def ok(**kwargs: Any) -> Handler:
    return json_response(200, completion(**kwargs))


async def test_messages_keep_their_roles_and_parameters_are_mapped(wire_provider: Make) -> None:
    provider, wire = wire_provider("openai", ok())
    request = make_request(max_tokens=64, temperature=0.3, top_p=0.8, stop_sequences=["END"])
    request.messages[1].name = "ann"
    await provider.execute(request)
    body = wire.body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there", "name": "ann"},
    ]
    assert body["model"] == "gpt-4o-mini"
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.3, 0.8, ["END"])
    assert wire.requests[-1].url.path == "/v1/chat/completions"
    assert wire.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        # content_filter with no content is a ContentFilterError: test_failover_content_filter
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
    ],
)
async def test_finish_reason_maps(wire_provider: Make, finish_reason: str, expected: str) -> None:
    provider, _ = wire_provider("openai", ok(finish_reason=finish_reason, content=None))
    response = await provider.execute(make_request())
    assert response.finish_reason == expected
    assert response.content == ""


async def test_usage_and_reported_model(wire_provider: Make) -> None:
    provider, _ = wire_provider("openai", ok())
    response = await provider.execute(make_request())
    assert response.content == "Paris."
    assert (response.tokens.input_tokens, response.tokens.output_tokens) == (9, 2)
    assert response.tokens.total_tokens == 11
    assert response.model == "gpt-4o-mini-2024-07-18"


async def test_rate_limit_headers_with_go_durations(wire_provider: Make) -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "6m0s",
    }
    provider, _ = wire_provider("openai", json_response(200, completion(), headers))
    before = time.time() * 1000
    await provider.execute(make_request())
    info = provider.rate_limit
    assert info is not None
    assert (info.limit, info.remaining) == (500, 499)
    assert before + 360_000 - 1000 <= info.reset <= time.time() * 1000 + 360_000 + 1000


async def test_stream_asks_for_usage_and_reads_the_usage_chunk(wire_provider: Make) -> None:
    text = chunk("Pa") + chunk("ris.") + chunk(finish="stop") + chunk(usage=True) + DONE
    provider, wire = wire_provider("openai", sse_response(text))
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Pa", "ris."]
    assert end.finish_reason == "stop"
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.total_tokens) == (9, 2, 11)
    assert wire.body["stream"] is True
    assert wire.body["stream_options"] == {"include_usage": True}


async def test_stream_without_a_usage_chunk_still_ends(wire_provider: Make) -> None:
    provider, _ = wire_provider("openai", sse_response(chunk("Hi") + chunk(finish="length") + DONE))
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Hi"]
    assert end.finish_reason == "length"
    assert end.usage.total_tokens == 0


async def test_stream_cut_before_finish_reason_is_a_connection_error(wire_provider: Make) -> None:
    provider, _ = wire_provider("openai", sse_response(chunk("Hi")))
    with pytest.raises(ProviderConnectionError):
        await collect(provider, make_request())


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"message": "boom", "type": "server_error"}, ServerError),
        ({"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}, RateLimitError),
        ({"message": "bad", "type": "invalid_request_error"}, InvalidRequestError),
        ({"message": "??"}, ServerError),
    ],
)
async def test_error_data_event_after_200_maps_by_type_or_code(
    wire_provider: Make, error: dict[str, Any], cls: type[ProviderError]
) -> None:
    text = chunk("Hi") + f"data: {json.dumps({'error': error})}\n\n"
    provider, _ = wire_provider("openai", sse_response(text))
    received: list[object] = []

    async def consume() -> None:
        async for event in provider.stream(make_request()):
            received.append(event)

    with pytest.raises(cls) as caught:
        await consume()
    assert received == ["Hi"]
    assert type(caught.value) is cls


async def test_insufficient_quota_is_an_authentication_error_not_a_rate_limit(
    wire_provider: Make,
) -> None:
    body = {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    provider, _ = wire_provider("openai", json_response(429, body))
    with pytest.raises(AuthenticationError) as caught:
        await provider.execute(make_request())
    assert caught.value.status_code == 429
    assert not caught.value.retryable


async def test_api_key_echoed_by_the_server_is_redacted(wire_provider: Make) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {API_KEY}.", "type": "x"}}
    provider, _ = wire_provider("openai", json_response(401, body))
    with pytest.raises(AuthenticationError) as caught:
        await provider.execute(make_request())
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b"[1, 2]", b'{"unexpected": true}'],
    ids=["not-json", "not-an-object", "wrong-shape"],
)
async def test_malformed_200_reply_is_a_server_error(wire_provider: Make, body: bytes) -> None:
    headers = {"content-type": "application/json"}
    provider, _ = wire_provider(
        "openai", lambda request: httpx2.Response(200, content=body, headers=headers)
    )
    with pytest.raises(ServerError, match="malformed"):
        await provider.execute(make_request())


def _completion_with(**changes: Any) -> dict[str, Any]:
    body = completion()
    usage = body["usage"]
    for key, value in changes.items():
        if key in usage:
            usage[key] = value
        elif key == "content":
            body["choices"][0]["message"]["content"] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        _completion_with(prompt_tokens=-1),
        _completion_with(completion_tokens=-2),
        _completion_with(total_tokens=-11),
        _completion_with(prompt_tokens=2**64),
        _completion_with(prompt_tokens="nine"),
        _completion_with(content=5),
        _completion_with(content=["Paris."]),
        _completion_with(model=5),
        _completion_with(usage="lots"),
        _completion_with(choices=["x"]),
    ],
    ids=[
        "negative-prompt-tokens",
        "negative-completion-tokens",
        "negative-total",
        "count-beyond-int64",
        "non-numeric-count",
        "non-str-content",
        "list-content",
        "non-str-model",
        "usage-not-an-object",
        "choice-not-an-object",
    ],
)
async def test_execute_with_wrongly_typed_fields_is_malformed(
    wire_provider: Make, body: dict[str, Any]
) -> None:
    provider, _ = wire_provider("openai", json_response(200, body))
    with pytest.raises(ServerError, match="malformed"):
        await provider.execute(make_request())


async def test_execute_with_null_counts_reports_zero(wire_provider: Make) -> None:
    body = _completion_with(prompt_tokens=None, completion_tokens=None, total_tokens=None)
    provider, _ = wire_provider("openai", json_response(200, body))
    tokens = (await provider.execute(make_request())).tokens
    assert (tokens.input_tokens, tokens.output_tokens, tokens.total_tokens) == (0, 0, 0)


def _data(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _usage_chunk(**usage: Any) -> str:
    data = json.loads(chunk(usage=True).removeprefix("data: "))
    data["usage"].update(usage)
    return _data(data)


def _chunk_with(**fields: Any) -> str:
    data = json.loads(chunk("Hi").removeprefix("data: "))
    data.update(fields)
    return _data(data)


FINISH = chunk(finish="stop")


@pytest.mark.parametrize(
    "text",
    [
        FINISH + _usage_chunk(prompt_tokens=-1) + DONE,
        FINISH + _usage_chunk(completion_tokens="two") + DONE,
        FINISH + _usage_chunk(total_tokens=2**64) + DONE,
        FINISH + _data({**json.loads(chunk(usage=True).removeprefix("data: ")), "usage": 1}) + DONE,
        _chunk_with(choices=[{"index": 0, "delta": {"content": 5}}]) + FINISH + DONE,
        _chunk_with(choices=["x"]) + FINISH + DONE,
        _chunk_with(choices=[{"index": 0, "delta": "x", "finish_reason": None}]) + FINISH + DONE,
        _data({**json.loads(FINISH.removeprefix("data: ")), "model": 5}) + DONE,
        chunk(finish=["stop"]) + DONE,
    ],
    ids=[
        "negative-prompt-tokens",
        "non-numeric-count",
        "count-beyond-int64",
        "usage-not-an-object",
        "non-str-content",
        "choice-not-an-object",
        "delta-not-an-object",
        "non-str-model",
        "unhashable-finish-reason",
    ],
)
async def test_stream_with_wrongly_shaped_chunks_is_malformed(
    wire_provider: Make, text: str
) -> None:
    provider, _ = wire_provider("openai", sse_response(text))
    with pytest.raises(ServerError, match="malformed"):
        await collect(provider, make_request())


async def test_stream_usage_with_null_counts_reports_zero(wire_provider: Make) -> None:
    usage = _usage_chunk(prompt_tokens=None, completion_tokens=3, total_tokens=None)
    provider, _ = wire_provider("openai", sse_response(chunk("Hi") + FINISH + usage + DONE))
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Hi"]
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.total_tokens) == (0, 3, 3)
