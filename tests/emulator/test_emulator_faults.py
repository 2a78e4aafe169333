"""Scripted faults surface through each SDK as its own exception, with the right headers."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google.genai import errors as genai_errors

from automatosx.emulator import DroppedConnection, Rule, Scenario

from .conftest import Emulated, user

CLAUDE = "claude-sonnet-4-6"

# What a dropped connection looks like to a caller: the SDK's connection error, or (for the
# SDKs that do not wrap errors raised while reading a body) the transport's own error.
CONNECTION_ERRORS = (
    anthropic.APIConnectionError,
    openai.APIConnectionError,
    httpx2.TransportError,
    ConnectionError,
)


async def ask_claude(emu: Emulated, **kwargs: Any) -> anthropic.types.Message:
    return await emu.claude.messages.create(
        model=kwargs.pop("model", CLAUDE), max_tokens=100, messages=user("hello"), **kwargs
    )


async def ask_gpt(emu: Emulated, **kwargs: Any) -> Any:
    return await emu.gpt.chat.completions.create(
        model=kwargs.pop("model", "gpt-4o"), messages=user("hello"), **kwargs
    )


async def drain(stream: Any, into: list[Any]) -> None:
    """Iterate `stream` to its end (or its error), keeping every item in `into`."""
    async for item in stream:
        into.append(item)


async def ask_gemini(emu: Emulated, model: str = "gemini-2.5-flash") -> Any:
    return await emu.gemini.models.generate_content(model=model, contents="hello")


# -- status faults ----------------------------------------------------------------------------


async def test_claude_429_carries_retry_after_and_retry_after_ms(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="claude", status=429, retry_after=2, retry_after_ms=1500))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await ask_claude(emu)
    error = caught.value
    assert error.status_code == 429
    assert error.type == "rate_limit_error"
    assert error.response.headers["retry-after"] == "2"
    assert error.response.headers["retry-after-ms"] == "1500"
    assert error.request_id is not None
    assert error.request_id.startswith("req_")


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (529, anthropic.OverloadedError, "overloaded_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (503, anthropic.ServiceUnavailableError, "api_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
    ],
)
async def test_claude_status_faults_raise_the_sdk_class(
    emu: Emulated, status: int, exception: type[anthropic.APIStatusError], error_type: str
) -> None:
    emu.scenario.add(Rule(provider="claude", status=status))
    with pytest.raises(exception) as caught:
        await ask_claude(emu)
    assert caught.value.status_code == status
    assert caught.value.type == error_type
    assert caught.value.body == {  # type: ignore[comparison-overlap]
        "type": "error",
        "error": {"type": error_type, "message": caught.value.api_message},
        "request_id": caught.value.body["request_id"],  # type: ignore[index]
    }


async def test_openai_429_rate_limit_exceeded_carries_retry_headers(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="openai", status=429, retry_after=1, retry_after_ms=250))
    with pytest.raises(openai.RateLimitError) as caught:
        await ask_gpt(emu)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.headers["retry-after-ms"] == "250"
    assert caught.value.request_id


async def test_openai_429_insufficient_quota(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="openai", status=429, error="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as caught:
        await ask_gpt(emu)
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert "quota" in caught.value.message


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
    ],
)
async def test_openai_status_faults_raise_the_sdk_class(
    emu: Emulated, status: int, exception: type[openai.APIStatusError]
) -> None:
    emu.scenario.add(Rule(provider="openai", status=status))
    with pytest.raises(exception) as caught:
        await ask_gpt(emu)
    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]


async def test_gemini_429_is_resource_exhausted_with_retry_info_and_quota_failure(
    emu: Emulated,
) -> None:
    emu.scenario.add(Rule(provider="gemini", status=429, retry_after=2))
    with pytest.raises(genai_errors.ClientError) as caught:
        await ask_gemini(emu)
    error = caught.value
    assert error.code == 429
    assert error.status == "RESOURCE_EXHAUSTED"
    details = {d["@type"].rpartition(".")[2]: d for d in error.details["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "2s"
    assert details["QuotaFailure"]["violations"]


@pytest.mark.parametrize(
    ("status", "exception", "status_name"),
    [
        (500, genai_errors.ServerError, "INTERNAL"),
        (503, genai_errors.ServerError, "UNAVAILABLE"),
        (400, genai_errors.ClientError, "INVALID_ARGUMENT"),
        (401, genai_errors.ClientError, "UNAUTHENTICATED"),
        (404, genai_errors.ClientError, "NOT_FOUND"),
    ],
)
async def test_gemini_status_faults_raise_the_sdk_class(
    emu: Emulated, status: int, exception: type[genai_errors.APIError], status_name: str
) -> None:
    emu.scenario.add(Rule(provider="gemini", status=status))
    with pytest.raises(exception) as caught:
        await ask_gemini(emu)
    assert caught.value.code == status
    assert caught.value.status == status_name


async def test_fault_message_and_extra_headers_are_served(emu: Emulated) -> None:
    emu.scenario.add(
        Rule(provider="claude", status=503, message="down for tea", headers={"x-why": "tea"})
    )
    with pytest.raises(anthropic.ServiceUnavailableError) as caught:
        await ask_claude(emu)
    assert caught.value.api_message == "down for tea"
    assert caught.value.response.headers["x-why"] == "tea"


# -- errors in the middle of a stream ---------------------------------------------------------


async def test_claude_midstream_error_event_raises_from_the_iterator(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="claude", stream_error_after=2))
    stream = await ask_claude(emu, stream=True)
    events: list[Any] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await drain(stream, events)
    assert [e.type for e in events].count("content_block_delta") == 2
    assert caught.value.type == "overloaded_error"


async def test_openai_midstream_error_data_event_raises_api_error(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="openai", stream_error_after=1))
    stream = await ask_gpt(emu, stream=True)
    chunks: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        await drain(stream, chunks)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 1
    assert caught.value.type == "server_error"


async def test_gemini_midstream_error_json_raises_server_error(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="gemini", stream_error_after=2))
    stream = await emu.gemini.models.generate_content_stream(
        model="gemini-2.5-flash", contents="hello"
    )
    chunks: list[Any] = []
    with pytest.raises(genai_errors.ServerError) as caught:
        await drain(stream, chunks)
    assert len(chunks) == 2
    assert caught.value.code == 503
    assert caught.value.status == "UNAVAILABLE"


async def test_midstream_rule_on_a_plain_request_is_a_status_error(emu: Emulated) -> None:
    emu.scenario.add(Rule(stream_error_after=1))
    with pytest.raises(anthropic.OverloadedError):
        await ask_claude(emu)
    with pytest.raises(openai.InternalServerError):
        await ask_gpt(emu)
    with pytest.raises(genai_errors.ServerError):
        await ask_gemini(emu)


# -- dropped connections ----------------------------------------------------------------------


async def test_dropped_connection_on_plain_requests_is_a_connection_error(emu: Emulated) -> None:
    emu.scenario.add(Rule(drop_after=0))
    with pytest.raises(anthropic.APIConnectionError):
        await ask_claude(emu)
    with pytest.raises(openai.APIConnectionError):
        await ask_gpt(emu)
    with pytest.raises(CONNECTION_ERRORS):
        await ask_gemini(emu)


async def test_dropped_stream_raises_a_connection_error_after_some_chunks(
    loopback: Emulated,
) -> None:
    loopback.scenario.add(Rule(drop_after=2))
    events: list[Any] = []
    stream = await ask_claude(loopback, stream=True)
    with pytest.raises(CONNECTION_ERRORS):
        await drain(stream, events)
    assert [e.type for e in events].count("content_block_delta") == 2

    gpt_stream = await ask_gpt(loopback, stream=True)
    with pytest.raises(openai.APIConnectionError):
        await drain(gpt_stream, [])

    gemini_stream = await loopback.gemini.models.generate_content_stream(
        model="gemini-2.5-flash", contents="hello"
    )
    chunks: list[Any] = []
    with pytest.raises(CONNECTION_ERRORS):
        await drain(gemini_stream, chunks)
    assert len(chunks) == 2


async def test_dropped_connection_in_process_raises_dropped_connection(
    in_process: Emulated,
) -> None:
    in_process.scenario.add(Rule(provider="claude", drop_after=1))
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await ask_claude(in_process, stream=True)
    assert isinstance(caught.value.__cause__, DroppedConnection)


# -- latency ----------------------------------------------------------------------------------


async def test_latency_delays_the_first_byte(emu: Emulated) -> None:
    emu.scenario.add(Rule(latency=0.3))
    for call in (ask_claude, ask_gpt, ask_gemini):
        started = time.perf_counter()
        await call(emu)
        assert time.perf_counter() - started >= 0.3


async def test_chunk_latency_spaces_the_stream(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="openai", chunk_latency=0.05))
    started = time.perf_counter()
    stream = await ask_gpt(emu, stream=True)
    chunks = [chunk async for chunk in stream]
    content_chunks = sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    assert content_chunks >= 3
    assert time.perf_counter() - started >= 0.05 * (content_chunks - 1)


async def test_latency_applies_to_scripted_errors_too(emu: Emulated) -> None:
    emu.scenario.add(Rule(provider="claude", latency=0.2, status=529))
    started = time.perf_counter()
    with pytest.raises(anthropic.OverloadedError):
        await ask_claude(emu)
    assert time.perf_counter() - started >= 0.2


# -- validation like the real services --------------------------------------------------------


async def test_missing_api_keys_get_each_services_auth_error(emu: Emulated) -> None:
    claude = await emu.http.post(
        "/v1/messages",
        json={"model": CLAUDE, "max_tokens": 5, "messages": user("hi")},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert claude.status_code == 401
    assert claude.json()["error"]["type"] == "authentication_error"
    gpt = await emu.http.post("/v1/chat/completions", json={"model": "gpt-4o"})
    assert gpt.status_code == 401
    assert gpt.json()["error"]["type"] == "invalid_request_error"
    assert "API key" in gpt.json()["error"]["message"]
    gemini = await emu.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", json={"contents": "hi"}
    )
    assert gemini.status_code == 403
    assert gemini.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_gemini_key_may_come_as_a_query_parameter(emu: Emulated) -> None:
    response = await emu.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent?key=abc",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert response.status_code == 200
    assert response.json()["candidates"][0]["finishReason"] == "STOP"


async def test_claude_body_without_max_tokens_is_rejected_like_the_api(emu: Emulated) -> None:
    response = await emu.http.post(
        "/v1/messages",
        json={"model": CLAUDE, "messages": user("hi")},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


async def test_empty_messages_are_bad_requests_for_each_sdk(emu: Emulated) -> None:
    with pytest.raises(anthropic.BadRequestError):
        await emu.claude.messages.create(model=CLAUDE, max_tokens=5, messages=[])
    with pytest.raises(openai.BadRequestError) as caught:
        await emu.gpt.chat.completions.create(model="gpt-4o", messages=[])
    assert caught.value.param == "messages"
    # google-genai refuses empty contents itself, so ask over raw HTTP.
    gemini = await emu.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": []},
        headers={"x-goog-api-key": "k"},
    )
    assert gemini.status_code == 400
    assert gemini.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_unknown_models_are_not_found(emu: Emulated) -> None:
    with pytest.raises(anthropic.NotFoundError) as claude_error:
        await ask_claude(emu, model="llama-3")
    assert claude_error.value.api_message == "model: llama-3"
    with pytest.raises(openai.NotFoundError) as gpt_error:
        await ask_gpt(emu, model="llama-3")
    assert gpt_error.value.code == "model_not_found"
    with pytest.raises(genai_errors.ClientError) as gemini_error:
        await ask_gemini(emu, model="llama-3")
    assert gemini_error.value.code == 404
    assert gemini_error.value.status == "NOT_FOUND"


async def test_known_models_and_api_keys_are_configurable(emu: Emulated) -> None:
    emu.scenario = Scenario(models=["gpt-4o"], api_keys=["another-key"])
    with pytest.raises(openai.AuthenticationError) as caught:
        await ask_gpt(emu)
    assert caught.value.code == "invalid_api_key"
    emu.scenario.api_keys = None
    await ask_gpt(emu)
    with pytest.raises(openai.NotFoundError):
        await ask_gpt(emu, model="gpt-4o-mini")


def test_dropped_connection_without_httpx2_is_a_connection_reset() -> None:
    # httpx2 comes with every supported SDK, but the emulator must import without it.
    code = (
        "import sys\n"
        "sys.modules['httpx2'] = None\n"
        "from automatosx.emulator._responses import DroppedConnection\n"
        "assert issubclass(DroppedConnection, ConnectionResetError), DroppedConnection.__mro__\n"
        "assert not any(c.__module__.startswith('httpx2') for c in DroppedConnection.__mro__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
