"""`rateLimits.requestsPerMinute` is enforced client-side (GCRA): 60 RPM is one request a
second with a burst of one. A burst of concurrent requests sends only that one; the rest are
refused without any HTTP (wait > maxRetryWaitMs) or, with a fallback, go to the fallback."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from automatosx.errors import AllProvidersFailedError, RateLimitError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

BURST = 10
LIMITED = {"claude": {"rate_limits": {"requests_per_minute": 60}}}


async def test_rpm_burst_sends_one_request_and_refuses_the_rest_without_http(
    e2e: Harness,
) -> None:
    reqs = [e2e.request(f"burst {i}") for i in range(BURST)]

    async with e2e.router("claude", [], providers=LIMITED, maxRetryWaitMs=100) as router:
        results: list[Any] = await asyncio.gather(
            *(router.execute(r) for r in reqs), return_exceptions=True
        )

    served = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(served) == 1
    assert served[0].provider == "claude"
    assert len(refused) == BURST - 1
    for err in refused:
        assert isinstance(err, AllProvidersFailedError)
        assert [a.provider for a in err.attempts] == ["claude"]
        limit = err.attempts[0].error
        assert isinstance(limit, RateLimitError)
        assert limit.status_code is None  # decided client-side
        assert limit.retry_after is not None
        assert limit.retry_after > 0.1
    assert e2e.scenario.counts() == {"claude": 1, "gemini": 0, "openai": 0}

    by_id = {r["requestId"]: res for r, res in zip(reqs, results, strict=True)}
    for rid, result in by_id.items():
        row = await e2e.stored(rid)
        if isinstance(result, BaseException):
            assert row.request.state == "failed"
            assert row.request.error_code == "RATE_LIMITED"
            assert row.attempts == []  # nothing was sent
            assert row.response is None
        else:
            assert row.request.state == "completed"
            assert [(a.provider, a.outcome) for a in row.attempts] == [("claude", "success")]
    # Tries recorded == requests the emulator received.
    (total,) = e2e.rows("SELECT SUM(request_count) AS n FROM provider_metrics")
    assert total["n"] == 1


async def test_rpm_burst_overflow_goes_to_the_fallback(e2e: Harness) -> None:
    reqs = [e2e.request(f"burst {i}") for i in range(BURST)]

    async with e2e.router("claude", ["gemini"], providers=LIMITED, maxRetryWaitMs=100) as router:
        replies = await asyncio.gather(*(router.execute(r) for r in reqs))

    assert sorted(r.provider for r in replies) == ["claude"] + ["gemini"] * (BURST - 1)
    assert e2e.scenario.counts() == {"claude": 1, "gemini": BURST - 1, "openai": 0}
    for req, reply in zip(reqs, replies, strict=True):
        row = await e2e.stored(req["requestId"])
        assert row.request.state == "completed"
        assert [(a.provider, a.outcome) for a in row.attempts] == [(reply.provider, "success")]


async def test_rpm_wait_within_max_retry_wait_is_slept_not_refused(e2e: Harness) -> None:
    reqs = [e2e.request(f"paced {i}") for i in range(2)]

    async with e2e.router("claude", [], providers=LIMITED, maxRetryWaitMs=1_500) as router:
        started = time.monotonic()
        replies = await asyncio.gather(*(router.execute(r) for r in reqs))
        elapsed = time.monotonic() - started

    assert [r.provider for r in replies] == ["claude", "claude"]
    assert e2e.count("claude") == 2
    assert elapsed >= 0.9  # the second one waited for its slot (1 s at 60 RPM)
