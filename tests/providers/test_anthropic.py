"""The claude adapter against hand-made Anthropic wire responses (httpx2.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import (
    InvalidRequestError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from automatosx.providers import Provider
from automatosx.providers.anthropic import DEFAULT_MAX_TOKENS

from .conftest import API_KEY, Handler, Wire, collect, json_response, make_request, sse_response

Make = Callable[..., tuple[Provider, Wire]]


def message(
    text: str = "Paris.", stop_reason: str | None = "end_turn", **usage: int
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6-20260101",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3, **usage},
    }


def sse(*events: tuple[str, dict[str, Any]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


START = (
    "message_start",
    {"type": "message_start", "message": {**message(), "content": [], "stop_reason": None}},
)


def delta(text: Any) -> tuple[str, dict[str, Any]]:
    return (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
    )


END = (
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)


def ok(**kwargs: Any) -> Handler:
    return json_response(200, message(**kwargs))


async def test_system_messages_go_to_top_level_system(wire_provider: Make) -> None:
    provider, wire = wire_provider("claude", ok())
    request = make_request(system="Be brief.")
    request.messages.insert(1, request.messages[0].model_copy(update={"content": "Be kind."}))
    await provider.execute(request)
    body = wire.body
    assert body["system"] == "Be brief.\n\nBe kind."
    assert body["messages"] == [{"role": "user", "content": "Hello there"}]
    assert wire.requests[-1].url.path == "/v1/messages"
    # anthropic 2.x sends the API key as a bearer token, not as x-api-key
    assert wire.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_without_system_messages_no_system_is_sent(wire_provider: Make) -> None:
    provider, wire = wire_provider("claude", ok())
    await provider.execute(make_request(system=None))
    assert "system" not in wire.body


async def test_max_tokens_defaults_when_the_request_has_none(wire_provider: Make) -> None:
    provider, wire = wire_provider("claude", ok())
    await provider.execute(make_request())
    assert wire.body["max_tokens"] == DEFAULT_MAX_TOKENS
    await provider.execute(make_request(max_tokens=77))
    assert wire.body["max_tokens"] == 77


async def test_sampling_parameters_are_sent_only_when_asked_for(wire_provider: Make) -> None:
    provider, wire = wire_provider("claude", ok())
    await provider.execute(make_request())
    assert "temperature" not in wire.body
    assert "top_p" not in wire.body
    await provider.execute(make_request(temperature=0.2, top_p=0.9, stop_sequences=["END"]))
    assert wire.body["temperature"] == 0.2
    assert wire.body["top_p"] == 0.9
    assert wire.body["stop_sequences"] == ["END"]
    await provider.execute(make_request(temperature=1.7))
    assert wire.body["temperature"] == 1.0  # Anthropic's maximum


async def test_request_model_wins_over_default(wire_provider: Make) -> None:
    provider, wire = wire_provider("claude", ok())
    await provider.execute(make_request())
    assert wire.body["model"] == "claude-sonnet-4-6"
    await provider.execute(make_request(model="claude-haiku-4-5"))
    assert wire.body["model"] == "claude-haiku-4-5"


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", None),
    ],
)
async def test_stop_reason_maps_to_finish_reason(
    wire_provider: Make, stop_reason: str, expected: str | None
) -> None:
    provider, _ = wire_provider("claude", ok(stop_reason=stop_reason))
    response = await provider.execute(make_request())
    assert response.finish_reason == expected


async def test_usage_counts_cache_reads_and_writes_as_input(wire_provider: Make) -> None:
    handler = ok(cache_creation_input_tokens=100, cache_read_input_tokens=1000)
    provider, _ = wire_provider("claude", handler)
    response = await provider.execute(make_request())
    assert response.tokens.input_tokens == 12 + 100 + 1000
    assert response.tokens.output_tokens == 3
    assert response.tokens.total_tokens == 1115
    assert response.model == "claude-sonnet-4-6-20260101"


async def test_rate_limit_headers_are_read_on_every_response(wire_provider: Make) -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "4",
        "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:30Z",
    }
    ping_headers = {**headers, "anthropic-ratelimit-requests-remaining": "40"}
    model = {"type": "model", "id": "claude-sonnet-4-6", "display_name": "Claude Sonnet 4.6"}

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and request.url.path.startswith("/v1/models/"):
            return httpx2.Response(200, json=model, headers=ping_headers)
        return httpx2.Response(200, json=message(), headers=headers)

    provider, wire = wire_provider("claude", handler)
    await provider.execute(make_request())
    info = provider.rate_limit
    assert info is not None
    assert (info.limit, info.remaining, info.reset) == (50, 4, 1_893_456_030_000)
    health = await provider.check_health()  # models.retrieve answers: 40 of 50 left
    assert wire.requests[-1].url.path == "/v1/models/claude-sonnet-4-6"
    assert health.rate_limit_remaining == 40
    assert health.status == "healthy"  # it was 4 of 50 (degraded) before the ping


async def test_a_429_updates_the_budget_and_carries_retry_after(wire_provider: Make) -> None:
    headers = {
        "retry-after": "12",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:30Z",
    }
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    provider, _ = wire_provider("claude", json_response(429, body, headers))
    with pytest.raises(RateLimitError) as caught:
        await provider.execute(make_request())
    assert caught.value.retry_after == 12.0
    info = provider.rate_limit
    assert info is not None
    assert info.remaining == 0
    assert info.retry_after == 12


async def test_stream_reads_text_deltas_usage_and_stop_reason(wire_provider: Make) -> None:
    provider, wire = wire_provider(
        "claude", sse_response(sse(START, delta("Pa"), delta("ris."), *END))
    )
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Pa", "ris."]
    assert end.finish_reason == "stop"
    assert (end.usage.input_tokens, end.usage.output_tokens) == (12, 2)
    assert end.model == "claude-sonnet-4-6-20260101"
    assert wire.body["stream"] is True


@pytest.mark.parametrize(
    ("error_type", "cls"),
    [
        ("overloaded_error", OverloadedError),
        ("api_error", ServerError),
        ("rate_limit_error", RateLimitError),
        ("invalid_request_error", InvalidRequestError),
        ("something_new", ServerError),
    ],
)
async def test_error_event_after_200_maps_by_error_type(
    wire_provider: Make, error_type: str, cls: type[ProviderError]
) -> None:
    error = ("error", {"type": "error", "error": {"type": error_type, "message": "boom"}})
    provider, _ = wire_provider("claude", sse_response(sse(START, delta("Pa"), error)))
    received: list[object] = []

    async def consume() -> None:
        async for event in provider.stream(make_request()):
            received.append(event)

    with pytest.raises(cls) as caught:
        await consume()
    assert received == ["Pa"]
    assert type(caught.value) is cls
    assert caught.value.status_code is None


async def test_stream_that_ends_before_message_stop_is_a_connection_error(
    wire_provider: Make,
) -> None:
    provider, _ = wire_provider("claude", sse_response(sse(START, delta("Pa"))))
    with pytest.raises(ProviderConnectionError):
        await collect(provider, make_request())


async def test_api_key_echoed_by_the_server_is_redacted(wire_provider: Make) -> None:
    body = {"type": "error", "error": {"type": "authentication_error", "message": f"bad {API_KEY}"}}
    provider, _ = wire_provider("claude", json_response(401, body))
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_request())
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)
    assert "[REDACTED]" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b"[1, 2]", b'{"unexpected": true}'],
    ids=["not-json", "not-an-object", "wrong-shape"],
)
async def test_malformed_200_reply_is_a_server_error(wire_provider: Make, body: bytes) -> None:
    headers = {"content-type": "application/json"}
    provider, _ = wire_provider(
        "claude", lambda request: httpx2.Response(200, content=body, headers=headers)
    )
    with pytest.raises(ServerError, match="malformed"):
        await provider.execute(make_request())


def _bad_message(**changes: Any) -> dict[str, Any]:
    body = message()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[leaf] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        _bad_message(usage__output_tokens=None),
        _bad_message(usage__input_tokens=-1),
        _bad_message(usage__cache_read_input_tokens=-5),
        _bad_message(usage__output_tokens="many"),
        _bad_message(content__0__text=5),
        _bad_message(model=5),
        _bad_message(content="Paris."),
        _bad_message(stop_reason=["end_turn"]),
    ],
    ids=[
        "null-output-tokens",
        "negative-input-tokens",
        "negative-cache-reads",
        "non-numeric-count",
        "non-str-text",
        "non-str-model",
        "content-not-a-list",
        "unhashable-stop-reason",
    ],
)
async def test_execute_with_wrongly_typed_fields_is_malformed(
    wire_provider: Make, body: dict[str, Any]
) -> None:
    provider, _ = wire_provider("claude", json_response(200, body))
    with pytest.raises(ServerError, match="malformed"):
        await provider.execute(make_request())


def _start(**message_fields: Any) -> tuple[str, dict[str, Any]]:
    return ("message_start", {"type": "message_start", "message": message_fields})


def _message_delta(usage: Any, stop_reason: Any = "end_turn") -> tuple[str, dict[str, Any]]:
    event = {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": usage}
    return ("message_delta", event)


STOP = ("message_stop", {"type": "message_stop"})


@pytest.mark.parametrize(
    "events",
    [
        (START, _message_delta({"output_tokens": -1}), STOP),
        (START, _message_delta({"output_tokens": "two"}), STOP),
        (START, _message_delta("usage"), STOP),
        (START, _message_delta({"output_tokens": 2}, stop_reason={"x": 1}), STOP),
        (("message_start", {"type": "message_start", "message": None}), *END),
        (_start(model=5, usage={"input_tokens": 1, "output_tokens": 1}), *END),
        (_start(model="m", usage={"input_tokens": -5, "output_tokens": 1}), *END),
        (START, ("content_block_delta", {"type": "content_block_delta", "delta": "x"}), *END),
        (START, delta(5), *END),
    ],
    ids=[
        "negative-output-tokens",
        "non-numeric-count",
        "usage-not-an-object",
        "unhashable-stop-reason",
        "null-message",
        "non-str-model",
        "negative-input-tokens",
        "delta-not-an-object",
        "non-str-text",
    ],
)
async def test_stream_with_wrongly_shaped_events_is_malformed(
    wire_provider: Make, events: tuple[tuple[str, dict[str, Any]], ...]
) -> None:
    provider, _ = wire_provider("claude", sse_response(sse(*events)))
    with pytest.raises(ServerError, match="malformed"):
        await collect(provider, make_request())


async def test_message_delta_without_output_tokens_keeps_the_start_count(
    wire_provider: Make,
) -> None:
    start = _start(model="claude-x", usage={"input_tokens": 7, "output_tokens": 1})
    provider, _ = wire_provider(
        "claude", sse_response(sse(start, delta("Hi"), _message_delta({}), STOP))
    )
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Hi"]
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.total_tokens) == (7, 1, 8)
    assert end.finish_reason == "stop"
