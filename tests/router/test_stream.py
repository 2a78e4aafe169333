"""Streaming: before the first chunk a failure retries or falls back as ``execute`` does;
after it the stream restarts (marked ``restart=True``, index 0) unless ``restartStreams`` is
off, in which case the error ends it."""

from __future__ import annotations

from typing import Any

import pytest

from automatosx import ProviderConnectionError, ProviderRequest, Router, ServerError
from automatosx.store import open_store

from .conftest import FAST, REQUEST, ScriptedProvider, sleeper

OPTS: dict[str, Any] = {"primaryProvider": "claude", "fallbackProviders": ["gemini"], **FAST}


async def read(db_url: str, request_id: str) -> Any:
    async with open_store(db_url) as store:
        return await store.get_request(request_id)


async def test_chunks_arrive_in_order_and_the_response_is_assembled(db_url: str) -> None:
    claude = ScriptedProvider("claude", [["Hel", "lo", " World"]])
    async with Router(OPTS, [claude, ScriptedProvider("gemini")], store=db_url) as router:
        stream = router.stream(REQUEST)
        chunks = [c async for c in stream]
    assert [c.chunk for c in chunks] == ["Hel", "lo", " World", ""]
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert [c.done for c in chunks] == [False, False, False, True]
    assert stream.response is not None
    assert (stream.response.content, stream.response.provider) == ("Hello World", "claude")
    assert stream.response.tokens.total_tokens == 4
    row = await read(db_url, stream.response.request_id)
    assert row.request.state == "completed"
    assert row.request.history == ["idle", "validating", "requesting", "streaming", "completed"]
    assert [text for _, text, _ in row.chunks] == ["Hel", "lo", " World"]
    assert row.response.content == "Hello World"


async def test_failure_before_the_first_chunk_falls_back(db_url: str) -> None:
    claude = ScriptedProvider("claude", [ServerError("boom", provider="claude", status_code=503)])
    claude.max_retries = 0
    async with Router(OPTS, [claude, ScriptedProvider("gemini")], store=db_url) as router:
        stream = router.stream(REQUEST)
        text = await stream.text()
    assert text == "Hello World"
    assert stream.response is not None
    assert stream.response.provider == "gemini"
    row = await read(db_url, stream.response.request_id)
    assert [(a.provider, a.outcome) for a in row.attempts] == [
        ("claude", "failure"),
        ("gemini", "success"),
    ]


async def test_error_event_before_any_text_still_falls_back() -> None:
    claude = ScriptedProvider("claude", [[ServerError("early", provider="claude")]])
    claude.max_retries = 0
    async with Router(OPTS, [claude, ScriptedProvider("gemini")]) as router:
        assert await router.stream(REQUEST).text() == "Hello World"


async def test_failure_after_the_first_chunk_restarts_the_stream_marked(db_url: str) -> None:
    drop = ProviderConnectionError("dropped", provider="claude")
    claude = ScriptedProvider("claude", [["Hello", " Wor", drop], ["Hello", " World"]])
    gemini = ScriptedProvider("gemini")
    async with Router(OPTS, [claude, gemini], store=db_url) as router:
        req = ProviderRequest.model_validate(REQUEST)
        stream = router.stream(req)
        chunks = [c async for c in stream]
    assert [(c.chunk, c.index, c.restart) for c in chunks] == [
        ("Hello", 0, False),
        (" Wor", 1, False),
        ("Hello", 0, True),
        (" World", 1, False),
        ("", 2, False),
    ]
    assert stream.response is not None
    assert (stream.response.provider, stream.response.content) == ("claude", "Hello World")
    assert gemini.requests == []  # retried (restarted) on the same provider
    assert len(claude.requests) == 2
    row = await read(db_url, req.request_id)
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome) for a in row.attempts] == [
        ("claude", "failure"),
        ("claude", "success"),
    ]
    assert [text for _, text, _ in row.chunks] == ["Hello", " Wor", "Hello", " World"]
    assert row.response.content == "Hello World"


async def test_without_restarts_a_failure_after_the_first_chunk_ends_the_stream(
    db_url: str,
) -> None:
    drop = ProviderConnectionError("dropped", provider="claude")
    claude = ScriptedProvider("claude", [["Hello", " Wor", drop]])
    gemini = ScriptedProvider("gemini")
    opts = {**OPTS, "restartStreams": False}
    async with Router(opts, [claude, gemini], store=db_url) as router:
        req = ProviderRequest.model_validate(REQUEST)
        seen: list[str] = []

        async def consume() -> None:
            async for chunk in router.stream(req):
                seen.append(chunk.chunk)

        with pytest.raises(ProviderConnectionError):
            await consume()
    assert seen == ["Hello", " Wor"]
    assert gemini.requests == []  # no fallback once the caller has text
    assert len(claude.requests) == 1  # and no retry
    row = await read(db_url, req.request_id)
    assert (row.request.state, row.request.error_code) == ("failed", "CONNECTION_ERROR")
    assert [text for _, text, _ in row.chunks] == ["Hello", " Wor"]
    assert row.response is None


async def test_leaving_a_stream_early_records_it_cancelled(db_url: str) -> None:
    claude = ScriptedProvider("claude", [["one", "two", "three"]])
    async with Router(OPTS, [claude, ScriptedProvider("gemini")], store=db_url) as router:
        req = ProviderRequest.model_validate(REQUEST)
        async with router.stream(req) as stream:
            async for _ in stream:
                break
    row = await read(db_url, req.request_id)
    assert (row.request.state, row.request.error_code) == ("failed", "CANCELLED")
    assert [text for _, text, _ in row.chunks] == ["one"]


async def test_first_token_timeout_falls_back() -> None:
    claude = ScriptedProvider("claude", [[sleeper(5), "late"]])
    claude.max_retries = 0
    opts = {**OPTS, "firstTokenTimeoutMs": 50}
    async with Router(opts, [claude, ScriptedProvider("gemini")]) as router:
        stream = router.stream(REQUEST)
        assert await stream.text() == "Hello World"
    assert stream.response is not None
    assert stream.response.provider == "gemini"


async def test_a_stream_with_no_text_completes_empty() -> None:
    async with Router(OPTS, [ScriptedProvider("claude", [[]]), ScriptedProvider("gemini")]) as r:
        stream = r.stream(REQUEST)
        chunks = [c async for c in stream]
    assert [(c.chunk, c.done) for c in chunks] == [("", True)]
    assert stream.response is not None
    assert stream.response.content == ""


async def test_stream_chunk_text_capture_can_be_turned_off(db_url: str) -> None:
    opts = {**OPTS, "recordStreamChunks": False}
    async with Router(
        opts, [ScriptedProvider("claude"), ScriptedProvider("gemini")], store=db_url
    ) as router:
        stream = router.stream(REQUEST)
        await stream.text()
    assert stream.response is not None
    row = await read(db_url, stream.response.request_id)
    assert (row.chunks, row.chunk_count) == ([], 0)
    assert row.response.content == "Hello World"
