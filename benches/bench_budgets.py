"""Budgets' cost on the request path, with and without a fleet.

Run: ``python benches/bench_budgets.py`` (starts a throwaway redis-server; prints PASS/MISS).

``execute`` over the in-process stub provider, batches of each router interleaved in one
event loop, p50 of each, differences against the same run's baseline:

* local: a router with a budget (reserve the maximum cost, settle the usage) against the same
  router without one; budget <= 2 us;
* fleet: both routers with ``shared="redis://..."``, the budget leased from Redis; budget
  <= 3 us, and the lease script's calls per request (no round trip per request: <= 0.01).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _servers
from _budget import Result, summary
from _stub import PROMPT, StubProvider, percentile, time_calls
from automatosx import Router
from automatosx.budgets._guard import budgets_of
from automatosx.shared import SharedState

BATCH, ROUNDS = 1_000, 20
LOCAL_BUDGET_US, FLEET_BUDGET_US, CALLS_PER_REQUEST = 2.0, 3.0, 0.01
OPTIONS: dict[str, Any] = {"primaryProvider": "claude", "fallbackProviders": []}
BUDGETS = {
    "budgets": [
        {"id": "daily", "limitUsd": 1_000_000, "window": "day"},
        {"id": "per-user", "limitTokens": 10**15, "window": "month", "per": ["user"]},
    ]
}
REQUEST = {**PROMPT, "user": "alice"}


async def pair(url: str | None) -> tuple[float, float, float]:
    """p50 (us) without and with budgets, and the lease calls per request with them."""

    def shared() -> SharedState | None:
        return None if url is None else SharedState(url, prefix=f"bench{uuid.uuid4().hex[:8]}:")

    plain = Router(OPTIONS, providers=[StubProvider()], store=None, shared=shared())
    capped = Router({**OPTIONS, **BUDGETS}, providers=[StubProvider()], store=None, shared=shared())
    async with plain, capped:
        off: list[int] = []
        on: list[int] = []
        for router in (plain, capped):  # warm up: leases, caches, prices
            await time_calls(lambda r=router: r.execute(REQUEST), BATCH, [])
        guard = budgets_of(capped)
        assert guard is not None
        fleet = guard.fleet
        calls_before = 0 if fleet is None else fleet.calls
        for _ in range(ROUNDS):
            await time_calls(lambda: plain.execute(REQUEST), BATCH, off)
            await time_calls(lambda: capped.execute(REQUEST), BATCH, on)
        calls = 0 if fleet is None else fleet.calls - calls_before
    p_off, p_on = percentile(off, 50) / 1000, percentile(on, 50) / 1000
    return p_off, p_on, calls / (BATCH * ROUNDS)


def main() -> None:
    local_off, local_on, _ = asyncio.run(pair(None))
    server = _servers.start_redis()
    try:
        fleet_off, fleet_on, per_request = asyncio.run(pair(server.url))
    finally:
        server.stop()
    print(f"execute p50, local: {local_off:.2f} us without budgets, {local_on:.2f} us with")
    print(f"execute p50, fleet: {fleet_off:.2f} us without budgets, {fleet_on:.2f} us with")
    results = [
        Result("budgets: execute p50 overhead, local", local_on - local_off, LOCAL_BUDGET_US, "us"),
        Result(
            "budgets: execute p50 overhead, Redis leases",
            fleet_on - fleet_off,
            FLEET_BUDGET_US,
            "us",
        ),
        Result("budgets: lease round trips per request", per_request, CALLS_PER_REQUEST, "calls"),
    ]
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
