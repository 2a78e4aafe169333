"""SQLite as a :class:`~automatosx.store._dialect.Dialect`: one ``sqlite3`` connection, WAL.

The writer thread writes on it directly (no event loop between a batch and its commit); reads
run on a worker thread under the same lock. A batch's rows of one write go as multi-row
statements (``INSERT ... VALUES (...), (...)``, ``UPDATE ... FROM (VALUES ...)``): one step
of SQLite each, so a batch costs a handful of GIL hand-offs however many rows it holds (a
writer thread competing with a CPU-bound event loop gets the GIL only every few ms).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from automatosx.errors import StoreError
from automatosx.store._dialect import Group, Op
from automatosx.store._owners import INTERRUPTED_ERROR, gone_owners, interrupted_history
from automatosx.store._schema import Write
from automatosx.store.sqlite._migrate import migrate_sqlite

__all__ = ["SQLiteDialect"]

_LIMIT_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)
_MAX_ROWS = 256  # rows per statement


class SQLiteDialect:
    name = "sqlite"
    lanes = 1

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self.path = path
        self.identity = path if path == ":memory:" else os.path.abspath(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one transaction or read at a time
        _DIALECTS.add(self)

    def mark(self, n: int) -> str:
        return "?"

    # -- the caller's loop ----------------------------------------------------------------

    async def open(self) -> None:
        conn = await asyncio.to_thread(self._locked, _connect, self.path, self._busy_timeout_ms)
        try:
            await asyncio.to_thread(self._locked, migrate_sqlite, conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(self._locked, conn.close)

    async def fetch(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        conn = self._conn
        assert conn is not None

        def run() -> list[list[Any]]:
            return [conn.execute(sql, params).fetchall() for sql, params in queries]

        return await asyncio.to_thread(self._locked, run)

    async def claim(self, owner: str, host: str, pid: int, lease_ms: int) -> int:
        conn = self._conn
        assert conn is not None
        return await asyncio.to_thread(self._locked, _claim, conn, owner, host, pid, lease_ms)

    # -- the writer thread ----------------------------------------------------------------

    async def connect_writer(self) -> Any:
        if self._conn is None:
            raise StoreError(f"the SQLite store {self.path!r} is closed")
        return self._conn

    async def close_writer(self, conn: Any) -> None:
        return None  # the connection is the store's: close() closes it

    def drop_writer(self, conn: Any) -> None:
        return None

    async def heartbeat(self, conn: Any, owner: str, lease_ms: int) -> None:
        self._locked(_beat, conn, owner)

    async def release(self, conn: Any, owner: str) -> None:
        self._locked(_release, conn, owner)

    async def write(self, conn: Any, groups: Sequence[Group]) -> None:
        self._locked(_write, conn, groups)

    async def replay(self, conn: Any, ops: Sequence[tuple[int, Op]]) -> dict[int, BaseException]:
        failures: dict[int, BaseException] = self._locked(_replay, conn, ops)
        return failures

    def lost(self, conn: Any, exc: BaseException) -> bool:
        return False

    def transient(self, exc: BaseException) -> bool:
        return False

    def scrub(self, exc: BaseException) -> BaseException:
        return exc

    def _locked(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            return fn(*args)


# -- os.fork() ---------------------------------------------------------------------------
# SQLite keeps process-wide mutexes; a thread inside a SQLite call when another forks leaves
# them locked in the child forever (its first connect hangs: a forked SyncRouter, gunicorn
# --preload). Every SQLite call of a dialect runs under its ``_lock``, so a fork waits for the
# calls under way and lets none start until the child exists.

_DIALECTS: weakref.WeakSet[SQLiteDialect] = weakref.WeakSet()
_HELD: list[threading.Lock] = []


def _before_fork() -> None:
    for dialect in list(_DIALECTS):
        dialect._lock.acquire()
        _HELD.append(dialect._lock)


def _after_fork() -> None:
    while _HELD:
        _HELD.pop().release()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork
    )


# -- connection ---------------------------------------------------------------------------


def _create_private_file(path: str) -> None:
    """Create the database file readable by its owner only, before SQLite opens it (SQLite
    gives the -wal and -shm files the same mode). An existing file keeps its mode."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(f"cannot open store {path!r}: directory {parent!r} does not exist")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open store {path!r}: {exc.strerror or exc}") from exc
    os.close(fd)


