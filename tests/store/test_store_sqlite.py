"""SQLiteStore: round trips, lifecycle, durability, failures, the database file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from store_records import T0, attempt_record, new_id, request_record, response

from automatosx.errors import StoreError
from automatosx.schemas import ProviderHealth
from automatosx.store import NullStore, SQLiteStore, Store, StoreState, open_store
from automatosx.store._sql import INSERT_REQUEST, UPDATE_REQUEST_STATE


def count(path: Path, table: str) -> int:
    """Rows in a table, read through a second connection (what another process sees)."""
    with sqlite3.connect(path) as conn:
        value = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    conn.close()
    return value


def file_modes(db_path: Path) -> dict[str, int]:
    """Permission bits of the database file and its WAL companions."""
    return {
        suffix: stat.S_IMODE(os.stat(f"{db_path}{suffix}").st_mode)
        for suffix in ("", "-wal", "-shm")
    }


# -- round trips --------------------------------------------------------------------------


async def test_request_round_trips(store: SQLiteStore) -> None:
    record = request_record(
        stream=True, max_tokens=None, metadata={"user": "u-1", "tags": ["a", "é"]}
    )
    await store.save_request(record)
    row = await store.get_request(record.id)
    assert row is not None
    assert row.request == record
    assert (row.attempts, row.response, row.chunk_count, row.chunks) == ([], None, 0, [])


async def test_request_with_message_digest_round_trips(store: SQLiteStore) -> None:
    record = request_record(messages="sha256:" + "ab" * 32)
    await store.save_request(record)
    row = await store.get_request(record.id)
    assert row is not None
    assert row.request.messages == "sha256:" + "ab" * 32


async def test_state_update_replaces_state_and_keeps_the_requested_provider(
    store: SQLiteStore,
) -> None:
    record = request_record()
    await store.save_request(record)
    history = ["idle", "validating", "requesting", "failed"]
    await store.update_request_state(
        record.id,
        state="failed",
        retry_count=2,
        history=history,
        error="boom",
        error_code="SERVER_ERROR",
        updated_at=T0 + 5,
    )
    row = await store.get_request(record.id)
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
    assert (row.request.provider, row.request.model) == ("claude", "claude-sonnet-4-5")

    await store.update_request_state(
        record.id,
        state="requesting",
        retry_count=0,
        history=[*history, "requesting"],
        updated_at=T0 + 6,
    )
    row = await store.get_request(record.id)
    assert row is not None
    assert (row.request.provider, row.request.model) == ("claude", "claude-sonnet-4-5")
    assert (row.request.error, row.request.error_code) == (None, None)


async def test_attempts_response_and_chunks_round_trip(store: SQLiteStore) -> None:
    rid = new_id()
    await store.save_request(request_record(rid, stream=True))
    failed = attempt_record(
        rid,
        1,
        outcome="failure",
        error_code="OVERLOADED",
        error="overloaded",
        status_code=529,
        duration=80,
    )
    succeeded = attempt_record(rid, 2, provider="openai", model="gpt-4o-mini")
    await store.save_attempt(failed)
    await store.save_attempt(succeeded)
    reply = response(rid, provider="openai", model="gpt-4o-mini", metadata={"id": "x"})
    await store.save_response(reply)
    chunks = [(0, "Hi", T0 + 10), (1, " there", T0 + 11)]
    await store.save_stream_chunks(rid, chunks)

    row = await store.get_request(rid)
    assert row is not None
    assert row.attempts == [failed, succeeded]
    assert row.response == reply
    assert (row.chunk_count, row.chunks) == (2, chunks)


async def test_response_without_optionals_round_trips(store: SQLiteStore) -> None:
    rid = new_id()
    await store.save_request(request_record(rid))
    reply = response(rid, finish_reason=None, cost=None)
    await store.save_response(reply)
    row = await store.get_request(rid)
    assert row is not None
    assert row.response == reply


async def test_health_checks_round_trip_newest_first(store: SQLiteStore) -> None:
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
        await store.save_health_check(check)
    assert await store.get_provider_health() == checks[::-1]
    assert await store.get_provider_health("claude") == [checks[2], checks[0]]
    assert await store.get_provider_health(limit=1) == [checks[2]]


async def test_list_requests_filters_pages_and_loads_children(store: SQLiteStore) -> None:
    ids = [new_id() for _ in range(5)]
    for i, rid in enumerate(ids):
        state = "completed" if i % 2 == 0 else "failed"
        provider = "claude" if i < 3 else "gemini"
        await store.save_request(
            request_record(rid, state=state, provider=provider, created_at=T0 + i)
        )
        await store.save_attempt(attempt_record(rid, provider=provider))
    await store.save_stream_chunks(ids[4], [(0, "a", T0), (1, "b", T0)])
    await store.save_response(response(ids[4], provider="gemini"))

    newest_first = [row.request.id for row in await store.list_requests()]
    assert newest_first == ids[::-1]
    completed = await store.list_requests(state="completed")
    assert [row.request.id for row in completed] == [ids[4], ids[2], ids[0]]
    gemini_failed = await store.list_requests(state="failed", provider="gemini")
    assert [row.request.id for row in gemini_failed] == [ids[3]]
    page = await store.list_requests(limit=2, offset=1)
    assert [row.request.id for row in page] == [ids[3], ids[2]]

    first = (await store.list_requests(limit=1))[0]
    assert len(first.attempts) == 1
    assert first.response is not None
    assert (first.chunk_count, first.chunks) == (2, None)


async def test_missing_request_is_none(store: SQLiteStore) -> None:
    assert await store.get_request(new_id()) is None


# -- lifecycle ----------------------------------------------------------------------------


async def test_lifecycle_is_unopened_opened_closed(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    seen = [store.state]
    await store.open()
    seen.append(store.state)
    await store.close()
    seen.append(store.state)
    await store.close()  # idempotent
    seen.append(store.state)
    assert seen == [StoreState.UNOPENED, StoreState.OPENED, StoreState.CLOSED, StoreState.CLOSED]


async def test_unopened_store_says_how_to_open_it(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    with pytest.raises(StoreError, match=r"not open: call `await store.open\(\)`"):
        await store.save_request(request_record())
    with pytest.raises(StoreError, match="not open"):
        await store.get_request(new_id())
    await store.close()


async def test_closed_store_refuses_writes_reads_and_reopening(db_path: Path) -> None:
    store = SQLiteStore(db_path)
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


async def test_opening_twice_is_an_error(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match="already open"):
        await store.open()


async def test_reopen_keeps_data_and_does_not_reapply_migrations(db_path: Path) -> None:
    rid = new_id()
    async with SQLiteStore(db_path) as store:
        await store.save_request(request_record(rid))
        await store.save_attempt(attempt_record(rid))
    with sqlite3.connect(db_path) as conn:
        applied_before = conn.execute("SELECT * FROM schema_migrations").fetchall()
    conn.close()

    async with SQLiteStore(db_path) as store:
        row = await store.get_request(rid)
        assert row is not None
        assert len(row.attempts) == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT * FROM schema_migrations").fetchall() == applied_before
    conn.close()


# -- durability and the database file -----------------------------------------------------


async def test_async_saves_are_committed_by_flush(db_path: Path, store: SQLiteStore) -> None:
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.flush()
    assert count(db_path, "provider_requests") == 1


async def test_sync_save_is_visible_from_another_connection_at_once(db_path: Path) -> None:
    async with SQLiteStore(db_path, durability="sync") as store:
        rid = new_id()
        await store.save_request(request_record(rid))
        assert count(db_path, "provider_requests") == 1
        await store.save_attempt(attempt_record(rid))
        assert count(db_path, "provider_attempts") == 1


async def test_close_writes_everything_queued(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    await store.open()
    ids = [new_id() for _ in range(300)]
    for rid in ids:
        await store.save_request(request_record(rid))
    await store.close()
    assert count(db_path, "provider_requests") == 300


async def test_database_file_is_private_to_its_owner(db_path: Path) -> None:
    async with SQLiteStore(db_path) as store:
        await store.save_request(request_record())
        await store.flush()
        assert file_modes(db_path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


async def test_database_uses_wal_and_foreign_keys(store: SQLiteStore) -> None:
    assert store._conn is not None
    rows = await store._conn.execute_fetchall("PRAGMA journal_mode")
    assert [r[0] for r in rows] == ["wal"]
    rows = await store._conn.execute_fetchall("PRAGMA foreign_keys")
    assert [r[0] for r in rows] == [1]


async def test_missing_directory_is_a_one_line_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "nope" / "store.db")
    with pytest.raises(StoreError, match=r"directory '.*nope' does not exist") as info:
        await store.open()
    assert "\n" not in str(info.value)
    assert store.state is StoreState.UNOPENED


# -- failures -----------------------------------------------------------------------------


async def test_failed_row_is_reported_by_flush_and_the_rest_of_its_batch_is_kept(
    store: SQLiteStore,
) -> None:
    good = new_id()
    await store.save_request(request_record(good))
    await store.save_attempt(attempt_record(new_id()))  # no such request: FK violation
    await store.save_attempt(attempt_record(good))
    with pytest.raises(
        StoreError, match=r"1 write\(s\) failed.*save_attempt failed: IntegrityError: FOREIGN KEY"
    ):
        await store.flush()
    await store.flush()  # reported once
    row = await store.get_request(good)
    assert row is not None
    assert len(row.attempts) == 1


async def test_failed_row_is_reported_by_close(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    await store.open()
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.save_request(request_record(rid))  # duplicate primary key
    with pytest.raises(
        StoreError, match="save_request failed: IntegrityError: UNIQUE constraint failed"
    ):
        await store.close()
    assert store.state is StoreState.CLOSED
    assert count(db_path, "provider_requests") == 1


async def test_sync_save_raises_its_own_failure(db_path: Path) -> None:
    async with SQLiteStore(db_path, durability="sync") as store:
        with pytest.raises(StoreError, match="save_attempt failed: IntegrityError: FOREIGN KEY"):
            await store.save_attempt(attempt_record(new_id()))
        rid = new_id()
        await store.save_request(request_record(rid))  # the writer lives on
        await store.flush()


async def test_check_constraints_reject_empty_provider_and_unknown_state(
    store: SQLiteStore,
) -> None:
    await store.save_request(request_record(provider=""))
    await store.save_request(request_record(state="sleeping"))
    with pytest.raises(StoreError, match=r"2 write\(s\) failed.*CHECK constraint failed"):
        await store.flush()


# -- the protocol -------------------------------------------------------------------------


def test_both_stores_implement_the_protocol(db_path: Path) -> None:
    assert isinstance(SQLiteStore(db_path), Store)
    assert isinstance(NullStore(), Store)


async def test_null_store_records_nothing() -> None:
    store = NullStore()
    await store.open()
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.save_attempt(attempt_record(rid))
    await store.save_response(response(rid))
    await store.save_stream_chunks(rid, [(0, "a", T0)])
    await store.save_health_check(ProviderHealth(provider="claude", status="healthy"))
    await store.update_request_state(
        rid, state="completed", retry_count=0, history=[], updated_at=T0
    )
    await store.flush()
    assert await store.get_request(rid) is None
    assert await store.list_requests() == []
    assert await store.get_provider_metrics() == []
    assert await store.get_provider_health() == []
    await store.close()


async def test_batch_lost_to_a_connection_failure_is_reported_and_the_writer_lives_on(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automatosx.store._writer as writer_module

    real_grouped = writer_module._execute_grouped
    real_replay = writer_module._execute_one_by_one

    async def fail_grouped(*args: object) -> None:
        monkeypatch.setattr(writer_module, "_execute_grouped", real_grouped)
        raise RuntimeError("disk on fire")

    async def fail_replay(*args: object) -> None:
        monkeypatch.setattr(writer_module, "_execute_one_by_one", real_replay)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer_module, "_execute_grouped", fail_grouped)
    monkeypatch.setattr(writer_module, "_execute_one_by_one", fail_replay)
    await store.save_request(request_record())
    with pytest.raises(StoreError, match="save_request failed: RuntimeError: disk on fire"):
        await store.flush()
    assert store.write_errors == 1
    rid = new_id()
    await store.save_request(request_record(rid))
    assert await store.get_request(rid) is not None


async def test_stopped_writer_fails_saves_and_flush_loudly(db_path: Path) -> None:
    store = SQLiteStore(db_path)
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


async def test_a_batch_runs_each_statement_once_in_dependency_order(db_path: Path) -> None:
    """Interleaved saves of many requests land in one batch grouped by statement; the request
    rows go first, so no foreign key breaks, and each statement's rows keep their order."""
    store = SQLiteStore(db_path, batch_size=4096)
    await store.open()
    assert store._conn is not None
    calls: list[str] = []
    executemany = store._conn.executemany

    async def counting(sql: str, rows: object) -> object:
        calls.append(sql)
        return await executemany(sql, rows)  # type: ignore[arg-type]

    store._conn.executemany = counting  # type: ignore[method-assign]
    ids = [new_id() for _ in range(50)]
    for rid in ids:
        await store.save_request(request_record(rid))
        await store.update_request_state(
            rid, state="completed", retry_count=0, history=["idle", "completed"], updated_at=2
        )
        await store.update_request_state(
            rid, state="failed", retry_count=1, history=["idle", "failed"], updated_at=3
        )
    await store.flush()
    # One batch: each statement ran once for all its rows, the inserts before the updates.
    assert calls == [INSERT_REQUEST, UPDATE_REQUEST_STATE]
    await store.close()
    async with open_store(f"sqlite:///{db_path}") as reopened:
        rows = [await reopened.get_request(rid) for rid in ids]
    assert all(r is not None and r.request.state == "failed" for r in rows)
