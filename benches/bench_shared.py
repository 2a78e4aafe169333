"""Shared state's cost on the request path, and how fast a breaker opening reaches the fleet.

Run: ``python benches/bench_shared.py`` (starts a throwaway redis-server; prints PASS/MISS).

* per-request overhead: ``execute`` over the in-process stub provider with
  ``shared="redis://..."`` against the local-only router, batches interleaved in one event
  loop; p50(shared) - p50(local) must be <= 3 us (the admit path spends from the local lease
  and never awaits Redis);
* propagation: one router's breaker opens; the time until a second router (its own
  connections, as another process) reads it open, over pub/sub; budget 1000 ms.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _servers
from _budget import Result, summary
from _stub import PROMPT, StubProvider, percentile, time_calls
from automatosx import Router
from automatosx.shared import SharedGuard, SharedState

BATCH, ROUNDS = 1_000, 20
OVERHEAD_BUDGET_US = 3.0
PROPAGATION_BUDGET_MS = 1_000.0
OPTIONS: dict[str, Any] = {"primaryProvider": "claude", "fallbackProviders": []}


async def overhead(url: str) -> tuple[float, float, float]:
    local = Router(OPTIONS, providers=[StubProvider()], store=None)
    shared = Router(
        OPTIONS,
        providers=[StubProvider()],
        store=None,
        shared=SharedState(url, prefix=f"bench{uuid.uuid4().hex[:8]}:"),
    )
    async with local, shared:
        on: list[int] = []
        off: list[int] = []
        for router in (local, shared):  # warm up: leases, caches
            await time_calls(lambda r=router: r.execute(PROMPT), BATCH, [])
        for _ in range(ROUNDS):
            await time_calls(lambda: local.execute(PROMPT), BATCH, off)
            await time_calls(lambda: shared.execute(PROMPT), BATCH, on)
    p_off, p_on = percentile(off, 50) / 1000, percentile(on, 50) / 1000
    return p_off, p_on, p_on - p_off


class _Failing(StubProvider):
    async def execute(self, request: Any) -> Any:
        from automatosx.errors import ServerError

        raise ServerError("boom", provider="claude", status_code=500)


async def propagation(url: str) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    opts = {**OPTIONS, "circuitBreakerThreshold": 1, "circuitBreakerTimeout": 60_000}
    first = Router(opts, providers=[_Failing()], store=None, shared=SharedState(url, prefix=prefix))
    second = Router(
        opts, providers=[StubProvider()], store=None, shared=SharedState(url, prefix=prefix)
    )
    async with first, second:
        await asyncio.sleep(0.2)  # both subscribed
        guard = second._deployments["claude"].guard
        assert isinstance(guard, SharedGuard)
        t0 = time.perf_counter()
        failing = asyncio.ensure_future(first.execute(PROMPT))  # retries after the opening
        while second.breaker_state("claude") != "open":
            await asyncio.sleep(0.001)
            if time.perf_counter() - t0 > 5:
                break
        ms = (time.perf_counter() - t0) * 1000
        await asyncio.gather(failing, return_exceptions=True)
        return ms


def main() -> None:
    server = _servers.start_redis()
    try:
        p_off, p_on, diff = asyncio.run(overhead(server.url))
        ms = asyncio.run(propagation(server.url))
    finally:
        server.stop()
    print(f"execute p50: local-only {p_off:.2f} us, shared {p_on:.2f} us")
    results = [
        Result("shared state: execute p50 overhead vs local-only", diff, OVERHEAD_BUDGET_US, "us"),
        Result(
            "shared state: breaker opening seen by another router", ms, PROPAGATION_BUDGET_MS, "ms"
        ),
    ]
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
