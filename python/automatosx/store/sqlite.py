"""The SQLite store: aiosqlite, WAL, and a write-behind queue.

``save_*`` only puts a row on a bounded queue (the router awaits it per request, so this is
the hot path); one writer task drains the queue in batches, one transaction per batch, in
FIFO order, running consecutive identical statements as one ``executemany``. A full queue
makes callers wait for space; nothing is ever dropped.

Failures: a batch that fails is rolled back and replayed row by row (one savepoint each), so
only the rows that fail are lost. With ``durability="sync"`` the failing save raises
:class:`StoreError`; with ``"async"`` the failure is reported by the next ``flush()`` or
``close()``. Reads wait for the writes made before them, so a store reads its own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import date as Date
from types import TracebackType
from typing import Any, Literal

import aiosqlite

from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    MetricsRow,
    RequestRecord,
    RequestRow,
    StoreState,
)
from automatosx.store.migrate import migrate

__all__ = ["Durability", "SQLiteStore"]

Durability = Literal["async", "sync"]

# (sql, parameters: one row, or a list of rows when `many`, many, waiter when durability=sync)
_Op = tuple[str, Any, bool, "asyncio.Future[None] | None"]

_INSERT_REQUEST = (
    "INSERT INTO provider_requests (id, provider, model, messages, max_tokens, temperature,"
    " stream, state, retry_count, error, error_code, history, created_at, updated_at, metadata)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_REQUEST_STATE = (
    "UPDATE provider_requests SET state = ?, retry_count = ?, history = ?, error = ?,"
    " error_code = ?, provider = COALESCE(?, provider), model = COALESCE(?, model),"
    " updated_at = ? WHERE id = ?"
)
_INSERT_ATTEMPT = (
    "INSERT INTO provider_attempts (request_id, attempt, provider, model, outcome, error_code,"
    " error, status_code, duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RESPONSE = (
    "INSERT INTO provider_responses (request_id, provider, model, content, input_tokens,"
    " output_tokens, total_tokens, finish_reason, duration, cost, created_at, metadata)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CHUNK = (
    "INSERT INTO stream_chunks (request_id, chunk_index, chunk_content, timestamp)"
    " VALUES (?, ?, ?, ?)"
)
_INSERT_HEALTH = (
    "INSERT INTO provider_health (provider, status, latency, rate_limit_remaining,"
    " rate_limit_reset, error_message, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_LABELS = {
    _INSERT_REQUEST: "save_request",
    _UPDATE_REQUEST_STATE: "update_request_state",
    _INSERT_ATTEMPT: "save_attempt",
    _INSERT_RESPONSE: "save_response",
    _INSERT_CHUNK: "save_stream_chunks",
    _INSERT_HEALTH: "save_health_check",
}

_REQUEST_COLUMNS = (
    "id, provider, model, messages, max_tokens, temperature, stream, state, retry_count,"
    " history, created_at, updated_at, metadata, error, error_code"
)
_ATTEMPT_COLUMNS = (
    "request_id, attempt, provider, model, outcome, error_code, error, status_code, duration,"
    " created_at"
)
_RESPONSE_COLUMNS = (
    "request_id, provider, model, content, input_tokens, output_tokens, total_tokens,"
    " finish_reason, duration, cost, created_at, metadata"
)
_METRICS_COLUMNS = (
    "provider, model, date, request_count, success_count, failure_count, total_input_tokens,"
    " total_output_tokens, total_tokens, total_cost, total_duration"
)
_MAX_REPORTED_ERRORS = 10
_IN_BATCH = 500  # ids per `IN (...)` query, well under SQLite's variable limit

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else _dumps(value)


class SQLiteStore:
    """A :class:`~automatosx.store.Store` in one SQLite file (or ``":memory:"``).

    ``durability="async"`` (default): a save returns once queued; ``flush()``/``close()``
    wait for the commit. ``"sync"``: a save returns once its batch is committed.
    ``queue_size`` bounds the rows waiting to be written; ``batch_size`` the rows per
    transaction. A new database file is created readable by its owner only (0o600).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "async",
        queue_size: int = 10_000,
        batch_size: int = 512,
        busy_timeout_ms: int = 5_000,
    ) -> None:
        if durability not in ("async", "sync"):
            raise ConfigurationError(f"durability must be 'async' or 'sync', not {durability!r}")
        for name, value in (("queue_size", queue_size), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")
        self._path = os.fspath(path)
        self._durability: Durability = durability
        self._sync = durability == "sync"
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._state = StoreState.UNOPENED
        self._accepting = False  # True while OPENED and not closing: the hot-path check
        self._closing = False
        self._stopping_writer = False  # close() is cancelling the writer: not a failure
        self._conn: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Op] = asyncio.Queue(queue_size)
        self._lock = asyncio.Lock()  # one transaction or read at a time on the connection
        self._writer: asyncio.Task[None] | None = None
        self._writer_error: StoreError | None = None
        self._enqueued = 0  # ops put on the queue
        self._done = 0  # ops written or failed
        self._blocked_puts = 0  # callers waiting for queue space
        self._flushers: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._inflight: list[_Op] = []  # the batch being written
        self._failures: list[StoreError] = []
        self._failure_count = 0

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r}, durability={self._durability!r}, {self.state.value})"

    @property
    def path(self) -> str:
        return self._path

    @property
    def durability(self) -> Durability:
        return self._durability

    @property
    def state(self) -> StoreState:
        return self._state

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Create (0o600) or open the database, migrate it, start the writer."""
        if self._state is StoreState.OPENED:
            raise StoreError(f"{self!r} is already open")
        if self._state is StoreState.CLOSED:
            raise StoreError(f"{self!r} is closed; a closed store cannot be reopened")
        conn = await _connect(self._path, self._busy_timeout_ms)
        try:
            await migrate(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._writer = asyncio.create_task(self._run_writer(), name="automatosx-store-writer")
        self._writer.add_done_callback(self._on_writer_exit)
        self._state = StoreState.OPENED
        self._accepting = True

    async def close(self) -> None:
        """Write everything queued, stop the writer, close the connection. Idempotent.

        Raises :class:`StoreError` (after closing) if writes failed since the last flush, or
        if the writer had stopped.
        """
        if self._state is StoreState.UNOPENED:
            self._state = StoreState.CLOSED
            return
        if self._state is StoreState.CLOSED or self._closing:
            return
        self._closing = True
        self._accepting = False
        try:
            while self._writer_error is None:
                await self._drain()
                if self._blocked_puts == 0 and self._done >= self._enqueued:
                    break
                await asyncio.sleep(0)  # let callers woken with queue space enqueue
        finally:
            self._stopping_writer = True
            if self._writer is not None:
                self._writer.cancel()
                await asyncio.wait([self._writer])
            if self._conn is not None:
                await self._conn.close()
            self._state = StoreState.CLOSED
        if self._writer_error is not None:
            raise self._writer_error
        self._raise_failures()

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def flush(self) -> None:
        """Wait until every write made so far is committed (or has failed).

        Raises :class:`StoreError` if writes failed since the last flush (``async`` mode).
        """
        self._check_usable()
        await self._drain()
        self._raise_failures()

    # -- writes (the hot path) ------------------------------------------------------------

    async def save_request(self, record: RequestRecord) -> None:
        await self._submit(
            _INSERT_REQUEST,
            (
                record.id,
                record.provider,
                record.model,
                record.messages,
                record.max_tokens,
                record.temperature,
                1 if record.stream else 0,
                record.state,
                record.retry_count,
                record.error,
                record.error_code,
                _dumps(record.history),
                record.created_at,
                record.updated_at,
                _json_or_none(record.metadata),
            ),
        )

    async def update_request_state(
        self,
        request_id: str,
        *,
        state: str,
        retry_count: int,
        history: list[str],
        error: str | None = None,
        error_code: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        updated_at: int,
    ) -> None:
        await self._submit(
            _UPDATE_REQUEST_STATE,
            (
                state,
                retry_count,
                _dumps(history),
                error,
                error_code,
                provider,
                model,
                updated_at,
                request_id,
            ),
        )

    async def save_attempt(self, record: AttemptRecord) -> None:
        await self._submit(
            _INSERT_ATTEMPT,
            (
                record.request_id,
                record.attempt,
                record.provider,
                record.model,
                record.outcome,
                record.error_code,
                record.error,
                record.status_code,
                record.duration,
                record.created_at,
            ),
        )

    async def save_response(self, response: ProviderResponse) -> None:
        tokens = response.tokens
        await self._submit(
            _INSERT_RESPONSE,
            (
                response.request_id,
                response.provider,
                response.model,
                response.content,
                tokens.input_tokens,
                tokens.output_tokens,
                tokens.total_tokens,
                response.finish_reason,
                response.duration,
                response.cost,
                response.created_at,
                _json_or_none(response.metadata),
            ),
        )

    async def save_stream_chunks(self, request_id: str, chunks: Sequence[ChunkRow]) -> None:
        if chunks:
            rows = [(request_id, index, text, ts) for index, text, ts in chunks]
            await self._submit(_INSERT_CHUNK, rows, many=True)

    async def save_health_check(self, health: ProviderHealth) -> None:
        await self._submit(
            _INSERT_HEALTH,
            (
                health.provider,
                health.status,
                health.latency,
                health.rate_limit_remaining,
                health.rate_limit_reset,
                health.error,
                health.last_checked,
            ),
        )

    async def _submit(self, sql: str, params: Any, many: bool = False) -> None:
        if not self._accepting:
            raise self._unusable()
        waiter: asyncio.Future[None] | None = None
        if self._sync:
            waiter = asyncio.get_running_loop().create_future()
        op: _Op = (sql, params, many, waiter)
        try:
            self._queue.put_nowait(op)
        except asyncio.QueueFull:
            await self._put_when_space(op)
        self._enqueued += 1
        if waiter is not None:
            await waiter

    async def _put_when_space(self, op: _Op) -> None:
        """Back-pressure: wait for the writer to make room; never drop."""
        self._blocked_puts += 1
        try:
            await self._queue.put(op)
        finally:
            self._blocked_puts -= 1
        if self._writer_error is not None:
            raise self._writer_error

    # -- the writer -----------------------------------------------------------------------

    async def _run_writer(self) -> None:
        queue = self._queue
        limit = self._batch_size
        while True:
            batch = [await queue.get()]
            while len(batch) < limit:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            self._inflight = batch
            failures = await self._write_batch(batch)
            self._settle(batch, failures)
            self._inflight = []
            self._done += len(batch)
            self._wake_flushers()

    async def _write_batch(self, batch: list[_Op]) -> dict[int, BaseException]:
        """Write one batch in one transaction; on failure, replay it row by row."""
        conn = self._conn
        assert conn is not None
        async with self._lock:
            try:
                try:
                    await _execute_grouped(conn, batch)
                    return {}
                except sqlite3.Error:
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                return await _execute_one_by_one(conn, batch)
            except Exception as exc:  # the connection itself failed: every row is lost
                if conn.in_transaction:
                    await _rollback_quietly(conn)
                return dict.fromkeys(range(len(batch)), exc)

    def _settle(self, batch: list[_Op], failures: dict[int, BaseException]) -> None:
        if not failures and not self._sync:
            return
        for i, (sql, _params, _many, waiter) in enumerate(batch):
            cause = failures.get(i)
            if cause is None:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            error = StoreError(f"{_LABELS.get(sql, 'write')} failed: {cause}")
            error.__cause__ = cause
            if waiter is not None:
                if not waiter.done():
                    waiter.set_exception(error)
            else:
                self._failure_count += 1
                if len(self._failures) < _MAX_REPORTED_ERRORS:
                    self._failures.append(error)

    def _wake_flushers(self) -> None:
        flushers = self._flushers
        while flushers and flushers[0][0] <= self._done:
            _, future = flushers.popleft()
            if not future.done():
                future.set_result(None)

    def _on_writer_exit(self, task: asyncio.Task[None]) -> None:
        if self._stopping_writer:
            return
        self._accepting = False
        self._writer_error = StoreError("the store's writer task stopped unexpectedly")
        if not task.cancelled() and task.exception() is not None:
            self._writer_error.__cause__ = task.exception()
        while self._flushers:
            _, future = self._flushers.popleft()
            if not future.done():
                future.set_exception(self._writer_error)
        lost = list(self._inflight)
        while not self._queue.empty():
            lost.append(self._queue.get_nowait())
        for _sql, _params, _many, waiter in lost:
            if waiter is not None and not waiter.done():
                waiter.set_exception(self._writer_error)

    async def _drain(self) -> None:
        """Wait until the ops enqueued so far are written (or failed); never raises them."""
        target = self._enqueued
        if self._done >= target:
            return
        if self._writer_error is not None:
            raise self._writer_error
        future = asyncio.get_running_loop().create_future()
        self._flushers.append((target, future))
        await future

    def _raise_failures(self) -> None:
        if not self._failure_count:
            return
        count, first = self._failure_count, self._failures[0]
        self._failures, self._failure_count = [], 0
        raise StoreError(
            f"{count} write(s) failed since the last flush; the first: {first}"
        ) from first

    def _check_usable(self) -> None:
        if self._state is not StoreState.OPENED or self._writer_error is not None:
            raise self._unusable()

    def _unusable(self) -> StoreError:
        if self._writer_error is not None:
            return self._writer_error
        if self._state is StoreState.UNOPENED:
            return StoreError(
                "the store is not open: call `await store.open()` first, or use"
                " `async with open_store(url) as store:`"
            )
        return StoreError("the store is closed")

    # -- reads ----------------------------------------------------------------------------

    async def _reader(self) -> aiosqlite.Connection:
        self._check_usable()
        await self._drain()
        assert self._conn is not None
        return self._conn

    async def get_request(self, request_id: str) -> RequestRow | None:
        conn = await self._reader()
        async with self._lock:
            rows = await _fetchall(
                conn,
                f"SELECT {_REQUEST_COLUMNS} FROM provider_requests WHERE id = ?",
                (request_id,),
            )
            if not rows:
                return None
            attempts = await _fetchall(
                conn,
                f"SELECT {_ATTEMPT_COLUMNS} FROM provider_attempts WHERE request_id = ?"
                " ORDER BY attempt",
                (request_id,),
            )
            responses = await _fetchall(
                conn,
                f"SELECT {_RESPONSE_COLUMNS} FROM provider_responses WHERE request_id = ?",
                (request_id,),
            )
            chunks = await _fetchall(
                conn,
                "SELECT chunk_index, chunk_content, timestamp FROM stream_chunks"
                " WHERE request_id = ? ORDER BY chunk_index",
                (request_id,),
            )
        chunk_rows = [(int(i), str(text), int(ts)) for i, text, ts in chunks]
        return RequestRow(
            request=_request(rows[0]),
            attempts=[_attempt(row) for row in attempts],
            response=_response(responses[0]) if responses else None,
            chunk_count=len(chunk_rows),
            chunks=chunk_rows,
        )

    async def list_requests(
        self,
        *,
        state: str | None = None,
        provider: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RequestRow]:
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, not {limit} and {offset}")
        where, params = _where(state=state, provider=provider)
        conn = await self._reader()
        async with self._lock:
            rows = await _fetchall(
                conn,
                f"SELECT {_REQUEST_COLUMNS} FROM provider_requests{where}"
                " ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            ids = [str(row[0]) for row in rows]
            attempts = await _fetch_in(
                conn,
                f"SELECT {_ATTEMPT_COLUMNS} FROM provider_attempts",
                ids,
                " ORDER BY request_id, attempt",
            )
            responses = await _fetch_in(
                conn, f"SELECT {_RESPONSE_COLUMNS} FROM provider_responses", ids, ""
            )
            counts = await _fetch_in(
                conn, "SELECT request_id, COUNT(*) FROM stream_chunks", ids, " GROUP BY request_id"
            )
        attempts_by_id: dict[str, list[AttemptRecord]] = {}
        for row in attempts:
            attempts_by_id.setdefault(str(row[0]), []).append(_attempt(row))
        response_by_id = {str(row[0]): _response(row) for row in responses}
        count_by_id = {str(row[0]): int(row[1]) for row in counts}
        return [
            RequestRow(
                request=_request(row),
                attempts=attempts_by_id.get(str(row[0]), []),
                response=response_by_id.get(str(row[0])),
                chunk_count=count_by_id.get(str(row[0]), 0),
            )
            for row in rows
        ]

    async def get_provider_metrics(
        self, provider: str | None = None, date: str | Date | None = None
    ) -> list[MetricsRow]:
        day = date.isoformat() if isinstance(date, Date) else date
        where, params = _where(provider=provider, date=day)
        conn = await self._reader()
        async with self._lock:
            rows = await _fetchall(
                conn,
                f"SELECT {_METRICS_COLUMNS} FROM provider_metrics{where}"
                " ORDER BY date, provider, model",
                params,
            )
        return [_metrics(row) for row in rows]

    async def get_provider_health(
        self, provider: str | None = None, limit: int = 100
    ) -> list[ProviderHealth]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        where, params = _where(provider=provider)
        conn = await self._reader()
        async with self._lock:
            rows = await _fetchall(
                conn,
                "SELECT provider, status, latency, rate_limit_remaining, rate_limit_reset,"
                f" error_message, checked_at FROM provider_health{where}"
                " ORDER BY checked_at DESC, id DESC LIMIT ?",
                (*params, limit),
            )
        return [_health(row) for row in rows]


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


async def _connect(path: str, busy_timeout_ms: int) -> aiosqlite.Connection:
    if path != ":memory:":
        _create_private_file(path)
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    try:
        await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        await conn.close()
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    except BaseException:
        await conn.close()
        raise
    return conn


# -- batch execution ----------------------------------------------------------------------


def _grouped(batch: list[_Op]) -> Iterable[tuple[str, list[Any]]]:
    """Consecutive ops with the same statement, as (sql, rows): FIFO order is kept."""
    sql: str | None = None
    rows: list[Any] = []
    for op_sql, params, many, _ in batch:
        if op_sql != sql:
            if sql is not None:
                yield sql, rows
            sql, rows = op_sql, []
        if many:
            rows.extend(params)
        else:
            rows.append(params)
    if sql is not None:
        yield sql, rows


async def _execute_grouped(conn: aiosqlite.Connection, batch: list[_Op]) -> None:
    await conn.execute("BEGIN")
    for sql, rows in _grouped(batch):
        if len(rows) == 1:
            await conn.execute(sql, rows[0])
        else:
            await conn.executemany(sql, rows)
    await conn.execute("COMMIT")


async def _execute_one_by_one(
    conn: aiosqlite.Connection, batch: list[_Op]
) -> dict[int, BaseException]:
    """Replay a failed batch, one savepoint per op; return the ops that failed, by index."""
    failures: dict[int, BaseException] = {}
    await conn.execute("BEGIN")
    for i, (sql, params, many, _) in enumerate(batch):
        await conn.execute("SAVEPOINT op")
        try:
            if many:
                await conn.executemany(sql, params)
            else:
                await conn.execute(sql, params)
        except sqlite3.Error as exc:
            failures[i] = exc
            await conn.execute("ROLLBACK TO op")
        await conn.execute("RELEASE op")
    await conn.execute("COMMIT")
    return failures


async def _rollback_quietly(conn: aiosqlite.Connection) -> None:
    with contextlib.suppress(sqlite3.Error, ValueError):
        await conn.execute("ROLLBACK")


# -- reads --------------------------------------------------------------------------------


async def _fetchall(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    return list(await conn.execute_fetchall(sql, params))


async def _fetch_in(
    conn: aiosqlite.Connection, select: str, ids: list[str], tail: str
) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    for start in range(0, len(ids), _IN_BATCH):
        part = ids[start : start + _IN_BATCH]
        marks = ", ".join("?" * len(part))
        rows += await _fetchall(conn, f"{select} WHERE request_id IN ({marks}){tail}", part)
    return rows


def _where(**filters: object) -> tuple[str, list[object]]:
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{column} = ?" for column in used), list(used.values())


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _request(row: sqlite3.Row) -> RequestRecord:
    return RequestRecord(
        id=row[0],
        provider=row[1],
        model=row[2],
        messages=row[3],
        max_tokens=row[4],
        temperature=row[5],
        stream=bool(row[6]),
        state=row[7],
        retry_count=row[8],
        history=json.loads(row[9]),
        created_at=row[10],
        updated_at=row[11],
        metadata=_loads(row[12]),
        error=row[13],
        error_code=row[14],
    )


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    return AttemptRecord(*row)


def _response(row: sqlite3.Row) -> ProviderResponse:
    return ProviderResponse.model_validate(
        {
            "request_id": row[0],
            "provider": row[1],
            "model": row[2],
            "content": row[3],
            "tokens": {"input_tokens": row[4], "output_tokens": row[5], "total_tokens": row[6]},
            "finish_reason": row[7],
            "duration": row[8],
            "cost": row[9],
            "created_at": row[10],
            "metadata": _loads(row[11]),
        }
    )


def _metrics(row: sqlite3.Row) -> MetricsRow:
    return MetricsRow(*row)


def _health(row: sqlite3.Row) -> ProviderHealth:
    return ProviderHealth.model_validate(
        {
            "provider": row[0],
            "status": row[1],
            "latency": row[2],
            "rate_limit_remaining": row[3],
            "rate_limit_reset": row[4],
            "error": row[5],
            "last_checked": row[6],
        }
    )
