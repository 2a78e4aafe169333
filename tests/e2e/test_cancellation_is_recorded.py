"""A caller that gives up — cancels the task, or leaves a stream early — gets its
cancellation, and the request still ends in a recorded terminal state: failed, CANCELLED,
with whatever was streamed so far. Nothing falls back on the caller's behalf."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def test_cancelling_a_slow_execute_records_it_failed_cancelled(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", latency=5))
    req = e2e.request()

    async with e2e.router("claude", ["gemini"]) as router:
        task = asyncio.create_task(router.execute(req))
        await asyncio.sleep(0.2)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The router is still usable afterwards, and the cancel did not count against claude.
        e2e.scenario.clear()
        assert (await router.execute(e2e.request("next"))).provider == "claude"
        assert router.breaker_state("claude") == "closed"

    assert e2e.count("gemini") == 0  # a cancelled request does not fall back
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "failed"
    assert row.request.error_code == "CANCELLED"
    assert row.request.history[-1] == "failed"
    assert row.response is None
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        ("claude", "failure", "CANCELLED")
    ]


async def test_breaking_out_of_a_stream_records_it_cancelled_with_its_chunks(
    e2e: Harness,
) -> None:
    req = e2e.request("Stream a long answer")
    received: list[str] = []

    async with e2e.router("claude", ["gemini"]) as router:
        async with router.stream(req) as stream:
            async for chunk in stream:
                received.append(chunk.chunk)
                break
        assert stream.response is None

    assert received
    assert e2e.scenario.counts() == {"claude": 1, "gemini": 0, "openai": 0}
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "failed"
    assert row.request.error_code == "CANCELLED"
    assert row.request.stream is True
    assert row.response is None
    assert row.chunks is not None
    assert [t for _, t, _ in row.chunks] == received
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        ("claude", "failure", "CANCELLED")
    ]


async def test_cancelling_a_task_between_stream_chunks_records_the_chunks_so_far(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="claude", chunk_latency=0.3))
    req = e2e.request("Stream a long answer")
    received: list[str] = []
    first = asyncio.Event()

    async def consume() -> None:
        async with router.stream(req) as stream:
            async for chunk in stream:
                received.append(chunk.chunk)
                first.set()

    async with e2e.router("claude", ["gemini"]) as router:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), timeout=5)
        await asyncio.sleep(0.1)  # mid-gap: waiting for the next chunk
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert len(received) == 1
    assert e2e.count("gemini") == 0
    row = await e2e.stored(req["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "CANCELLED")
    assert row.chunks is not None
    assert [t for _, t, _ in row.chunks] == received


async def test_cancelling_while_waiting_for_the_rate_limiter_records_no_phantom_attempt(
    e2e: Harness,
) -> None:
    # 60 RPM: the first request takes the only slot, the second waits ~1 s for the limiter
    # (within maxRetryWaitMs) and is cancelled during that wait, before anything is sent.
    limited = {"claude": {"rate_limits": {"requests_per_minute": 60}}}
    first, second = e2e.request("first"), e2e.request("second")

    async with e2e.router("claude", [], providers=limited, maxRetryWaitMs=5_000) as router:
        await router.execute(first)
        task = asyncio.create_task(router.execute(second))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert e2e.count("claude") == 1
    row = await e2e.stored(second["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "CANCELLED")
    assert row.attempts == [], "an attempt was recorded for a call that was never sent"
    (claude,) = e2e.rows(
        "SELECT SUM(request_count) AS n, SUM(failure_count) AS ko FROM provider_metrics"
        " WHERE provider = 'claude'"
    )
    assert (claude["n"], claude["ko"]) == (1, 0)


async def test_cancelling_during_the_retry_backoff_records_no_phantom_attempt(
    e2e: Harness,
) -> None:
    # Claude's first answer is a 429 asking for 2 s; the router sleeps on it (within
    # maxRetryWaitMs) and the caller cancels during that sleep: one call went out, not two.
    e2e.scenario.add(Rule(provider="claude", first=1, status=429, retry_after=2))
    req = e2e.request()

    async with e2e.router("claude", [], providers={"claude": {"max_retries": 2}}) as router:
        task = asyncio.create_task(router.execute(req))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert e2e.count("claude") == 1
    row = await e2e.stored(req["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "CANCELLED")
    assert [(a.provider, a.error_code) for a in row.attempts] == [("claude", "RATE_LIMITED")]


async def test_a_stream_closed_before_it_was_iterated_is_recorded_cancelled(
    e2e: Harness,
) -> None:
    req = e2e.request("never read")
    async with e2e.router("claude", ["gemini"]) as router, router.stream(req):
        pass  # the caller gave up before reading anything
    assert e2e.scenario.counts() == {"claude": 0, "gemini": 0, "openai": 0}
    row = await e2e.stored(req["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "CANCELLED")
    assert row.attempts == []
