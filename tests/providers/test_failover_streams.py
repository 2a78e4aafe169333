"""How a stream fails, through the real SDKs over HTTP against raw fakes (MockTransport):
malformed events are skipped, counted and logged; a stream without its terminating event is a
retryable connection failure; a timeout says whether response bytes had arrived."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import ProviderConnectionError, ProviderTimeoutError, ServerError
from automatosx.providers import Provider

from .conftest import API_KEY, NAMES, Wire, collect, make_request, sse_response

Make = Callable[..., tuple[Provider, Wire]]


def claude_events(*texts: str, stop: bool = True, junk: str | None = None) -> list[str]:
    """An Anthropic stream as a list of raw events; ``junk`` goes after the first delta."""
    start = {
        "type": "message_start",
        "message": {"model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 1}},
    }
    events = [f"event: message_start\ndata: {json.dumps(start)}\n\n"]
    for text in texts:
        delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}}
        events.append(f"event: content_block_delta\ndata: {json.dumps(delta)}\n\n")
        if junk is not None and len(events) == 2:
            events.append(f"event: content_block_delta\ndata: {junk}\n\n")
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}}
    events.append(f"event: message_delta\ndata: {json.dumps(end)}\n\n")
    if stop:
        events.append('event: message_stop\ndata: {"type": "message_stop"}\n\n')
    return events


def openai_events(
    *texts: str, finish: bool = True, usage: bool = True, done: bool = True, junk: str | None = None
) -> list[str]:
    def chunk(choices: list[Any], **extra: Any) -> str:
        body = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-x", "choices": choices}
        return f"data: {json.dumps({**body, **extra})}\n\n"

    events = []
    for text in texts:
        events.append(chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}]))
        if junk is not None and len(events) == 1:
            events.append(f"data: {junk}\n\n")
    if finish:
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    if usage:
        counts = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        events.append(chunk([], usage=counts))
    if done:
        events.append("data: [DONE]\n\n")
    return events


def gemini_events(*texts: str, finish: bool = True) -> list[str]:
    events = []
    for index, text in enumerate(texts):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
        if finish and index == len(texts) - 1:
            candidate["finishReason"] = "STOP"
        body = {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 3}}
        events.append(f"data: {json.dumps(body)}\r\n\r\n")
    return events


def good_events(name: str, *texts: str) -> list[str]:
    return {"claude": claude_events, "openai": openai_events, "gemini": gemini_events}[name](*texts)


# -- malformed events ---------------------------------------------------------------------

JUNK = [
    "<html>proxy hiccup</html>",
    '{"type": "content_block_delta", "delta": ',  # cut JSON
    "[1, 2, 3]",
    '"just a string"',
    "null",
]
STREAM_EVENTS = {"claude": claude_events, "openai": openai_events}


@pytest.mark.parametrize("junk", JUNK, ids=["html", "cut-json", "array", "string", "null"])
@pytest.mark.parametrize("name", ["claude", "openai"])
async def test_a_malformed_event_is_skipped_counted_and_logged(
    wire_provider: Make, name: str, junk: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = "".join(STREAM_EVENTS[name]("Pa", "ris", junk=junk))
    provider, _ = wire_provider(name, sse_response(body))
    with caplog.at_level(logging.WARNING, logger="automatosx"):
        chunks, end = await collect(provider, make_request())
    assert chunks == ["Pa", "ris"]
    assert end.skipped_events == 1
    assert end.finish_reason == "stop"
    warnings = [r for r in caplog.records if r.name == "automatosx" and "skipped" in r.message]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


@pytest.mark.parametrize("name", ["claude", "openai"])
async def test_the_skip_warning_shows_at_most_80_characters_and_never_the_key(
    wire_provider: Make, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    junk = "not json " + API_KEY + " " + "x" * 500 + " TAIL-MARKER"
    body = "".join(STREAM_EVENTS[name]("Hi", junk=junk))
    provider, _ = wire_provider(name, sse_response(body))
    with caplog.at_level(logging.WARNING, logger="automatosx"):
        _, end = await collect(provider, make_request())
    assert end.skipped_events == 1
    logged = caplog.text
    assert API_KEY not in logged
    assert "TAIL-MARKER" not in logged
    assert "not json [REDACTED]" in logged


@pytest.mark.parametrize("name", ["claude", "openai"])
async def test_a_good_stream_skips_nothing_and_logs_nothing(
    wire_provider: Make, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    provider, _ = wire_provider(name, sse_response("".join(good_events(name, "A", "B"))))
    with caplog.at_level(logging.WARNING, logger="automatosx"):
        chunks, end = await collect(provider, make_request())
    assert (chunks, end.skipped_events) == (["A", "B"], 0)
    assert not caplog.records


async def test_an_openai_object_that_is_not_a_chunk_is_skipped(wire_provider: Make) -> None:
    body = "".join(openai_events("Hi", junk='{"keepalive": true}'))
    provider, _ = wire_provider("openai", sse_response(body))
    chunks, end = await collect(provider, make_request())
    assert (chunks, end.skipped_events) == (["Hi"], 1)


async def test_a_known_event_with_broken_fields_still_fails_the_attempt(
    wire_provider: Make,
) -> None:
    # Skipping it would lose text or usage the reply claims to have: malformed, retryable.
    junk = '{"type": "content_block_delta", "delta": "not an object"}'
    provider, _ = wire_provider("claude", sse_response("".join(claude_events("A", junk=junk))))
    with pytest.raises(ServerError, match="malformed"):
        await collect(provider, make_request())


async def test_an_empty_gemini_chunk_is_skipped_and_counted(wire_provider: Make) -> None:
    events = gemini_events("Pa", "ris")
    events.insert(1, "data: {}\r\n\r\n")
    provider, _ = wire_provider("gemini", sse_response("".join(events)))
    chunks, end = await collect(provider, make_request())
    assert (chunks, end.skipped_events) == (["Pa", "ris"], 1)


async def test_a_gemini_chunk_that_is_not_json_fails_the_attempt(wire_provider: Make) -> None:
    # google-genai's generator cannot go on after a chunk it failed to parse.
    events = gemini_events("Pa", "ris")
    events.insert(1, "data: <html>oops</html>\r\n\r\n")
    provider, _ = wire_provider("gemini", sse_response("".join(events)))
    with pytest.raises(ServerError, match="malformed"):
        await collect(provider, make_request())


# -- the terminating event ----------------------------------------------------------------

CUT = {
    "claude": claude_events("Pa", "ris", stop=False),  # message_delta, no message_stop
    "openai": openai_events("Pa", "ris", finish=False, usage=False, done=False),
    "gemini": gemini_events("Pa", "ris", finish=False),
}


@pytest.mark.parametrize("name", NAMES)
async def test_a_stream_without_its_terminating_event_is_a_retryable_connection_error(
    wire_provider: Make, name: str
) -> None:
    provider, _ = wire_provider(name, sse_response("".join(CUT[name])))
    received: list[str] = []

    async def drain() -> None:
        async for event in provider.stream(make_request()):
            assert isinstance(event, str), "a truncated stream must not end with a StreamEnd"
            received.append(event)

    with pytest.raises(ProviderConnectionError, match="without its terminating event") as caught:
        await drain()
    assert received == ["Pa", "ris"]
    assert caught.value.retryable
    assert caught.value.fallback


async def test_an_openai_stream_cut_after_its_finish_reason_is_not_a_success(
    wire_provider: Make,
) -> None:
    # The usage chunk asked for with include_usage, and [DONE], never came.
    events = openai_events("Hi", usage=False, done=False)
    provider, _ = wire_provider("openai", sse_response("".join(events)))
    with pytest.raises(ProviderConnectionError, match="terminating event"):
        await collect(provider, make_request())


async def test_an_openai_stream_without_done_ends_on_its_usage_chunk(wire_provider: Make) -> None:
    # The SDK accepts a body without [DONE]; the usage chunk after finish_reason is its end.
    provider, _ = wire_provider("openai", sse_response("".join(openai_events("Hi", done=False))))
    chunks, end = await collect(provider, make_request())
    assert (chunks, end.finish_reason, end.usage.total_tokens) == (["Hi"], "stop", 5)


async def test_a_claude_stream_whose_message_stop_lacks_its_blank_line_completes(
    wire_provider: Make,
) -> None:
    body = "".join(claude_events("Hi")).rstrip("\n")
    provider, _ = wire_provider("claude", sse_response(body))
    chunks, end = await collect(provider, make_request())
    assert (chunks, end.finish_reason) == (["Hi"], "stop")


# -- timeouts: did response bytes arrive? -------------------------------------------------


def stalls_after(events: list[str]) -> Callable[[httpx2.Request], httpx2.Response]:
    """200 with the first event, then the read times out (the server went silent)."""

    async def body() -> AsyncIterator[bytes]:
        yield events[0].encode()
        raise httpx2.ReadTimeout("timed out reading the body")

    headers = {"content-type": "text/event-stream"}
    return lambda request: httpx2.Response(200, content=body(), headers=headers)


def never_connects(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectTimeout("timed out connecting", request=request)


def no_answer(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ReadTimeout("timed out waiting for the response", request=request)


@pytest.mark.parametrize("name", NAMES)
async def test_a_timeout_mid_stream_says_bytes_were_received(
    wire_provider: Make, name: str
) -> None:
    provider, _ = wire_provider(name, stalls_after(good_events(name, "A", "B")))
    with pytest.raises(ProviderTimeoutError) as caught:
        await collect(provider, make_request())
    assert caught.value.received is True
    assert caught.value.retryable


@pytest.mark.parametrize("handler", [never_connects, no_answer], ids=["connect", "no-response"])
@pytest.mark.parametrize("mode", ["execute", "stream"])
@pytest.mark.parametrize("name", NAMES)
async def test_a_timeout_before_any_response_says_nothing_was_received(
    wire_provider: Make, name: str, mode: str, handler: Any
) -> None:
    provider, _ = wire_provider(name, handler)
    call = (
        provider.execute(make_request()) if mode == "execute" else collect(provider, make_request())
    )
    with pytest.raises(ProviderTimeoutError) as caught:
        await call
    assert caught.value.received is False
