"""PostgresStore as a drop-in for SQLiteStore: the whole StoreReader (summaries, counts by
state), the same write-failure reporting (at once, by request id, never the row) and the same
bounded loss window (back-pressure while the lag exceeds max_lag_ms, never a drop)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from store_records import T0, attempt_record, new_id, request_record, response

import automatosx.store._pg_writer as pg_writer_module
import automatosx.store._writer as writer_module
from _servers import PostgresServer, create_database
from automatosx.errors import StoreError
from automatosx.schemas import TokenUsage
from automatosx.store import ProviderSummary, SQLiteStore, WriteFailure, open_store
from automatosx.store.postgres import PostgresStore

SURROGATE = "secret \ud800 text"  # a lone surrogate: no UTF-8 encoding exists


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    return create_database(postgres_server)


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[PostgresStore]:
    async with PostgresStore(pg_url) as opened:
        yield opened


async def count_rows(url: str, table: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
    finally:
        await conn.close()


async def write_mixed_history(store: Any) -> None:
    """Two requests: one retried then fell back to openai, one completed on claude; one
    request that failed; one still running."""
    usage = TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15)
    a, b, c, d = new_id(), new_id(), new_id(), new_id()
    for rid, state in ((a, "completed"), (b, "completed"), (c, "failed"), (d, "requesting")):
        await store.save_request(request_record(rid, state=state))
    await store.save_attempt(attempt_record(a, 1, outcome="failure", duration=30))
    await store.save_attempt(attempt_record(a, 2, outcome="failure", duration=40))
    await store.save_attempt(attempt_record(a, 3, provider="openai", model="gpt-4o", duration=90))
    await store.save_response(
        response(a, provider="openai", model="gpt-4o", tokens=usage, cost=0.25)
    )
    await store.save_attempt(attempt_record(b, 1, duration=70))
    await store.save_response(response(b, tokens=usage, cost=0.5))
    await store.save_attempt(attempt_record(c, 1, outcome="failure", duration=10))


# -- the reader ---------------------------------------------------------------------------


async def test_summaries_and_state_counts_equal_the_sqlite_stores(
    pg_store: PostgresStore, tmp_path: Any
) -> None:
    await write_mixed_history(pg_store)
    async with SQLiteStore(tmp_path / "same.db") as sqlite_store:
        await write_mixed_history(sqlite_store)
        expected_summaries = await sqlite_store.get_provider_summaries()
        expected_states = await sqlite_store.count_requests_by_state()
    summaries = await pg_store.get_provider_summaries()
    assert summaries == expected_summaries
    by_key = {(s.provider, s.model): s for s in summaries}
    claude = by_key[("claude", "claude-sonnet-4-5")]
    assert (claude.attempts, claude.successes, claude.requests, claude.retries) == (4, 1, 3, 1)
    openai = by_key[("openai", "gpt-4o")]
    assert (openai.fallbacks, openai.cost, openai.p50_ms) == (1, 0.25, 90.0)
    assert all(isinstance(s, ProviderSummary) for s in summaries)
    assert await pg_store.count_requests_by_state() == expected_states
    assert expected_states == {"completed": 2, "failed": 1, "requesting": 1}


async def test_an_empty_database_has_no_summaries_and_no_states(pg_store: PostgresStore) -> None:
    assert await pg_store.get_provider_summaries() == []
    assert await pg_store.count_requests_by_state() == {}


async def test_open_store_opens_a_postgres_store_for_a_postgresql_url(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        rid = new_id()
        await store.save_request(request_record(rid))
        assert await store.count_requests_by_state() == {"validating": 1}


# -- write failures -----------------------------------------------------------------------


async def test_a_lone_surrogate_loses_only_its_own_write_and_is_reported(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[WriteFailure] = []
    good, bad = new_id(), new_id()
    async with PostgresStore(pg_url, on_write_error=seen.append) as store:
        await store.save_request(request_record(good))
        await store.save_request(request_record(bad))
        await store.save_response(response(bad, content=SURROGATE))
        await store.save_attempt(attempt_record(good))
        await store.save_response(response(good))
        with (
            caplog.at_level(logging.ERROR, logger="automatosx.store"),
            pytest.raises(StoreError, match="save_response failed"),
        ):
            await store.flush()
        kept_good = await store.get_request(good)
        kept_bad = await store.get_request(bad)
        assert store.write_errors == 1
        drained = store.drain_write_errors()
        assert store.drain_write_errors() == []
    assert kept_good is not None
    assert kept_good.response is not None
    assert len(kept_good.attempts) == 1
    assert kept_bad is not None
    assert kept_bad.response is None
    assert seen == drained
    [failure] = drained
    assert (failure.request_id, failure.kind) == (bad, "save_response")
    assert "secret" not in failure.error
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bad in record.getMessage()
    assert "secret" not in record.getMessage()


async def test_a_failure_is_reported_before_any_flush_or_close(pg_url: str) -> None:
    reported = asyncio.Event()
    failures: list[WriteFailure] = []

    def on_error(failure: WriteFailure) -> None:
        failures.append(failure)
        reported.set()

    store = PostgresStore(pg_url, on_write_error=on_error)
    await store.open()
    try:
        orphan = new_id()
        await store.save_attempt(attempt_record(orphan))  # no such request
        await asyncio.wait_for(reported.wait(), timeout=30)
        assert [(f.request_id, f.kind) for f in failures] == [(orphan, "save_attempt")]
        assert store.write_errors == 1
    finally:
        with pytest.raises(StoreError, match="foreign key"):
            await store.close()


async def test_metadata_that_cannot_be_serialized_is_left_out_and_reported(
    pg_store: PostgresStore,
) -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    rid = new_id()
    await pg_store.save_request(request_record(rid, metadata=circular))  # does not raise
    await pg_store.flush()
    row = await pg_store.get_request(rid)
    assert row is not None
    assert row.request.metadata is None
    [failure] = pg_store.drain_write_errors()
    assert (failure.request_id, failure.kind) == (rid, "save_request.metadata")
    assert failure.error.startswith("ValueError")


async def test_messages_whose_text_cannot_be_made_are_left_out_and_reported(
    pg_store: PostgresStore,
) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RecursionError("maximum recursion depth exceeded")

    rid = new_id()
    await pg_store.save_request(request_record(rid, messages=Broken()))
    await pg_store.flush()
    row = await pg_store.get_request(rid)
    assert row is not None
    assert row.request.messages == "null"
    assert [f.kind for f in pg_store.drain_write_errors()] == ["save_request.messages"]


async def test_a_sync_save_of_poison_raises_to_its_caller_and_is_counted(pg_url: str) -> None:
    async with PostgresStore(pg_url, durability="sync") as store:
        rid = new_id()
        await store.save_request(request_record(rid))
        with pytest.raises(StoreError, match="save_response failed"):
            await store.save_response(response(rid, content=SURROGATE))
        await store.save_response(response(rid))  # the writer lives on
        assert store.write_errors == 1
        row = await store.get_request(rid)
    assert row is not None
    assert row.response is not None


async def test_a_wrong_argument_fails_at_the_call(pg_store: PostgresStore) -> None:
    with pytest.raises(TypeError, match="save_attempt expects AttemptRecord, got dict"):
        await pg_store.save_attempt({"request_id": "x"})  # type: ignore[arg-type]


# -- the loss window ----------------------------------------------------------------------


class FakeClock:
    """Stands in for the writer's ``time`` module: monotonic time moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return time.time_ns()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_callers_wait_while_the_lag_exceeds_max_lag_then_all_rows_land(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(writer_module, "time", clock)
    gate = asyncio.Event()
    real = pg_writer_module._execute_grouped

    async def gated(conn: Any, groups: Any) -> None:  # the server looks stalled
        await gate.wait()
        await real(conn, groups)

    monkeypatch.setattr(pg_writer_module, "_execute_grouped", gated)
    store = PostgresStore(pg_url, max_lag_ms=500, queue_size=10_000)
    await store.open()
    writes = store._writes
    assert writes is not None
    await store.save_request(request_record(new_id()))
    await settle()  # the writer took it and is stuck in the transaction
    clock.now += 0.2
    assert store.write_lag_ms() == pytest.approx(200)
    await store.save_request(request_record(new_id()))  # lag 200 ms < 500: no wait
    clock.now += 0.4  # the oldest write is now 600 ms old
    late = asyncio.create_task(store.save_request(request_record(new_id())))
    await settle()
    assert not late.done()
    assert writes._blocked_puts == 1
    gate.set()
    await late
    await store.close()
    assert store.write_lag_ms() == 0.0
    assert await count_rows(pg_url, "provider_requests") == 3


