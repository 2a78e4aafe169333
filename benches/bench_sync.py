"""What ``SyncRouter`` adds per call over the async ``Router`` (stub provider, ``store=None``).

Both routers are measured side by side in one run, batch by batch: the async router's
``await router.execute(PROMPT)`` timed per call in its own event loop (each round's setup),
and ``sync_router.execute(PROMPT)`` timed per call from the main thread (the timed batches),
where each call crosses to the private loop thread and back. Added cost = p50(sync) -
p50(async), both measured in the same run; its budget is issue 23's: at most +40 us.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from _budget import info, report
from _stub import PROMPT, StubProvider, percentile, time_calls
from automatosx import Router, SyncRouter

BATCH, ROUNDS = 1_000, 10  # 10k calls each side
ADDED_BUDGET_US = 40


@pytest.fixture
def routers(loop: asyncio.AbstractEventLoop) -> Iterator[tuple[Router, SyncRouter]]:
    options = {"primaryProvider": "claude"}
    router = Router(options, providers=[StubProvider()], store=None)
    loop.run_until_complete(router.open())
    try:
        with SyncRouter(options, providers=[StubProvider()], store=None) as sync_router:
            yield router, sync_router
    finally:
        loop.run_until_complete(router.aclose())


@pytest.mark.benchmark(group="sync")
def test_sync_router_added_cost_per_execute(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    routers: tuple[Router, SyncRouter],
) -> None:
    router, sync_router = routers
    async_samples: list[int] = []
    sync_samples: list[int] = []

    def async_batch() -> None:
        loop.run_until_complete(time_calls(lambda: router.execute(PROMPT), BATCH, async_samples))

    def sync_batch() -> None:
        clock, append, execute = time.perf_counter_ns, sync_samples.append, sync_router.execute
        for _ in range(BATCH):
            t0 = clock()
            execute(PROMPT)
            append(clock() - t0)

    loop.run_until_complete(time_calls(lambda: router.execute(PROMPT), 200, []))  # warm up
    for _ in range(200):
        sync_router.execute(PROMPT)
    benchmark.pedantic(sync_batch, setup=async_batch, rounds=ROUNDS)  # type: ignore[no-untyped-call]

    a50, s50 = percentile(async_samples, 50), percentile(sync_samples, 50)
    benchmark.extra_info.update(
        {
            "async_p50_us": round(a50 / 1000, 3),
            "sync_p50_us": round(s50 / 1000, 3),
            "added_p50_us": round((s50 - a50) / 1000, 3),
        }
    )
    info("sync router: execute, async Router p50", a50 / 1000, "us")
    info("sync router: execute, SyncRouter p50", s50 / 1000, "us")
    report(
        "sync router: added cost per execute (p50 sync - p50 async)",
        (s50 - a50) / 1000,
        ADDED_BUDGET_US,
        "us",
    )