def _connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    if path != ":memory:":
        _create_private_file(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    return conn


# -- writes -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _insert(write: Write, rows: int) -> str:
    one = "(" + ", ".join("?" * write.width) + ")"
    skip = " ON CONFLICT DO NOTHING" if write.replay else ""
    values = ", ".join([one] * rows)
    return f"INSERT INTO {write.table} ({', '.join(write.names)}) VALUES {values}{skip}"


@functools.lru_cache(maxsize=256)
def _update(write: Write, rows: int) -> str:
    names = write.names
    if rows == 1 or not _UPDATE_FROM:
        sets = ", ".join(f"{name} = ?" for name in names[:-1])
        return f"UPDATE {write.table} SET {sets} WHERE {write.key} = ?"
    one = "(" + ", ".join("?" * write.width) + ")"
    sets = ", ".join(f"{name} = u.column{i}" for i, name in enumerate(names[:-1], 1))
    values = ", ".join([one] * rows)
    return (
        f"UPDATE {write.table} SET {sets} FROM (VALUES {values}) AS u"
        f" WHERE {write.table}.{write.key} = u.column{write.width}"
    )


def _execute(conn: sqlite3.Connection, write: Write, rows: Sequence[Sequence[Any]]) -> None:
    if write.key is not None and not _UPDATE_FROM:
        conn.executemany(_update(write, 1), rows)
        return
    step = max(1, min(_MAX_ROWS, _LIMIT_VARIABLES // write.width))
    render = _update if write.key is not None else _insert
    for start in range(0, len(rows), step):
        part = rows[start : start + step]
        conn.execute(render(write, len(part)), [value for row in part for value in row])


def _write(conn: sqlite3.Connection, groups: Sequence[Group]) -> None:
    conn.execute("BEGIN")
    try:
        for write, rows in groups:
            _execute(conn, write, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _replay(conn: sqlite3.Connection, ops: Sequence[tuple[int, Op]]) -> dict[int, BaseException]:
    failures: dict[int, BaseException] = {}
    conn.execute("BEGIN")
    try:
        for i, (write, row, many) in ops:
            conn.execute("SAVEPOINT op")
            try:
                _execute(conn, write, row if many else [row])
            except Exception as exc:
                if not conn.in_transaction:  # SQLite rolled it all back (e.g. disk full)
                    raise
                failures[i] = exc
                conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return failures


# -- owners -------------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _beat(conn: sqlite3.Connection, owner: str) -> None:
    conn.execute("UPDATE store_owners SET heartbeat_at = ? WHERE owner = ?", (_now_ms(), owner))


def _release(conn: sqlite3.Connection, owner: str) -> None:
    conn.execute("DELETE FROM store_owners WHERE owner = ?", (owner,))


def _claim(conn: sqlite3.Connection, owner: str, host: str, pid: int, lease_ms: int) -> int:
    """Register ``owner``, then finalise the unfinished rows of the owners that are gone."""
    now = _now_ms()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO store_owners (owner, host, pid, started_at, heartbeat_at, lease_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (owner, host, pid, now, now, lease_ms),
        )
        owners = conn.execute(
            "SELECT owner, host, pid, heartbeat_at, lease_ms FROM store_owners"
        ).fetchall()
        gone = gone_owners(owners, host, now, exclude=owner)
        # Rows of owners without a lease row: written by a store that closed cleanly while
        # they were still in flight, or before owners were recorded (NULL: never finalised).
        rows = conn.execute(
            "SELECT id, history FROM provider_requests WHERE state NOT IN ('completed', 'failed')"
            " AND owner IS NOT NULL AND owner <> ?"
            " AND (owner NOT IN (SELECT owner FROM store_owners) OR owner IN"
            f" ({', '.join('?' * len(gone)) or 'NULL'}))",
            (owner, *gone),
        ).fetchall()
        conn.executemany(
            "UPDATE provider_requests SET state = 'failed', error_code = 'INTERRUPTED',"
            " error = ?, history = ?, updated_at = ? WHERE id = ?",
            [(INTERRUPTED_ERROR, interrupted_history(history), now, rid) for rid, history in rows],
        )
        conn.executemany("DELETE FROM store_owners WHERE owner = ?", [(o,) for o in gone])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return len(rows)
