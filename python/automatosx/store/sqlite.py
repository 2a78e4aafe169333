"""The SQLite store: aiosqlite, WAL, and a write-behind queue (``_writer.py``).

``save_*`` only enqueue (the router awaits them per request: the hot path); reads wait for
the writes made before them, so a store reads its own writes. See :class:`SQLiteStore`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import date as Date
from types import TracebackType
from typing import Any, Literal

import aiosqlite

from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store._sql import (
    ATTEMPT_COLUMNS,
    INSERT_ATTEMPT,
    INSERT_CHUNK,
    INSERT_HEALTH,
    INSERT_REQUEST,
    INSERT_RESPONSE,
    LABELS,
    METRICS_COLUMNS,
    REQUEST_COLUMNS,
    RESPONSE_COLUMNS,
    UPDATE_REQUEST_STATE,
    attempt_from_row,
    fetch_in,
    fetchall,
    health_from_row,
    history_json,
    json_or_none,
    metrics_from_row,
    request_from_row,
    response_from_row,
    where_clause,
)
from automatosx.store._writer import WriteBehind
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
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction or read at a time on the connection
        self._writes: WriteBehind | None = None
        self._closing = False
        # What save_* call: the writer's own submit once open (one coroutine on the hot
        # path); after close() it refuses by itself.
        self._submit: Callable[..., Awaitable[None]] = self._refuse

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
        self._writes = WriteBehind(
            conn,
            self._lock,
            queue_size=self._queue_size,
            batch_size=self._batch_size,
            sync=self._sync,
            labels=LABELS,
        )
        self._submit = self._writes.submit
        self._state = StoreState.OPENED

    async def close(self) -> None:
        """Write everything queued, stop the writer, close the connection. Idempotent.

        Raises :class:`StoreError` (after closing) if writes failed since the last flush, or
        if the writer had stopped.
        """
        if self._state is StoreState.UNOPENED:
            self._state = StoreState.CLOSED
        if self._state is StoreState.CLOSED or self._closing:
            return
        self._closing = True
        writes = self._writes
        try:
            if writes is not None:
                await writes.close()
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._state = StoreState.CLOSED
        if writes is not None:
            if writes.error is not None:
                raise writes.error
            writes.raise_failures()

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
        writes = self._usable()
        await writes.drain()
        writes.raise_failures()

    # -- writes (the hot path) ------------------------------------------------------------

    async def save_request(self, record: RequestRecord) -> None:
        await self._submit(
            INSERT_REQUEST,
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
                history_json(record.history),
                record.created_at,
                record.updated_at,
                json_or_none(record.metadata),
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
        updated_at: int,
    ) -> None:
        await self._submit(
            UPDATE_REQUEST_STATE,
            (
                state,
                retry_count,
                history_json(history),
                error,
                error_code,
                updated_at,
                request_id,
            ),
        )

    async def save_attempt(self, record: AttemptRecord) -> None:
        await self._submit(
            INSERT_ATTEMPT,
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
            INSERT_RESPONSE,
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
                json_or_none(response.metadata),
            ),
        )

    async def save_stream_chunks(self, request_id: str, chunks: Sequence[ChunkRow]) -> None:
        if chunks:
            rows = [(request_id, index, text, ts) for index, text, ts in chunks]
            await self._submit(INSERT_CHUNK, rows, many=True)

    async def save_health_check(self, health: ProviderHealth) -> None:
        await self._submit(
            INSERT_HEALTH,
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

    async def _refuse(self, sql: str, params: Any, many: bool = False) -> None:
        """``_submit`` until the store is opened."""
        raise self._unusable()

    def _usable(self) -> WriteBehind:
        writes = self._writes
        if self._state is not StoreState.OPENED or writes is None or writes.error is not None:
            raise self._unusable()
        return writes

    def _unusable(self) -> StoreError:
        if self._writes is not None and self._writes.error is not None:
            return self._writes.error
        if self._state is StoreState.UNOPENED:
            return StoreError(
                "the store is not open: call `await store.open()` first, or use"
                " `async with open_store(url) as store:`"
            )
        return StoreError("the store is closed")

    # -- reads ----------------------------------------------------------------------------

    async def _reader(self) -> aiosqlite.Connection:
        await self._usable().drain()
        assert self._conn is not None
        return self._conn

    async def get_request(self, request_id: str) -> RequestRow | None:
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests WHERE id = ?",
                (request_id,),
            )
            if not rows:
                return None
            attempts = await fetchall(
                conn,
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts WHERE request_id = ?"
                " ORDER BY attempt",
                (request_id,),
            )
            responses = await fetchall(
                conn,
                f"SELECT {RESPONSE_COLUMNS} FROM provider_responses WHERE request_id = ?",
                (request_id,),
            )
            chunks = await fetchall(
                conn,
                "SELECT chunk_index, chunk_content, timestamp FROM stream_chunks"
                " WHERE request_id = ? ORDER BY chunk_index",
                (request_id,),
            )
        chunk_rows = [(int(i), str(text), int(ts)) for i, text, ts in chunks]
        return RequestRow(
            request=request_from_row(rows[0]),
            attempts=[attempt_from_row(row) for row in attempts],
            response=response_from_row(responses[0]) if responses else None,
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
        where, params = where_clause(state=state, provider=provider)
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests{where}"
                " ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            ids = [str(row[0]) for row in rows]
            attempts = await fetch_in(
                conn,
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts",
                ids,
                " ORDER BY request_id, attempt",
            )
            responses = await fetch_in(
                conn, f"SELECT {RESPONSE_COLUMNS} FROM provider_responses", ids, ""
            )
            counts = await fetch_in(
                conn, "SELECT request_id, COUNT(*) FROM stream_chunks", ids, " GROUP BY request_id"
            )
        attempts_by_id: dict[str, list[AttemptRecord]] = {}
        for row in attempts:
            attempts_by_id.setdefault(str(row[0]), []).append(attempt_from_row(row))
        response_by_id = {str(row[0]): response_from_row(row) for row in responses}
        count_by_id = {str(row[0]): int(row[1]) for row in counts}
        return [
            RequestRow(
                request=request_from_row(row),
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
        where, params = where_clause(provider=provider, date=day)
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                f"SELECT {METRICS_COLUMNS} FROM provider_metrics{where}"
                " ORDER BY date, provider, model",
                params,
            )
        return [metrics_from_row(row) for row in rows]

    async def get_provider_health(
        self, provider: str | None = None, limit: int = 100
    ) -> list[ProviderHealth]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        where, params = where_clause(provider=provider)
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                "SELECT provider, status, latency, rate_limit_remaining, rate_limit_reset,"
                f" error_message, checked_at FROM provider_health{where}"
                " ORDER BY checked_at DESC, id DESC LIMIT ?",
                (*params, limit),
            )
        return [health_from_row(row) for row in rows]


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
