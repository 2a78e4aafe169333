"""Claude's breaker opens after `circuitBreakerThreshold` consecutive 500s: further requests
skip it without a call; after `circuitBreakerTimeout` exactly one half-open probe goes out
(even under concurrent load); a failed probe reopens it, a successful one closes it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from automatosx.emulator import Rule

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

THRESHOLD = 3
RESET_MS = 600  # room for a loaded machine to send phase 2 while the breaker is open


async def test_breaker_opens_skips_probes_once_and_closes_when_claude_recovers(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="claude", status=500))
    ids: dict[str, list[str]] = {"failing": [], "skipped": [], "probe": [], "recovered": []}

    async with e2e.router(
        "claude",
        ["gemini"],
        circuitBreakerThreshold=THRESHOLD,
        circuitBreakerTimeout=RESET_MS,
    ) as router:

        async def send(phase: str) -> str:
            req = e2e.request(f"phase {phase}")
            ids[phase].append(req["requestId"])
            return (await router.execute(req)).provider

        # 1. Three failures in a row open the breaker; each request is served by gemini.
        for n in range(1, THRESHOLD + 1):
            assert router.breaker_state("claude") == "closed"
            assert await send("failing") == "gemini"
            assert e2e.count("claude") == n
        assert router.breaker_state("claude") == "open"

        # 2. While open, claude is skipped: its counter stops.
        for _ in range(3):
            assert await send("skipped") == "gemini"
        assert e2e.count("claude") == THRESHOLD
        assert router.breaker_state("claude") == "open"

        # 3. After the timeout, one probe (and only one, under concurrency) reaches claude;
        #    it fails, so the breaker reopens.
        await asyncio.sleep(RESET_MS / 1000 * 1.3)
        providers = await asyncio.gather(*(send("probe") for _ in range(5)))
        assert providers == ["gemini"] * 5
        assert e2e.count("claude") == THRESHOLD + 1
        assert router.breaker_state("claude") == "open"

        # 4. Claude recovers: the next probe succeeds and the breaker closes.
        e2e.scenario.clear()
        await asyncio.sleep(RESET_MS / 1000 * 1.3)
        assert await send("recovered") == "claude"
        assert e2e.count("claude") == THRESHOLD + 2
        assert router.breaker_state("claude") == "closed"
        assert await send("recovered") == "claude"
        assert router.breaker_state("claude") == "closed"

    for rid in ids["failing"]:
        row = await e2e.stored(rid)
        assert row.request.state == "completed"
        assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
            ("claude", "failure", "SERVER_ERROR"),
            ("gemini", "success", None),
        ]
    skipped_or_probing = ids["skipped"] + ids["probe"]
    claude_tries = 0
    for rid in skipped_or_probing:
        row = await e2e.stored(rid)
        assert row.request.state == "completed"
        assert row.response is not None
        assert row.response.provider == "gemini"
        # A skipped candidate is not a try: no attempt row without an HTTP call.
        claude_tries += sum(a.provider == "claude" for a in row.attempts)
        assert row.attempts[-1].provider == "gemini"
        assert row.attempts[-1].outcome == "success"
    assert claude_tries == 1  # the one probe
    for rid in ids["recovered"]:
        row = await e2e.stored(rid)
        assert [(a.provider, a.outcome) for a in row.attempts] == [("claude", "success")]
    # The metrics count claude's real tries only: 3 failures + 1 failed probe + 2 successes.
    (claude,) = e2e.rows(
        "SELECT SUM(request_count) AS n, SUM(success_count) AS ok, SUM(failure_count) AS ko"
        " FROM provider_metrics WHERE provider = 'claude'"
    )
    assert (claude["n"], claude["ok"], claude["ko"]) == (THRESHOLD + 3, 2, THRESHOLD + 1)
