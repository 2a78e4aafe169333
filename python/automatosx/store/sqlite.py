"""The SQLite store: aiosqlite, WAL, and a write-behind queue (``_writer.py``).

``save_*`` only enqueue (the router awaits them per request: the hot path); reads wait for
the writes made before them, so a store reads its own writes. See :class:`SQLiteStore`.
Lifecycle and writes live here; the reads in ``_sqlite_reads.py``; the SQL text and the row
decoders in ``_sql.py``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Literal

import aiosqlite

from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store._sql import (
    INSERT_ATTEMPT,
    INSERT_CHUNK,
    INSERT_HEALTH,
    INSERT_REQUEST,
    INSERT_RESPONSE,
    LABELS,
    UPDATE_REQUEST_STATE,
    dumps,
    history_json,
    rich_response_values,
)
from automatosx.store._sqlite_reads import SQLiteReads
from automatosx.store._writer import WriteBehind
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    RequestRecord,
    StoreState,
    WriteFailure,
    expect_type,
)
from automatosx.store.migrate import migrate

__all__ = ["Durability", "SQLiteStore"]

Durability = Literal["async", "sync"]


class SQLiteStore(SQLiteReads):
    """A :class:`~automatosx.store.Store` in one SQLite file (or ``":memory:"``).

    ``durability="async"`` (default): a save returns once queued; ``flush()``/``close()``
    wait for the commit. ``"sync"``: a save returns once its batch is committed.
    ``queue_size`` bounds the writes waiting; ``batch_size`` the writes per transaction.
    The loss window: the writer commits at least every ``commit_interval_ms``, and a save
    waits (never drops) while the oldest uncommitted write is older than ``max_lag_ms`` or
    the queue is full. A write that fails is reported at once (``write_errors``,
    ``drain_write_errors()``, ``on_write_error(failure)``, an ERROR log naming its request
    id); the rest of its batch is kept. A new database file is readable by its owner only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "async",
        queue_size: int = 10_000,
        batch_size: int = 512,
        busy_timeout_ms: int = 5_000,
        commit_interval_ms: float = 100,
        max_lag_ms: float = 500,
        on_write_error: Callable[[WriteFailure], object] | None = None,
    ) -> None:
        if durability not in ("async", "sync"):
            raise ConfigurationError(f"durability must be 'async' or 'sync', not {durability!r}")
        for name, value in (("queue_size", queue_size), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")
        for name, number in (
            ("commit_interval_ms", commit_interval_ms),
            ("max_lag_ms", max_lag_ms),
        ):
            if not isinstance(number, (int, float)) or isinstance(number, bool) or number <= 0:
                raise ConfigurationError(f"{name} must be a positive number, not {number!r}")
        if on_write_error is not None and not callable(on_write_error):
            raise ConfigurationError(
                f"on_write_error must be a callable taking a WriteFailure, not {on_write_error!r}"
            )
        self._path = os.fspath(path)
        self._durability: Durability = durability
        self._sync = durability == "sync"
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._commit_interval_ms = float(commit_interval_ms)
        self._max_lag_ms = float(max_lag_ms)
        self._on_write_error = on_write_error
        self._state = StoreState.UNOPENED
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction or read at a time on the connection
        self._writes: WriteBehind | None = None
        self._closing = False
        # What save_* call: the writer's own submit once open (one coroutine on the hot
        # path); after close() it refuses by itself.
        self._submit: Callable[..., Awaitable[None]] = self._refuse

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SQLiteStore:
        """The store of a ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or
        ``sqlite://:memory:`` URL (what ``open_store`` calls for the ``sqlite`` scheme)."""
        rest = url.partition("://")[2]
        if rest in (":memory:", "/:memory:"):
            return cls(":memory:", **kwargs)
        if not rest.startswith("/") or rest == "/":
            raise ConfigurationError(
                f"a SQLite store URL is sqlite:///relative.db, sqlite:////absolute.db or"
                f" sqlite://:memory:, not 'sqlite://{rest}'"
            )
        return cls(rest[1:], **kwargs)

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

    @property
    def write_errors(self) -> int:
        """Writes lost (or values left out of a row) since the store was opened."""
        return self._writes.write_errors if self._writes is not None else 0

    def drain_write_errors(self) -> list[WriteFailure]:
        """The write failures reported since the last call (the latest 1000), oldest first."""
        return self._writes.drain_write_errors() if self._writes is not None else []

    def write_lag_ms(self) -> float:
        """The age of the oldest write not yet committed (ms): what a crash now could lose."""
        return self._writes.lag_ms() if self._writes is not None else 0.0

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
            commit_interval_ms=self._commit_interval_ms,
            max_lag_ms=self._max_lag_ms,
            on_write_error=self._on_write_error,
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
        expect_type("save_request", record, RequestRecord)
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
                self._json(record.id, "save_request.metadata", record.metadata),
            ),
            key=record.id,
            prepare=self._bind_messages,
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
        expect_type("update_request_state", request_id, str)
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
            key=request_id,
        )

    async def save_attempt(self, record: AttemptRecord) -> None:
        expect_type("save_attempt", record, AttemptRecord)
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
                record.kind,
            ),
            key=record.request_id,
        )

    async def save_response(self, response: ProviderResponse) -> None:
        expect_type("save_response", response, ProviderResponse)
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
                self._json(response.request_id, "save_response.metadata", response.metadata),
                *rich_response_values(response),
            ),
            key=response.request_id,
        )

    async def save_stream_chunks(self, request_id: str, chunks: Sequence[ChunkRow]) -> None:
        expect_type("save_stream_chunks", request_id, str)
        expect_type("save_stream_chunks", chunks, (list, tuple))
        if chunks:
            rows = [(request_id, index, text, ts) for index, text, ts in chunks]
            await self._submit(INSERT_CHUNK, rows, many=True, key=request_id)

    async def save_health_check(self, health: ProviderHealth) -> None:
        expect_type("save_health_check", health, ProviderHealth)
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

    def _json(self, key: str, kind: str, value: dict[str, Any] | None) -> str | None:
        """``value`` as JSON; one that cannot be encoded is left out and reported, so a
        caller's odd metadata never fails its request."""
        if value is None:
            return None
        try:
            return dumps(value)
        except Exception as exc:
            if self._writes is not None:
                self._writes.report(key, kind, exc)
            return None

    def _bind_messages(self, params: tuple[Any, ...]) -> tuple[Any, ...]:
        """In the writer: the messages column as text (a LazyText is serialized here); text
        that cannot be produced is left out (``null``) and reported."""
        messages = params[3]
        if isinstance(messages, str):
            return params
        try:
            text = str(messages)
        except Exception as exc:
            assert self._writes is not None
            self._writes.report(params[0], "save_request.messages", exc)
            text = "null"
        return (*params[:3], text, *params[4:])

    async def _refuse(self, sql: str, params: Any, many: bool = False, **_: Any) -> None:
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

    # -- reads (the StoreReader methods are in _sqlite_reads.py) ---------------------------

    async def _reader(self) -> aiosqlite.Connection:
        await self._usable().drain()
        assert self._conn is not None
        return self._conn


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
        pending = aiosqlite.connect(path, isolation_level=None)
        # aiosqlite's thread is not a daemon: a store never closed would keep the interpreter
        # alive at exit. As a daemon it cannot; the writer flushes at the loop's shutdown.
        thread = getattr(pending, "_thread", None)
        if thread is not None:
            thread.daemon = True
        conn = await pending
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
