"""Streams that fail mid-reply restart, through the real SDKs against the emulator.

A stall (cut by ``streamIdleTimeoutMs``) or a cut without the provider's terminator after
chunks have reached the caller starts the reply again — on the same deployment when the policy
retries, else on the fallback — and the new attempt's first chunk carries ``restart=True`` with
``index`` 0. The caller's reply is the complete reply of the attempt that finished (never a
truncated success, never two replies glued), and the database keeps every attempt and every
chunk delivered. A malformed event is skipped and the stream completes in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from automatosx.emulator import MalformedKind, Rule
from automatosx.router import Stream
from automatosx.schemas import StreamChunk

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

NAMES = ("claude", "gemini", "openai")
TEXT = "Stream me something long enough"
# Generous against a loaded 2-core machine: the emulator sends chunks back to back, so a
# healthy stream never waits anywhere near this long between two of them.
IDLE_MS = 600


def fallback_for(primary: str) -> str:
    return "openai" if primary == "gemini" else "gemini"


async def collect(stream: Stream) -> list[StreamChunk]:
    async with stream:
        return [chunk async for chunk in stream]


def reply_of(chunks: list[StreamChunk]) -> str:
    """What a caller following the contract shows: text since the last restart."""
    parts: list[str] = []
    for chunk in chunks:
        if chunk.restart:
            parts.clear()
        parts.append(chunk.chunk)
    return "".join(parts)


async def healthy_reply(e2e: Harness, provider: str) -> str:
    """The complete reply ``provider`` gives to TEXT, once the scenario's faults are gone."""
    e2e.scenario.clear()
    async with e2e.router(provider, []) as router:
        return (await router.execute(e2e.request(TEXT))).content


def assert_one_restart(chunks: list[StreamChunk], before: int) -> None:
    """``before`` chunks of the failed attempt, then a restart at index 0, counted from there."""
    restarted = [i for i, c in enumerate(chunks) if c.restart]
    assert restarted == [before]
    assert [c.index for c in chunks[:before]] == list(range(before))
    after = chunks[before:]
    assert [c.index for c in after] == list(range(len(after)))
    assert chunks[-1].done
    assert chunks[-1].chunk == ""
    assert not any(c.done for c in chunks[:-1])


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param({"stall_after": 2}, "TIMEOUT", id="stall"),
        pytest.param({"cut_after": 2}, None, id="cut-without-terminator"),
    ],
)
async def test_a_stream_failing_after_chunks_restarts_on_the_same_deployment(
    e2e: Harness, primary: str, fault: dict[str, Any], code: str | None
) -> None:
    e2e.scenario.add(Rule(provider=primary, request=1, **fault))
    req = e2e.request(TEXT)

    async with e2e.router(
        primary,
        [fallback_for(primary)],
        providers={primary: {"max_retries": 1}},
        streamIdleTimeoutMs=IDLE_MS,
    ) as router:
        stream = router.stream(req)
        chunks = await collect(stream)

    assert (e2e.count(primary), e2e.count(fallback_for(primary))) == (2, 0)
    assert_one_restart(chunks, 2)
    text = reply_of(chunks)
    assert stream.response is not None
    assert stream.response.provider == primary
    assert stream.response.content == text
    assert text == await healthy_reply(e2e, primary)  # complete: not cut, nothing glued

    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    (failed, served) = row.attempts
    assert (failed.provider, failed.outcome) == (primary, "failure")
    assert failed.error_code is not None
    if code is not None:
        assert failed.error_code == code
    assert (served.provider, served.outcome) == (primary, "success")
    assert row.chunks is not None
    assert [t for _, t, _ in row.chunks] == [c.chunk for c in chunks[:-1]]
    assert row.response is not None
    assert row.response.content == text


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"stall_after": 1}, id="stall"),
        pytest.param({"cut_after": 3}, id="cut-without-terminator"),
    ],
)
async def test_a_stream_failing_after_chunks_without_retries_left_restarts_on_the_fallback(
    e2e: Harness, primary: str, fault: dict[str, Any]
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, **fault))
    (sent,) = fault.values()
    req = e2e.request(TEXT)

    async with e2e.router(primary, [fallback], streamIdleTimeoutMs=IDLE_MS) as router:
        stream = router.stream(req)
        chunks = await collect(stream)

    assert (e2e.count(primary), e2e.count(fallback)) == (1, 1)
    assert_one_restart(chunks, sent)
    text = reply_of(chunks)
    assert stream.response is not None
    assert stream.response.provider == fallback
    assert text == stream.response.content == await healthy_reply(e2e, fallback)

    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome) for a in row.attempts] == [
        (primary, "failure"),
        (fallback, "success"),
    ]
    assert row.chunks is not None
    assert len(row.chunks) == len(chunks) - 1  # the failed attempt's chunks are kept too
    assert row.response is not None
    assert (row.response.provider, row.response.content) == (fallback, text)


