"""A blocked reply (HTTP 200, a content-filter stop, no text) is raised as ContentFilterError
by every adapter, from execute and from stream, with the provider's reason; a reply cut by a
filter after some text is still a reply, with ``finish_reason="content_filter"``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from automatosx.errors import ContentFilterError
from automatosx.providers import Provider

from .conftest import Wire, collect, json_response, make_request, sse_response

Make = Callable[..., tuple[Provider, Wire]]


# -- wire builders ------------------------------------------------------------------------


def claude_message(text: str, stop_reason: str) -> dict[str, Any]:
    content = [{"type": "text", "text": text}] if text else []
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 5, "output_tokens": 0},
    }


def claude_stream(text: str, stop_reason: str) -> str:
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": claude_message("", "")}),
    ]
    if text:
        delta = {"type": "text_delta", "text": text}
        events.append(("content_block_delta", {"type": "content_block_delta", "delta": delta}))
    events += [
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def openai_completion(text: str | None, finish: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
    }


def openai_stream(text: str, finish: str) -> str:
    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
        return f"data: {json.dumps(body)}\n\n"

    first = chunk({"role": "assistant", "content": text}, None)
    return first + chunk({}, finish) + "data: [DONE]\n\n"


def gemini_reply(text: str, finish: str | None, block: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"usageMetadata": {"promptTokenCount": 5}, "modelVersion": "g"}
    if block is not None:
        body["promptFeedback"] = {"blockReason": block}
    else:
        candidate: dict[str, Any] = {"index": 0, "finishReason": finish}
        if text:
            candidate["content"] = {"role": "model", "parts": [{"text": text}]}
        body["candidates"] = [candidate]
    return body


def gemini_stream(text: str, finish: str | None, block: str | None = None) -> str:
    return f"data: {json.dumps(gemini_reply(text, finish, block))}\r\n\r\n"


def blocked(name: str, mode: str, reason: str, *, block: bool = False) -> Any:
    """A handler answering with a blocked reply of provider ``name``."""
    if name == "claude":
        if mode == "execute":
            return json_response(200, claude_message("", reason))
        return sse_response(claude_stream("", reason))
    if name == "openai":
        if mode == "execute":
            return json_response(200, openai_completion(None, reason))
        return sse_response(openai_stream("", reason))
    block_reason = reason if block else None
    if mode == "execute":
        return json_response(200, gemini_reply("", reason, block_reason))
    return sse_response(gemini_stream("", reason, block_reason))


async def call(provider: Provider, mode: str) -> Any:
    if mode == "execute":
        return await provider.execute(make_request())
    return await collect(provider, make_request())


MODES = ["execute", "stream"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("claude", "refusal"),
        ("openai", "content_filter"),
        ("gemini", "SAFETY"),
        ("gemini", "PROHIBITED_CONTENT"),
        ("gemini", "BLOCKLIST"),
        ("gemini", "SPII"),
    ],
)
async def test_a_blocked_reply_is_a_content_filter_error_with_its_reason(
    wire_provider: Make, name: str, reason: str, mode: str
) -> None:
    provider, _ = wire_provider(name, blocked(name, mode, reason))
    with pytest.raises(ContentFilterError) as caught:
        await call(provider, mode)
    error = caught.value
    assert (error.reason, error.provider, error.code) == (reason, name, "CONTENT_FILTERED")
    assert (error.retryable, error.fallback, error.counts_against_breaker) == (False, False, False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reason", ["SAFETY", "OTHER", "PROHIBITED_CONTENT"])
async def test_a_blocked_gemini_prompt_is_a_content_filter_error(
    wire_provider: Make, reason: str, mode: str
) -> None:
    provider, _ = wire_provider("gemini", blocked("gemini", mode, reason, block=True))
    with pytest.raises(ContentFilterError) as caught:
        await call(provider, mode)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("name", "handler"),
    [
        ("claude", sse_response(claude_stream("Partial", "refusal"))),
        ("openai", sse_response(openai_stream("Partial", "content_filter"))),
        ("gemini", sse_response(gemini_stream("Partial", "SAFETY"))),
    ],
)
async def test_a_stream_cut_by_a_filter_after_some_text_is_a_reply(
    wire_provider: Make, name: str, handler: Any
) -> None:
    provider, _ = wire_provider(name, handler)
    chunks, end = await collect(provider, make_request())
    assert chunks == ["Partial"]
    assert end.finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("claude", claude_message("Partial", "refusal")),
        ("openai", openai_completion("Partial", "content_filter")),
        ("gemini", gemini_reply("Partial", "SAFETY")),
    ],
)
async def test_a_reply_cut_by_a_filter_after_some_text_is_returned(
    wire_provider: Make, name: str, body: dict[str, Any]
) -> None:
    provider, _ = wire_provider(name, lambda request: httpx2.Response(200, json=body))
    response = await provider.execute(make_request())
    assert (response.content, response.finish_reason) == ("Partial", "content_filter")


@pytest.mark.parametrize(
    ("name", "handler"),
    [
        ("claude", json_response(200, claude_message("", "end_turn"))),
        ("openai", json_response(200, openai_completion(None, "stop"))),
        ("gemini", json_response(200, gemini_reply("", "STOP"))),
    ],
)
async def test_an_empty_reply_that_was_not_filtered_is_not_an_error(
    wire_provider: Make, name: str, handler: Any
) -> None:
    provider, _ = wire_provider(name, handler)
    response = await provider.execute(make_request())
    assert (response.content, response.finish_reason) == ("", "stop")
