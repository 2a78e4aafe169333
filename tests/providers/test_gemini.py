"""The gemini adapter against hand-made Gemini API wire responses (httpx2.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import (
    AuthenticationError,
    ContentFilterError,
    InvalidRequestError,
    ProviderConnectionError,
    RateLimitError,
    ServerError,
)
from automatosx.providers import Provider

from .conftest import API_KEY, Handler, Wire, collect, json_response, make_request, sse_response

Make = Callable[..., tuple[Provider, Wire]]

USAGE = {
    "promptTokenCount": 9,
    "candidatesTokenCount": 4,
    "thoughtsTokenCount": 30,
    "totalTokenCount": 43,
}


def generated(
    parts: list[dict[str, Any]] | None = None, finish: str | None = "STOP", **extra: Any
) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts or [{"text": "Paris."}]},
        "index": 0,
    }
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        **extra,
    }


def ok(**kwargs: Any) -> Handler:
    return json_response(200, generated(**kwargs))


def events(*payloads: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(p)}\r\n\r\n" for p in payloads)


def error_body(code: int, status: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": "no", "status": status, "details": list(details)}}


async def test_system_goes_to_system_instruction_and_assistant_is_model(
    wire_provider: Make,
) -> None:
    provider, wire = wire_provider("gemini", ok())
    request = make_request(max_tokens=64, temperature=0.3, top_p=0.8, stop_sequences=["END"])
    request.messages.append(request.messages[1].model_copy(update={"role": "assistant"}))
    await provider.execute(request)
    body = wire.body
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model"]
    assert body["contents"][0]["parts"] == [{"text": "Hello there"}]
    config = body["generationConfig"]
    assert config["maxOutputTokens"] == 64
    assert (config["temperature"], config["topP"], config["stopSequences"]) == (0.3, 0.8, ["END"])
    url = wire.requests[-1].url
    assert url.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert wire.requests[-1].headers["x-goog-api-key"] == API_KEY


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", None),
    ],
)
async def test_finish_reason_maps(wire_provider: Make, finish: str, expected: str | None) -> None:
    provider, _ = wire_provider("gemini", ok(finish=finish))
    assert (await provider.execute(make_request())).finish_reason == expected


async def test_function_call_reply_still_says_stop(wire_provider: Make) -> None:
    parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    provider, _ = wire_provider("gemini", ok(parts=parts))
    response = await provider.execute(make_request())
    assert response.finish_reason == "stop"
    assert response.content == ""


async def test_blocked_prompt_is_a_content_filter_error(wire_provider: Make) -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    provider, _ = wire_provider("gemini", json_response(200, body))
    with pytest.raises(ContentFilterError) as caught:
        await provider.execute(make_request())
    assert caught.value.reason == "SAFETY"


async def test_thoughts_are_not_content_but_are_output_tokens(wire_provider: Make) -> None:
    parts = [{"text": "thinking...", "thought": True}, {"text": "Paris."}]
    provider, _ = wire_provider("gemini", ok(parts=parts))
    response = await provider.execute(make_request())
    assert response.content == "Paris."
    assert response.tokens.input_tokens == 9
    assert response.tokens.output_tokens == 34
    assert response.tokens.total_tokens == 43


async def test_stream_takes_the_last_cumulative_usage(wire_provider: Make) -> None:
    first = generated(parts=[{"text": "Pa"}], finish=None)
    first["usageMetadata"] = {"promptTokenCount": 9, "candidatesTokenCount": 1}
    last = generated(parts=[{"text": "ris."}])
    provider, wire = wire_provider("gemini", sse_response(events(first, last)))
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Pa", "ris."]
    assert end.finish_reason == "stop"
    assert (end.usage.input_tokens, end.usage.output_tokens, end.usage.total_tokens) == (9, 34, 43)
    assert wire.requests[-1].url.path.endswith(":streamGenerateContent")
    assert wire.requests[-1].url.params["alt"] == "sse"


async def test_stream_without_a_finish_reason_is_a_connection_error(wire_provider: Make) -> None:
    partial = generated(parts=[{"text": "Pa"}], finish=None)
    provider, _ = wire_provider("gemini", sse_response(events(partial)))
    with pytest.raises(ProviderConnectionError):
        await collect(provider, make_request())


async def test_error_chunk_after_200_is_mapped(wire_provider: Make) -> None:
    partial = generated(parts=[{"text": "Pa"}], finish=None)
    text = events(partial, error_body(429, "RESOURCE_EXHAUSTED"))
    provider, _ = wire_provider("gemini", sse_response(text))
    received: list[object] = []

    async def consume() -> None:
        async for event in provider.stream(make_request()):
            received.append(event)

    with pytest.raises(RateLimitError):
        await consume()
    assert received == ["Pa"]


@pytest.mark.parametrize(("delay", "seconds"), [("37s", 37.0), ("1.5s", 1.5), ("0.250s", 0.25)])
async def test_retry_info_in_the_error_details_sets_retry_after(
    wire_provider: Make, delay: str, seconds: float
) -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    body = error_body(429, "RESOURCE_EXHAUSTED", {"@type": "x.QuotaFailure"}, retry_info)
    provider, _ = wire_provider("gemini", json_response(429, body))
    with pytest.raises(RateLimitError) as caught:
        await provider.execute(make_request())
    assert caught.value.retry_after == seconds


async def test_invalid_api_key_400_is_an_authentication_error(wire_provider: Make) -> None:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    body = error_body(400, "INVALID_ARGUMENT", info)
    body["error"]["message"] = f"API key not valid: {API_KEY}"
    provider, _ = wire_provider("gemini", json_response(400, body))
    with pytest.raises(AuthenticationError) as caught:
        await provider.execute(make_request())
    assert caught.value.status_code == 400
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)


async def test_other_400_is_an_invalid_request(wire_provider: Make) -> None:
    provider, _ = wire_provider("gemini", json_response(400, error_body(400, "INVALID_ARGUMENT")))
    with pytest.raises(InvalidRequestError):
        await provider.execute(make_request())


async def test_non_json_error_body_is_still_classified(wire_provider: Make) -> None:
    provider, _ = wire_provider(
        "gemini", lambda request: httpx2.Response(502, text="<html>bad gateway")
    )
    with pytest.raises(ServerError) as caught:
        await provider.execute(make_request())
    assert caught.value.status_code == 502


@pytest.mark.parametrize(
    "body",
    [
        generated(usageMetadata={**USAGE, "promptTokenCount": "x"}),
        generated(usageMetadata={**USAGE, "promptTokenCount": -9}),
        generated(usageMetadata={**USAGE, "totalTokenCount": -1}),
        generated(usageMetadata={**USAGE, "thoughtsTokenCount": 2**64}),
        generated(parts=[{"text": 5}]),
        generated(modelVersion=5),
    ],
    ids=[
        "non-numeric-count",
        "negative-prompt-tokens",
        "negative-total",
        "count-beyond-int64",
        "non-str-text",
        "non-str-model",
    ],
)
async def test_execute_with_wrongly_typed_fields_is_malformed(
    wire_provider: Make, body: dict[str, Any]
) -> None:
    provider, _ = wire_provider("gemini", json_response(200, body))
    with pytest.raises(ServerError, match="malformed"):
        await provider.execute(make_request())


async def test_execute_with_null_counts_reports_zero(wire_provider: Make) -> None:
    usage = dict.fromkeys(USAGE)
    provider, _ = wire_provider("gemini", ok(usageMetadata=usage))
    tokens = (await provider.execute(make_request())).tokens
    assert (tokens.input_tokens, tokens.output_tokens, tokens.total_tokens) == (0, 0, 0)


@pytest.mark.parametrize(
    "last",
    [
        generated(usageMetadata={**USAGE, "candidatesTokenCount": "x"}),
        generated(usageMetadata={**USAGE, "candidatesTokenCount": -4}),
        generated(usageMetadata={**USAGE, "totalTokenCount": 2**64}),
        generated(parts=[{"text": ["x"]}]),
        generated(modelVersion={"v": 2}),
        {**generated(), "candidates": [5]},
    ],
    ids=[
        "non-numeric-count",
        "negative-candidates-tokens",
        "count-beyond-int64",
        "non-str-text",
        "non-str-model",
        "candidate-not-an-object",
    ],
)
async def test_stream_with_wrongly_typed_fields_is_malformed(
    wire_provider: Make, last: dict[str, Any]
) -> None:
    first = generated(parts=[{"text": "Pa"}], finish=None)
    provider, _ = wire_provider("gemini", sse_response(events(first, last)))
    with pytest.raises(ServerError, match="malformed"):
        await collect(provider, make_request())
