"""PostgresStore only, against a real PostgreSQL server: metrics by UTC day, connecting,
options, reconnects, deadlocks, writer lanes. What both backends share is pinned once, for
both, in test_store_backends.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from store_records import T0, attempt_record, new_id, request_record

from _servers import PostgresServer, create_database
from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import TokenUsage
from automatosx.store import RecordSink, Store, StoreReader, StoreState
from automatosx.store.postgres import PostgresStore, create_postgres_store, redact_url

MIDNIGHT = T0 + 86_400_000  # 2026-01-02T00:00:00Z
DAY1, DAY2 = "2026-01-01", "2026-01-02"


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database for each test."""
    return create_database(postgres_server)


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[PostgresStore]:
    async with PostgresStore(pg_url) as opened:
        yield opened


async def scalar(url: str, sql: str) -> Any:
    """One value, read through a separate connection (what another process sees)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def tokens(inp: int, out: int) -> TokenUsage:
    return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out)


# -- lifecycle ----------------------------------------------------------------------------


async def test_unreachable_server_is_a_one_line_store_error_without_the_password() -> None:
    store = PostgresStore("postgresql://u:hunter2@127.0.0.1:1/db", connect_timeout=5)
    with pytest.raises(StoreError, match=r"cannot open store 'postgresql://u:\*\*\*@") as info:
        await store.open()
    assert "hunter2" not in str(info.value)
    assert "\n" not in str(info.value)
    assert store.state is StoreState.UNOPENED
    assert "hunter2" not in repr(store)


def test_constructor_rejects_bad_options_naming_them() -> None:
    with pytest.raises(ConfigurationError, match=r"durability must be 'write-behind' \(or"):
        PostgresStore("postgresql://h/db", durability="eventually")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="queue_size must be a positive integer"):
        PostgresStore("postgresql://h/db", queue_size=0)
    with pytest.raises(ConfigurationError, match="max_lag_ms must be a positive number"):
        PostgresStore("postgresql://h/db", max_lag_ms=0)
    with pytest.raises(ConfigurationError, match="commit_interval_ms must be a positive number"):
        PostgresStore("postgresql://h/db", commit_interval_ms="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="on_write_error must be a callable"):
        PostgresStore("postgresql://h/db", on_write_error=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="starts with postgresql:// or postgres://"):
        PostgresStore("mysql://h/db")


def test_factory_accepts_both_schemes_and_the_store_implements_the_protocol() -> None:
    for url in ("postgresql://h/db", "postgres://h/db"):
        store = create_postgres_store(url, durability="sync")
        assert isinstance(store, Store)
        assert isinstance(store, RecordSink)
        assert isinstance(store, StoreReader)
        assert store.durability == "sync"
    assert create_postgres_store("postgres://h/db", durability="async").durability == (
        "write-behind"
    )
    assert redact_url("postgres://me:pw@h:5/db") == "postgres://me:***@h:5/db"


# -- failures -----------------------------------------------------------------------------


async def test_writer_reconnects_after_the_server_drops_its_connection(
    pg_url: str, pg_store: PostgresStore
) -> None:
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    await pg_store.flush()
    writer = pg_store._writer
    assert writer is not None
    before = writer._conns[0]
    admin = await asyncpg.connect(pg_url)
    try:  # every other session of this database: the writers' and the read pool's
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    await pg_store.flush()  # retried on a new connection: nothing lost
    assert pg_store.write_errors == 0
    assert writer._conns[0] is not before
    assert await scalar(pg_url, f"SELECT COUNT(*) FROM provider_requests WHERE id = '{rid}'") == 1


async def test_deadlocked_batch_is_retried_whole(
    pg_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automatosx.store.postgres._dialect import PostgresDialect

    real = PostgresDialect.write
    calls: list[int] = []

    async def deadlock_once(self: PostgresDialect, conn: Any, groups: Any) -> None:
        calls.append(len(groups))
        if len(calls) == 1:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        await real(self, conn, groups)

    monkeypatch.setattr(PostgresDialect, "write", deadlock_once)
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    await pg_store.flush()
    assert calls == [1, 1]
    assert await pg_store.get_request(rid) is not None


async def test_a_large_batch_split_over_two_writers_keeps_every_request_in_order(
    pg_url: str,
) -> None:
    async with PostgresStore(pg_url, batch_size=4096, writers=2, max_lag_requests=1_000) as store:
        ids = [new_id() for _ in range(300)]
        for rid in ids:
            await store.save_request(request_record(rid))
            await store.save_attempt(attempt_record(rid))
            await store.update_request_state(
                rid, state="completed", retry_count=0, history=["idle", "completed"], updated_at=9
            )
        await store.flush()
        assert store._writer is not None
        assert all(conn is not None for conn in store._writer._conns)  # both wrote
        assert await store.count_requests_by_state() == {"completed": 300}
        [metrics] = await store.get_provider_metrics()
        assert metrics.request_count == 300
    assert store.write_errors == 0
