"""PostgresStore as a drop-in for SQLiteStore: the whole StoreReader (summaries, counts by
state), the same write-failure reporting (at once, by request id, never the row). The loss window
is the engine's, pinned for both backends in test_store_loss_window.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from store_records import attempt_record, new_id, request_record, response

from _servers import PostgresServer, create_database
from automatosx.errors import StoreError
from automatosx.schemas import TokenUsage
from automatosx.store import ProviderSummary, SQLiteStore, open_store
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


async def test_a_wrong_argument_fails_at_the_call(pg_store: PostgresStore) -> None:
    with pytest.raises(TypeError, match="save_attempt expects AttemptRecord, got dict"):
        await pg_store.save_attempt({"request_id": "x"})  # type: ignore[arg-type]


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
