"""The store's cost on the request path, and its sustained write rate.

pytest-benchmark fixtures are synchronous, so each benchmark drives its own event loop
(the ``loop`` fixture in ``conftest.py``).
Run with ``make bench`` (``pytest benches --benchmark-enable``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from _budget import info
from automatosx.store import AttemptRecord, RequestRecord, SQLiteStore

ENQUEUE_BURST = 1_000  # saves per timed round of the enqueue benchmark
SUSTAINED = 5_000  # saves per timed round of the throughput benchmark
T0 = 1_767_225_600_000


@pytest.fixture
def store(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[SQLiteStore]:
    # The lag bound would make a burst wait for the writer: this measures the enqueue alone
    # (the loss window has its own bench, bench_store_loss_window.py).
    store = SQLiteStore(tmp_path / "bench.db", queue_size=1_000_000, max_lag_ms=600_000)
    loop.run_until_complete(store.open())
    try:
        yield store
    finally:
        loop.run_until_complete(store.close())


class Requests:
    """One fresh request per round, with its attempts: rows the foreign keys accept."""

    def __init__(self, store: SQLiteStore, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.store, self.loop, self.size = store, loop, size
        self.attempts: list[AttemptRecord] = []

    def next_round(self) -> None:
        """Untimed: drain the previous round, save a new request, build its attempts."""
        rid = str(uuid.uuid4())
        record = RequestRecord(
            rid,
            "claude",
            "claude-sonnet-4-5",
            "[]",
            100,
            1.0,
            False,
            "requesting",
            0,
            ["idle", "validating", "requesting"],
            T0,
            T0,
            None,
        )
        self.loop.run_until_complete(self._save(record))
        self.attempts = [
            AttemptRecord(
                rid, n, "claude", "claude-sonnet-4-5", "success", None, None, None, 90, T0
            )
            for n in range(1, self.size + 1)
        ]

    async def _save(self, record: RequestRecord) -> None:
        await self.store.flush()
        await self.store.save_request(record)
        await self.store.flush()


@pytest.mark.benchmark(group="store")
def test_enqueue_cost_per_record(
    benchmark: BenchmarkFixture, store: SQLiteStore, loop: asyncio.AbstractEventLoop
) -> None:
    """What the router pays per ``await store.save_attempt(...)`` (queue not full)."""
    rounds = Requests(store, loop, ENQUEUE_BURST)

    async def burst() -> None:
        save = store.save_attempt
        for record in rounds.attempts:
            await save(record)

    benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: loop.run_until_complete(burst()), setup=rounds.next_round, rounds=30
    )
    loop.run_until_complete(store.flush())
    assert benchmark.stats is not None
    per_record_ns = benchmark.stats.stats.median / ENQUEUE_BURST * 1e9
    benchmark.extra_info["ns_per_record"] = round(per_record_ns)
    info("store: enqueue per record", per_record_ns, "ns")


@pytest.mark.benchmark(group="store")
def test_sustained_records_per_second(
    benchmark: BenchmarkFixture, store: SQLiteStore, loop: asyncio.AbstractEventLoop
) -> None:
    """Saves through the write-behind queue to a file database, flush included."""
    rounds = Requests(store, loop, SUSTAINED)

    async def saves_and_flush() -> None:
        save = store.save_attempt
        for record in rounds.attempts:
            await save(record)
        await store.flush()

    benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: loop.run_until_complete(saves_and_flush()), setup=rounds.next_round, rounds=10
    )
    assert benchmark.stats is not None
    rps = SUSTAINED / benchmark.stats.stats.median
    benchmark.extra_info["records_per_second"] = round(rps)
    info("store: sustained, flush included", rps, "records/s")