async def test_a_slow_transaction_halves_the_batch_and_fast_ones_grow_it_back(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(writer_module, "time", clock)
    real = pg_writer_module._execute_grouped
    slow = [True]

    async def timed(conn: Any, groups: Any) -> None:
        await real(conn, groups)
        if slow[0]:
            clock.now += 0.3  # this transaction "took" 300 ms
            slow[0] = False

    monkeypatch.setattr(pg_writer_module, "_execute_grouped", timed)
    async with PostgresStore(
        pg_url, batch_size=64, commit_interval_ms=100, max_lag_ms=10_000
    ) as store:
        writes = store._writes
        assert writes is not None
        await store.save_request(request_record(new_id()))
        await store.flush()
        assert writes._batch_limit == 32
        for _ in range(3):
            await store.save_request(request_record(new_id(), created_at=T0))
            await store.flush()
        assert writes._batch_limit == 64


async def test_a_rejected_row_is_reported_without_its_content(pg_store: PostgresStore) -> None:
    rid = new_id()
    prompt = '[{"role":"user","content":"my secret prompt"}]'
    await pg_store.save_request(request_record(rid, state="sleeping", messages=prompt))
    with pytest.raises(StoreError, match="check constraint") as info:
        await pg_store.flush()
    [failure] = pg_store.drain_write_errors()
    assert (failure.request_id, failure.kind) == (rid, "save_request")
    assert "secret prompt" not in failure.error
    assert "secret prompt" not in str(info.value)
