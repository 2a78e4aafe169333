"""PostgresStore against a real PostgreSQL server: the behaviours test_store_sqlite.py and
test_store_metrics.py pin for SQLiteStore, with the same records and the same expectations."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from store_records import T0, attempt_record, new_id, request_record, response

from _servers import PostgresServer, create_database
from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, TokenUsage
from automatosx.store import MetricsRow, RecordSink, Store, StoreReader, StoreState
from automatosx.store._pg_migrate import postgres_migration_files
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


# -- round trips --------------------------------------------------------------------------


async def test_request_round_trips(pg_store: PostgresStore) -> None:
    record = request_record(
        stream=True, max_tokens=None, metadata={"user": "u-1", "tags": ["a", "é"]}
    )
    await pg_store.save_request(record)
    row = await pg_store.get_request(record.id)
    assert row is not None
    assert row.request == record
    assert (row.attempts, row.response, row.chunk_count, row.chunks) == ([], None, 0, [])


async def test_lazy_messages_are_written_as_their_text(pg_store: PostgresStore) -> None:
    class Lazy:
        def __str__(self) -> str:
            return '[{"role":"user","content":"lazy"}]'

        def __conform__(self, protocol: object) -> str:
            return str(self)

    rid = new_id()
    await pg_store.save_request(request_record(rid, messages=Lazy()))
    await pg_store.save_request(request_record(messages=Lazy()))  # two rows: the batch form
    row = await pg_store.get_request(rid)
    assert row is not None
    assert row.request.messages == '[{"role":"user","content":"lazy"}]'


async def test_state_update_replaces_state_and_keeps_the_requested_provider(
    pg_store: PostgresStore,
) -> None:
    record = request_record()
    await pg_store.save_request(record)
    history = ["idle", "validating", "requesting", "failed"]
    await pg_store.update_request_state(
        record.id,
        state="failed",
        retry_count=2,
        history=history,
        error="boom",
        error_code="SERVER_ERROR",
        updated_at=T0 + 5,
    )
    row = await pg_store.get_request(record.id)
    assert row is not None
    assert (row.request.state, row.request.retry_count, row.request.history) == (
        "failed",
        2,
        history,
    )
    assert (row.request.error, row.request.error_code, row.request.updated_at) == (
        "boom",
        "SERVER_ERROR",
        T0 + 5,
    )
    await pg_store.update_request_state(
        record.id, state="requesting", retry_count=0, history=[*history, "x"], updated_at=T0 + 6
    )
    row = await pg_store.get_request(record.id)
    assert row is not None
    assert (row.request.provider, row.request.model) == ("claude", "claude-sonnet-4-5")
    assert (row.request.error, row.request.error_code) == (None, None)


async def test_attempts_response_and_chunks_round_trip(pg_store: PostgresStore) -> None:
    rid = new_id()
    await pg_store.save_request(request_record(rid, stream=True))
    failed = attempt_record(
        rid, 1, outcome="failure", error_code="OVERLOADED", error="overloaded", status_code=529
    )
    succeeded = attempt_record(rid, 2, provider="openai", model="gpt-4o-mini")
    await pg_store.save_attempt(failed)
    await pg_store.save_attempt(succeeded)
    reply = response(rid, provider="openai", model="gpt-4o-mini", metadata={"id": "x"})
    await pg_store.save_response(reply)
    chunks = [(0, "Hi", T0 + 10), (1, " there", T0 + 11)]
    await pg_store.save_stream_chunks(rid, chunks)

    row = await pg_store.get_request(rid)
    assert row is not None
    assert row.attempts == [failed, succeeded]
    assert row.response == reply
    assert (row.chunk_count, row.chunks) == (2, chunks)


async def test_response_without_optionals_round_trips(pg_store: PostgresStore) -> None:
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    reply = response(rid, finish_reason=None, cost=None)
    await pg_store.save_response(reply)
    row = await pg_store.get_request(rid)
    assert row is not None
    assert row.response == reply


async def test_health_checks_round_trip_newest_first(pg_store: PostgresStore) -> None:
    checks = [
        ProviderHealth(provider="claude", status="healthy", latency=12.5, last_checked=T0),
        ProviderHealth(
            provider="openai",
            status="degraded",
            latency=900.0,
            rate_limit_remaining=3,
            rate_limit_reset=T0 + 60_000,
            last_checked=T0 + 1,
        ),
        ProviderHealth(provider="claude", status="down", error="HTTP 401", last_checked=T0 + 2),
    ]
    for check in checks:
        await pg_store.save_health_check(check)
    assert await pg_store.get_provider_health() == checks[::-1]
    assert await pg_store.get_provider_health("claude") == [checks[2], checks[0]]
    assert await pg_store.get_provider_health(limit=1) == [checks[2]]


async def test_list_requests_filters_pages_and_loads_children(pg_store: PostgresStore) -> None:
    ids = [new_id() for _ in range(5)]
    for i, rid in enumerate(ids):
        state = "completed" if i % 2 == 0 else "failed"
        provider = "claude" if i < 3 else "gemini"
        await pg_store.save_request(
            request_record(rid, state=state, provider=provider, created_at=T0 + i)
        )
        await pg_store.save_attempt(attempt_record(rid, provider=provider))
    await pg_store.save_stream_chunks(ids[4], [(0, "a", T0), (1, "b", T0)])
    await pg_store.save_response(response(ids[4], provider="gemini"))

    assert [row.request.id for row in await pg_store.list_requests()] == ids[::-1]
    completed = await pg_store.list_requests(state="completed")
    assert [row.request.id for row in completed] == [ids[4], ids[2], ids[0]]
    gemini_failed = await pg_store.list_requests(state="failed", provider="gemini")
    assert [row.request.id for row in gemini_failed] == [ids[3]]
    page = await pg_store.list_requests(limit=2, offset=1)
    assert [row.request.id for row in page] == [ids[3], ids[2]]
    assert [len(row.attempts) for row in page] == [1, 1]

    first = (await pg_store.list_requests(limit=1))[0]
    assert len(first.attempts) == 1
    assert first.response is not None
    assert (first.chunk_count, first.chunks) == (2, None)


async def test_missing_request_is_none(pg_store: PostgresStore) -> None:
    assert await pg_store.get_request(new_id()) is None


async def test_unknown_provider_names_are_accepted(pg_store: PostgresStore) -> None:
    rid = new_id()
    await pg_store.save_request(request_record(rid, provider="mistral"))
    await pg_store.save_attempt(attempt_record(rid, provider="mistral"))
    [metrics] = await pg_store.get_provider_metrics()
    assert (metrics.provider, metrics.request_count) == ("mistral", 1)


# -- metrics ------------------------------------------------------------------------------


async def test_metrics_match_hand_computed_sums_split_at_utc_midnight(
    pg_store: PostgresStore,
) -> None:
    store = pg_store
    a = new_id()
    await store.save_request(request_record(a))
    await store.save_attempt(
        attempt_record(a, 1, outcome="failure", duration=100, created_at=MIDNIGHT - 3_000)
    )
    await store.save_attempt(
        attempt_record(a, 2, outcome="failure", duration=200, created_at=MIDNIGHT - 2_000)
    )
    await store.save_attempt(
        attempt_record(
            a, 3, provider="openai", model="gpt-4o", duration=300, created_at=MIDNIGHT - 1
        )
    )
    await store.save_response(
        response(
            a,
            provider="openai",
            model="gpt-4o",
            tokens=tokens(10, 20),
            cost=0.25,
            created_at=MIDNIGHT - 1,
        )
    )
    b = new_id()
    await store.save_request(request_record(b, created_at=MIDNIGHT))
    await store.save_attempt(attempt_record(b, 1, duration=50, created_at=MIDNIGHT))
    await store.save_response(response(b, tokens=tokens(7, 3), cost=0.5, created_at=MIDNIGHT))
    c = new_id()
    await store.save_request(request_record(c, created_at=MIDNIGHT + 10))
    await store.save_attempt(attempt_record(c, 1, duration=70, created_at=MIDNIGHT + 20))
    await store.save_response(response(c, tokens=tokens(1, 1), cost=None, created_at=MIDNIGHT + 20))
    await store.save_attempt(
        attempt_record(
            c, 2, model="claude-haiku-4-5", outcome="failure", duration=5, created_at=MIDNIGHT + 30
        )
    )

    assert await store.get_provider_metrics() == [
        MetricsRow("claude", "claude-sonnet-4-5", DAY1, 2, 0, 2, 0, 0, 0, 0.0, 300),
        MetricsRow("openai", "gpt-4o", DAY1, 1, 1, 0, 10, 20, 30, 0.25, 300),
        MetricsRow("claude", "claude-haiku-4-5", DAY2, 1, 0, 1, 0, 0, 0, 0.0, 5),
        MetricsRow("claude", "claude-sonnet-4-5", DAY2, 2, 2, 0, 8, 4, 12, 0.5, 120),
    ]
    assert await store.get_provider_metrics(provider="openai") == [
        MetricsRow("openai", "gpt-4o", DAY1, 1, 1, 0, 10, 20, 30, 0.25, 300),
    ]
    day2 = await store.get_provider_metrics(provider="claude", date=DAY2)
    assert [(m.model, m.request_count) for m in day2] == [
        ("claude-haiku-4-5", 1),
        ("claude-sonnet-4-5", 2),
    ]
    assert await store.get_provider_metrics(
        date=dt.date(2026, 1, 2)
    ) == await store.get_provider_metrics(date=DAY2)


@pytest.mark.parametrize(
    ("created_at", "day"),
    [(0, "1970-01-01"), (86_399_999, "1970-01-01"), (86_400_000, "1970-01-02")],
)
async def test_metrics_day_is_the_utc_day_of_the_attempt(
    pg_store: PostgresStore, created_at: int, day: str
) -> None:
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    await pg_store.save_attempt(attempt_record(rid, created_at=created_at))
    [row] = await pg_store.get_provider_metrics()
    assert row.date == day


# -- lifecycle ----------------------------------------------------------------------------


async def test_lifecycle_is_unopened_opened_closed(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    seen = [store.state]
    await store.open()
    seen.append(store.state)
    await store.close()
    seen.append(store.state)
    await store.close()  # idempotent
    seen.append(store.state)
    assert seen == [StoreState.UNOPENED, StoreState.OPENED, StoreState.CLOSED, StoreState.CLOSED]


async def test_unopened_store_says_how_to_open_it(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    with pytest.raises(StoreError, match=r"not open: call `await store.open\(\)`"):
        await store.save_request(request_record())
    with pytest.raises(StoreError, match="not open"):
        await store.get_request(new_id())
    await store.close()


async def test_closed_store_refuses_writes_reads_and_reopening(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.save_attempt(attempt_record(new_id()))
    with pytest.raises(StoreError, match="the store is closed"):
        await store.list_requests()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.flush()
    with pytest.raises(StoreError, match="cannot be reopened"):
        await store.open()


async def test_opening_twice_is_an_error(pg_store: PostgresStore) -> None:
    with pytest.raises(StoreError, match="already open"):
        await pg_store.open()


async def test_reopen_keeps_data_and_does_not_reapply_migrations(pg_url: str) -> None:
    rid = new_id()
    async with PostgresStore(pg_url) as store:
        await store.save_request(request_record(rid))
        await store.save_attempt(attempt_record(rid))
    before = await scalar(pg_url, "SELECT array_agg(checksum || applied_at) FROM schema_migrations")
    async with PostgresStore(pg_url) as store:
        row = await store.get_request(rid)
        assert row is not None
        assert len(row.attempts) == 1
    after = await scalar(pg_url, "SELECT array_agg(checksum || applied_at) FROM schema_migrations")
    assert after == before
    assert len(after) == len(postgres_migration_files())


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


# -- durability ---------------------------------------------------------------------------


async def test_write_behind_saves_are_committed_by_flush(
    pg_url: str, pg_store: PostgresStore
) -> None:
    await pg_store.save_request(request_record())
    await pg_store.flush()
    assert await scalar(pg_url, "SELECT COUNT(*) FROM provider_requests") == 1


async def test_sync_save_is_visible_from_another_connection_at_once(pg_url: str) -> None:
    async with PostgresStore(pg_url, durability="sync") as store:
        rid = new_id()
        await store.save_request(request_record(rid))
        assert await scalar(pg_url, "SELECT COUNT(*) FROM provider_requests") == 1
        await store.save_attempt(attempt_record(rid))
        assert await scalar(pg_url, "SELECT COUNT(*) FROM provider_attempts") == 1


async def test_close_writes_everything_queued_past_a_full_queue(pg_url: str) -> None:
    store = PostgresStore(pg_url, queue_size=16, batch_size=8)
    await store.open()

    async def save(rid: str) -> None:
        await store.save_request(request_record(rid))

    # 300 concurrent savers against a queue of 16: most wait for space, none is dropped.
    await asyncio.gather(*(save(new_id()) for _ in range(300)))
    await store.close()
    assert await scalar(pg_url, "SELECT COUNT(*) FROM provider_requests") == 300


# -- failures -----------------------------------------------------------------------------


async def test_failed_row_is_reported_by_flush_and_the_rest_of_its_batch_is_kept(
    pg_store: PostgresStore,
) -> None:
    good = new_id()
    await pg_store.save_request(request_record(good))
    await pg_store.save_attempt(attempt_record(new_id()))  # no such request: FK violation
    await pg_store.save_attempt(attempt_record(good))
    with pytest.raises(StoreError, match=r"1 write\(s\) failed.*save_attempt failed: .*foreign"):
        await pg_store.flush()
    await pg_store.flush()  # reported once
    row = await pg_store.get_request(good)
    assert row is not None
    assert len(row.attempts) == 1


async def test_failed_row_is_reported_by_close(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.save_request(request_record(rid))  # duplicate primary key
    with pytest.raises(
        StoreError, match="save_request failed: UniqueViolationError: duplicate key"
    ):
        await store.close()
    assert store.state is StoreState.CLOSED
    assert await scalar(pg_url, "SELECT COUNT(*) FROM provider_requests") == 1


async def test_sync_save_raises_its_own_failure(pg_url: str) -> None:
    async with PostgresStore(pg_url, durability="sync") as store:
        with pytest.raises(StoreError, match=r"save_attempt failed: .*foreign key"):
            await store.save_attempt(attempt_record(new_id()))
        rid = new_id()
        await store.save_request(request_record(rid))  # the writer lives on
        await store.flush()


async def test_check_constraints_reject_an_unknown_state(pg_store: PostgresStore) -> None:
    await pg_store.save_request(request_record(state="sleeping"))
    await pg_store.save_request(request_record(temperature=3.0))
    with pytest.raises(StoreError, match=r"2 write\(s\) failed.*check constraint"):
        await pg_store.flush()


async def test_writer_reconnects_after_the_server_drops_its_connection(
    pg_url: str, pg_store: PostgresStore
) -> None:
    writes = pg_store._writes
    assert writes is not None
    pid = await writes._conn.fetchval("SELECT pg_backend_pid()")
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    await pg_store.flush()  # retried on a new connection: nothing lost
    assert await pg_store.get_request(rid) is not None
    assert await writes._conn.fetchval("SELECT pg_backend_pid()") != pid


async def test_batch_lost_to_two_connection_failures_is_reported_and_the_writer_lives_on(
    pg_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automatosx.store._pg_writer as writer_module

    real = writer_module._execute_grouped

    async def fail_twice(conn: object, groups: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            monkeypatch.setattr(writer_module, "_execute_grouped", real)
        raise ConnectionResetError("connection reset by peer")

    calls: list[int] = []

    monkeypatch.setattr(writer_module, "_execute_grouped", fail_twice)
    await pg_store.save_request(request_record())
    with pytest.raises(
        StoreError, match="save_request failed: ConnectionResetError: connection reset by peer"
    ):
        await pg_store.flush()
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    assert await pg_store.get_request(rid) is not None


async def test_deadlocked_batch_is_retried_whole(
    pg_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automatosx.store._pg_writer as writer_module

    real = writer_module._execute_grouped
    calls: list[int] = []

    async def deadlock_once(conn: Any, groups: Any) -> None:
        calls.append(len(groups))
        if len(calls) == 1:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        await real(conn, groups)

    monkeypatch.setattr(writer_module, "_execute_grouped", deadlock_once)
    rid = new_id()
    await pg_store.save_request(request_record(rid))
    await pg_store.flush()
    assert calls == [1, 1]
    assert await pg_store.get_request(rid) is not None


async def test_stopped_writer_fails_saves_and_flush_loudly(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    assert store._writes is not None
    store._writes._task.cancel()
    await asyncio.wait([store._writes._task])
    with pytest.raises(StoreError, match="writer task stopped unexpectedly"):
        await store.flush()
    with pytest.raises(StoreError, match="writer task stopped unexpectedly"):
        await store.save_request(request_record())
    with pytest.raises(StoreError, match="writer task stopped unexpectedly"):
        await store.close()
    assert store.state is StoreState.CLOSED


async def test_a_batch_runs_each_statement_once_and_folds_the_last_update_into_the_insert(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interleaved saves of many requests land in one batch as one statement per kind, the
    request rows first (no foreign key breaks); each id's last state update is folded into
    its insert row, so no UPDATE is sent."""
    import automatosx.store._pg_writer as writer_module

    sent: list[str] = []
    real = writer_module._execute_grouped

    class Recording:
        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def transaction(self) -> Any:
            return self._conn.transaction()

        async def execute(self, sql: str, *args: Any) -> Any:
            sent.append(sql.split(" (")[0].split(" AS ")[0])
            return await self._conn.execute(sql, *args)

    async def recording(conn: Any, groups: Any) -> None:
        await real(Recording(conn), groups)

    monkeypatch.setattr(writer_module, "_execute_grouped", recording)
    store = PostgresStore(pg_url, batch_size=4096, writers=1)
    await store.open()
    ids = [new_id() for _ in range(50)]
    for rid in ids:
        await store.save_request(request_record(rid))
        await store.save_attempt(attempt_record(rid))
        await store.update_request_state(
            rid, state="completed", retry_count=0, history=["idle", "completed"], updated_at=2
        )
        await store.update_request_state(
            rid, state="failed", retry_count=1, history=["idle", "failed"], updated_at=3
        )
    await store.flush()
    assert sent == ["INSERT INTO provider_requests", "INSERT INTO provider_attempts"]
    rows = [await store.get_request(rid) for rid in ids]
    assert all(r is not None and r.request.state == "failed" for r in rows)
    [metrics] = await store.get_provider_metrics()
    assert metrics.request_count == 50
    await store.close()


async def test_a_large_batch_split_over_two_writers_keeps_every_request_in_order(
    pg_url: str,
) -> None:
    async with PostgresStore(pg_url, batch_size=4096, writers=2) as store:
        ids = [new_id() for _ in range(300)]
        for rid in ids:
            await store.save_request(request_record(rid))
            await store.save_attempt(attempt_record(rid))
            await store.update_request_state(
                rid, state="completed", retry_count=0, history=["idle", "completed"], updated_at=9
            )
        await store.flush()
        writes = store._writes
        assert writes is not None
        assert all(conn is not None for conn in writes._conns)  # both wrote
        assert await store.count_requests_by_state() == {"completed": 300}
        [metrics] = await store.get_provider_metrics()
        assert metrics.request_count == 300
    assert store.write_errors == 0
