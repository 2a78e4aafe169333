"""A third backend needs only its dialect: a dialect written here, in ~80 lines, gets the
whole engine (queue, writer thread, batching, poison isolation, reads, owners) unchanged.

It keeps its tables in an in-memory sqlite3 database (the SQL evaluator a test has at hand)
but shares no code with ``store/sqlite/``: its own connection, its own row-by-row SQL, its own
migration step (the shipped SQLite files, applied with ``executescript``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from store_records import attempt_record, new_id, request_record, response

from automatosx.errors import StoreError
from automatosx.store import Store
from automatosx.store._dialect import Group, Op
from automatosx.store._engine import SQLStore
from automatosx.store._owners import gone_owners
from automatosx.store._schema import Write
from automatosx.store.migrate import migration_files


def _sql(write: Write) -> str:
    if write.key is not None:
        sets = ", ".join(f"{name} = ?" for name in write.names[:-1])
        return f"UPDATE {write.table} SET {sets} WHERE {write.key} = ?"
    marks = ", ".join("?" * write.width)
    return f"INSERT INTO {write.table} ({', '.join(write.names)}) VALUES ({marks})"


class MemoryDialect:
    name = "memory"
    lanes = 1

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        self.batches: list[list[tuple[str, int]]] = []

    def mark(self, n: int) -> str:
        return "?"

    async def open(self) -> None:
        for _name, sql in migration_files("sqlite"):
            self.db.executescript(sql)
        self.db.execute("PRAGMA foreign_keys = ON")

    async def close(self) -> None:
        return None

    async def fetch(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        with self.lock:
            return [self.db.execute(sql, params).fetchall() for sql, params in queries]

    async def claim(self, owner: str, host: str, pid: int, lease_ms: int) -> int:
        with self.lock:
            self.db.execute(
                "INSERT INTO store_owners VALUES (?, ?, ?, 0, 0, ?)", (owner, host, pid, lease_ms)
            )
            rows = self.db.execute(
                "SELECT owner, host, pid, heartbeat_at, lease_ms FROM store_owners"
            ).fetchall()
            return len(gone_owners(rows, host, 0, exclude=owner))

    async def heartbeat(self, conn: Any, owner: str, lease_ms: int) -> None:
        return None

    async def release(self, conn: Any, owner: str) -> None:
        return None

    async def connect_writer(self) -> Any:
        return self.db

    async def close_writer(self, conn: Any) -> None:
        return None

    def drop_writer(self, conn: Any) -> None:
        return None

    async def write(self, conn: Any, groups: Sequence[Group]) -> None:
        self.batches.append([(write.label, len(rows)) for write, rows in groups])
        with self.lock:
            conn.execute("BEGIN")
            try:
                for write, rows in groups:
                    conn.executemany(_sql(write), rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    async def replay(self, conn: Any, ops: Sequence[tuple[int, Op]]) -> dict[int, BaseException]:
        failures: dict[int, BaseException] = {}
        with self.lock:
            for i, (write, row, many) in ops:
                try:
                    conn.executemany(_sql(write), row if many else [row])
                except sqlite3.Error as exc:
                    failures[i] = exc
        return failures

    def lost(self, conn: Any, exc: BaseException) -> bool:
        return False

    def transient(self, exc: BaseException) -> bool:
        return False

    def scrub(self, exc: BaseException) -> BaseException:
        return exc


def memory_store(**kwargs: Any) -> SQLStore:
    options: dict[str, Any] = {
        "durability": "async",
        "sync": False,
        "queue_size": 1_000,
        "batch_size": 64,
        "commit_interval_ms": 100,
        "max_lag_ms": 500,
        "max_lag_requests": 32,
        "lease_ms": 30_000,
        "on_write_error": None,
    }
    return SQLStore(MemoryDialect(), **{**options, **kwargs})


async def test_a_dialect_written_in_a_test_gets_the_whole_engine() -> None:
    store = memory_store()
    assert isinstance(store, Store)
    async with store:
        rid = new_id()
        await store.save_request(request_record(rid))
        await store.save_attempt(attempt_record(rid))
        await store.save_response(response(rid))
        await store.update_request_state(
            rid, state="completed", retry_count=0, history=["idle", "completed"], updated_at=2
        )
        row = await store.get_request(rid)
        assert row is not None
        assert (row.request.state, len(row.attempts), row.response is not None) == (
            "completed",
            1,
            True,
        )
        assert await store.count_requests_by_state() == {"completed": 1}
        [summary] = await store.get_provider_summaries()
        assert summary.attempts == 1


async def test_poison_in_a_third_dialect_is_isolated_and_reported() -> None:
    store = memory_store()
    async with store:
        good = new_id()
        await store.save_request(request_record(good))
        await store.save_attempt(attempt_record(new_id()))  # no such request
        await store.save_attempt(attempt_record(good))
        with pytest.raises(StoreError, match=r"save_attempt failed: IntegrityError"):
            await store.flush()
        [failure] = store.drain_write_errors()
        assert failure.kind == "save_attempt"
        row = await store.get_request(good)
        assert row is not None
        assert len(row.attempts) == 1


async def test_a_third_dialect_commits_while_the_callers_loop_is_blocked() -> None:
    store = memory_store()
    async with store:
        dialect = store._dialect
        assert isinstance(dialect, MemoryDialect)
        await store.save_request(request_record(new_id()))
        # the loop does not yield for as long as it takes: the writer thread commits anyway
        deadline = asyncio.get_running_loop().time() + 10
        while not dialect.batches and asyncio.get_running_loop().time() < deadline:
            threading.Event().wait(0.001)
        assert dialect.batches == [[("save_request", 1)]]
