"""Every request that entered ``execute``/``stream`` has exactly one terminal row, at the
scale and timing of the probe that found the holes (issue 19, item 1): 1,000 requests, half
streamed inside ``async with router.stream(...)``, server faults retried, paced chunks,
arrivals spread over 3 s, half the callers cancelled 10 ms to 1.2 s after they arrived, in
both durability modes. Real SDKs over real HTTP to the emulator; the SQLite file is read
back after the router closed."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import pytest

from automatosx import Router
from automatosx.emulator import Rule
from automatosx.store import SQLiteStore

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

N = 1_000
SPREAD_S = 3.0


async def _one(router: Router, req: dict[str, Any], stream: bool) -> None:
    if stream:
        async with router.stream(req) as s:
            async for _ in s:
                pass
    else:
        await router.execute(req)


async def _storm(e2e: Harness, durability: str, seed: int) -> tuple[list[str], int]:
    rng = random.Random(seed)
    e2e.scenario.add(Rule(provider="claude", every=5, status=500))  # retried (max_retries 2)
    e2e.scenario.add(Rule(provider="claude", every=7, stream_error_after=2, status=500))
    e2e.scenario.add(Rule(provider="*", chunk_latency=0.02, latency=0.05))
    configs = [e2e.config(name, max_retries=2) for name in ("claude", "gemini")]
    options = {
        "primaryProvider": "claude",
        "fallbackProviders": ["gemini"],
        "backoffBaseMs": 5,
        "backoffCapMs": 50,
    }
    store = SQLiteStore(e2e.db_path, durability=durability)  # type: ignore[arg-type]
    ids: list[str] = []
    cancelled = 0
    async with Router(options, configs, store=store) as router:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks: list[asyncio.Task[None]] = []
        cancels: list[asyncio.TimerHandle] = []
        for i in range(N):
            await asyncio.sleep(max(0.0, start + SPREAD_S * i / N - loop.time()))
            req = e2e.request(f"request {i}: tell me a long story")
            ids.append(req["requestId"])
            task = asyncio.create_task(_one(router, req, stream=i % 2 == 1))
            tasks.append(task)
            if rng.random() < 0.5:
                cancelled += 1
                cancels.append(loop.call_later(rng.uniform(0.01, 1.2), task.cancel))
        await asyncio.gather(*tasks, return_exceptions=True)
        for handle in cancels:
            handle.cancel()
    return ids, cancelled


@pytest.mark.parametrize("durability", ["async", "sync"])
async def test_a_cancel_storm_leaves_one_terminal_row_per_request(
    e2e: Harness, durability: str
) -> None:
    ids, cancelled = await _storm(e2e, durability, seed=19)
    assert cancelled > N // 3
    rows = {
        row["id"]: (row["state"], row["error_code"])
        for row in e2e.rows("SELECT id, state, error_code FROM provider_requests")
    }
    missing = [rid for rid in ids if rid not in rows]
    open_rows = [rid for rid in ids if rid in rows and rows[rid][0] not in ("completed", "failed")]
    streamed = {rid for i, rid in enumerate(ids) if i % 2 == 1}
    assert (len(missing), len(open_rows)) == (0, 0), (
        f"{len(missing)} entered requests have no row "
        f"({len(streamed.intersection(missing))} streams), {len(open_rows)} rows stay open "
        f"({len(streamed.intersection(open_rows))} streams)"
    )
    assert len(rows) == N
    states = [rows[rid] for rid in ids]
    assert sum(1 for s in states if s == ("failed", "CANCELLED")) > 0
    assert sum(1 for s in states if s[0] == "completed") > 0