@pytest.mark.parametrize("primary", NAMES)
async def test_a_stream_that_keeps_failing_restarts_each_time_then_the_fallback_finishes(
    e2e: Harness, primary: str
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, cut_after=1))
    req = e2e.request(TEXT)

    async with e2e.router(primary, [fallback], providers={primary: {"max_retries": 1}}) as router:
        stream = router.stream(req)
        chunks = await collect(stream)

    assert (e2e.count(primary), e2e.count(fallback)) == (2, 1)
    assert [i for i, c in enumerate(chunks) if c.restart] == [1, 2]
    assert [c.index for c in chunks[:3]] == [0, 0, 0]
    assert stream.response is not None
    assert stream.response.provider == fallback
    assert reply_of(chunks) == stream.response.content
    row = await e2e.stored(req["requestId"])
    assert [(a.provider, a.outcome) for a in row.attempts] == [
        (primary, "failure"),
        (primary, "failure"),
        (fallback, "success"),
    ]


SKIPPABLE = [
    pytest.param(name, kind, id=f"{kind}-{name}")
    for kind in ("not_json", "wrong_shape")
    for name in NAMES
    if (name, kind) != ("gemini", "not_json")  # see the test after this one
]


@pytest.mark.parametrize(("primary", "kind"), SKIPPABLE)
async def test_a_malformed_event_is_skipped_and_the_stream_completes_in_place(
    e2e: Harness, primary: str, kind: MalformedKind
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, malformed_event=kind, malformed_after=2))
    req = e2e.request(TEXT)

    async with e2e.router(primary, [fallback], providers={primary: {"max_retries": 2}}) as router:
        stream = router.stream(req)
        chunks = await collect(stream)

    assert (e2e.count(primary), e2e.count(fallback)) == (1, 0)
    assert not any(c.restart for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    text = reply_of(chunks)
    assert stream.response is not None
    assert stream.response.provider == primary
    assert text == stream.response.content == await healthy_reply(e2e, primary)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome) for a in row.attempts] == [(primary, "success")]


async def test_a_non_json_gemini_event_fails_the_sdk_stream_which_restarts_complete(
    e2e: Harness,
) -> None:
    # google-genai parses each event itself and ends its iterator on one that is not JSON, so
    # the adapter cannot skip it: the attempt fails after its first chunks and restarts.
    e2e.scenario.add(Rule(provider="gemini", request=1, malformed_event="not_json"))
    req = e2e.request(TEXT)

    async with e2e.router("gemini", ["openai"], providers={"gemini": {"max_retries": 1}}) as r:
        stream = r.stream(req)
        chunks = await collect(stream)

    assert (e2e.count("gemini"), e2e.count("openai")) == (2, 0)
    assert_one_restart(chunks, 1)
    assert stream.response is not None
    assert reply_of(chunks) == stream.response.content == await healthy_reply(e2e, "gemini")
    row = await e2e.stored(req["requestId"])
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        ("gemini", "failure", "SERVER_ERROR"),
        ("gemini", "success", None),
    ]
