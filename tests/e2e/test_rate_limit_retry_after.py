"""429s: a short retry-after is waited out on the same provider; one longer than
maxRetryWaitMs means "fall back now", without sleeping, and the provider stays cooled."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from automatosx.emulator import Rule

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


@pytest.mark.parametrize(
    ("primary", "fault", "wait_s"),
    [
        pytest.param("claude", {"retry_after_ms": 200}, 0.2, id="claude-retry-after-ms"),
        pytest.param("openai", {"retry_after_ms": 200}, 0.2, id="openai-retry-after-ms"),
        pytest.param("gemini", {"retry_after_ms": 200}, 0.2, id="gemini-RetryInfo"),
        pytest.param("claude", {"retry_after": 1}, 1.0, id="claude-retry-after-seconds"),
    ],
)
async def test_429_waits_the_retry_after_then_succeeds_on_the_same_provider(
    e2e: Harness, primary: str, fault: dict[str, Any], wait_s: float
) -> None:
    e2e.scenario.add(Rule(provider=primary, first=1, status=429, **fault))
    fallback = "openai" if primary != "openai" else "claude"
    req = e2e.request()

    async with e2e.router(primary, [fallback], providers={primary: {"max_retries": 2}}) as router:
        started = time.monotonic()
        reply = await router.execute(req)
        elapsed = time.monotonic() - started

    assert reply.provider == primary
    assert elapsed >= wait_s * 0.95  # it waited (monotonic clock granularity aside)
    assert e2e.count(primary) == 2
    assert e2e.count(fallback) == 0
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert row.request.retry_count == 1
    assert e2e.has_run(row.request.history, "rate_limited", "retrying", "requesting")
    assert [(a.provider, a.outcome, a.error_code, a.status_code) for a in row.attempts] == [
        (primary, "failure", "RATE_LIMITED", 429),
        (primary, "success", None, None),
    ]
    assert row.response is not None
    assert row.response.provider == primary


async def test_a_stream_429_before_its_first_chunk_is_retried_after_the_wait(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="claude", first=1, status=429, retry_after_ms=200))
    req = e2e.request("Stream after waiting")

    async with e2e.router("claude", ["gemini"], providers={"claude": {"max_retries": 1}}) as r:
        started = time.monotonic()
        stream = r.stream(req)
        async with stream:
            text = await stream.text()
        elapsed = time.monotonic() - started

    assert elapsed >= 0.19
    assert stream.response is not None
    assert stream.response.provider == "claude"
    assert (e2e.count("claude"), e2e.count("gemini")) == (2, 0)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert row.request.retry_count == 1
    assert [(a.outcome, a.error_code) for a in row.attempts] == [
        ("failure", "RATE_LIMITED"),
        ("success", None),
    ]
    assert row.chunks is not None
    assert "".join(t for _, t, _ in row.chunks) == text


async def test_retry_after_beyond_max_retry_wait_falls_back_without_sleeping(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="claude", status=429, retry_after=30))
    req = e2e.request()

    async with e2e.router(
        "claude", ["gemini"], providers={"claude": {"max_retries": 3}}, maxRetryWaitMs=1_000
    ) as router:
        started = time.monotonic()
        reply = await router.execute(req)
        elapsed = time.monotonic() - started
        # Claude stays cooled for its retry-after: the next request skips it, sending nothing.
        again = e2e.request()
        second = await router.execute(again)

    assert elapsed < 10, "slept through a 30 s retry-after instead of falling back"
    assert reply.provider == "gemini"
    assert second.provider == "gemini"
    assert e2e.count("claude") == 1
    assert e2e.count("gemini") == 2
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome, a.error_code, a.status_code) for a in row.attempts] == [
        ("claude", "failure", "RATE_LIMITED", 429),
        ("gemini", "success", None, None),
    ]
    skipped = await e2e.stored(again["requestId"])
    assert skipped.request.state == "completed"
    assert [(a.provider, a.outcome) for a in skipped.attempts] == [("gemini", "success")]
