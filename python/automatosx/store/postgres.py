"""The PostgreSQL store: asyncpg, a write-behind queue (``_pg_writer.py``), a read pool.

One database may be shared by many router processes: migrations run under an advisory lock
(``_pg_migrate.py``) and ``provider_metrics`` is kept by upserting triggers, so concurrent
writers add up. ``save_*`` only enqueue; reads wait for the writes made before them, so a store
reads its own writes. See :class:`PostgresStore`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date as Date
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store._pg_migrate import migrate_postgres
from automatosx.store._pg_sql import (
    ATTEMPT_COLUMNS,
    INSERT_ATTEMPT,
    INSERT_CHUNK,
    INSERT_HEALTH,
    INSERT_REQUEST,
    INSERT_RESPONSE,
    METRICS_COLUMNS,
    REQUEST_COLUMNS,
    RESPONSE_COLUMNS,
    UPDATE_REQUEST_STATE,
    Statement,
    attempt_from_row,
    health_from_row,
    metrics_from_row,
    request_from_row,
    response_from_row,
    where_clause,
)
from automatosx.store._sql import history_json, json_or_none, rich_response_values
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    MetricsRow,
    RequestRecord,
    RequestRow,
    StoreState,
)

__all__ = ["PgDurability", "PostgresStore", "create_postgres_store", "redact_url"]

PgDurability = Literal["write-behind", "async", "sync"]


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and reprs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class PostgresStore:
    """A :class:`~automatosx.store.Store` in a PostgreSQL database (``postgresql://...``).

    ``durability="write-behind"`` (default): a save returns once queued; ``flush()``/``close()``
    wait for the commit. ``"sync"``: a save returns once its batch is committed.
    ``queue_size`` bounds the ops waiting to be written (a full queue makes savers wait);
    ``batch_size`` the ops per transaction; ``pool_size`` the connections used for reads
    (the writer has one more of its own). ``connect_kwargs`` go to ``asyncpg.connect``.
    """

    def __init__(
        self,
        url: str,
        *,
        durability: PgDurability = "write-behind",
        queue_size: int = 10_000,
        batch_size: int = 1_024,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        **connect_kwargs: Any,
    ) -> None:
        if durability == "async":  # the SQLite store's name for write-behind
            durability = "write-behind"
        if durability not in ("write-behind", "sync"):
            raise ConfigurationError(
                f"durability must be 'write-behind' (or 'async') or 'sync', not {durability!r}"
            )
        for name, value in (
            ("queue_size", queue_size),
            ("batch_size", batch_size),
            ("pool_size", pool_size),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")
        scheme = url.partition("://")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(
                f"a PostgreSQL store URL starts with postgresql:// or postgres://, not"
                f" {scheme + '://' if '://' in url else 'none'}"
                " (e.g. 'postgresql://user:password@host:5432/dbname')"
            )
        self._url = url
        self._durability: PgDurability = durability
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._pool_size = pool_size
        self._connect_kwargs = {"timeout": connect_timeout, **connect_kwargs}
        self._state = StoreState.UNOPENED
        self._pool: Any | None = None
        self._writes: Any | None = None  # PgWriteBehind, once open
        self._closing = False
        self._submit: Callable[..., Awaitable[None]] = self._refuse

    def __repr__(self) -> str:
        return (
            f"PostgresStore({redact_url(self._url)!r}, durability={self._durability!r},"
            f" {self.state.value})"
        )

    @property
    def url(self) -> str:
        """The URL, password redacted."""
        return redact_url(self._url)

    @property
    def durability(self) -> PgDurability:
        return self._durability

    @property
    def state(self) -> StoreState:
        return self._state

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, migrate (under the advisory lock), start the writer and the read pool."""
        if self._state is StoreState.OPENED:
            raise StoreError(f"{self!r} is already open")
        if self._state is StoreState.CLOSED:
            raise StoreError(f"{self!r} is closed; a closed store cannot be reopened")
        from automatosx.store._pg_writer import PgWriteBehind

        conn = await self._connect()
        try:
            await migrate_postgres(conn)
            pool = await self._create_pool()
        except BaseException:
            await conn.close()
            raise
        self._pool = pool
        self._writes = PgWriteBehind(
            conn,
            self._connect,
            queue_size=self._queue_size,
            batch_size=self._batch_size,
            sync=self._durability == "sync",
        )
        self._submit = self._writes.submit
        self._state = StoreState.OPENED

    async def _connect(self) -> Any:
        import asyncpg

        try:
            return await asyncpg.connect(self._url, **self._connect_kwargs)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot open store {self.url!r}: {_one_line(exc)}") from exc

    async def _create_pool(self) -> Any:
        import asyncpg

        try:
            return await asyncpg.create_pool(
                self._url, min_size=1, max_size=self._pool_size, **self._connect_kwargs
            )
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot open store {self.url!r}: {_one_line(exc)}") from exc

    async def close(self) -> None:
        """Write everything queued, stop the writer, close the connections. Idempotent.

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
            if self._pool is not None:
                await self._pool.close()
            self._state = StoreState.CLOSED
        if writes is not None:
            if writes.error is not None:
                raise writes.error
            writes.raise_failures()

    async def __aenter__(self) -> PostgresStore:
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

        Raises :class:`StoreError` if writes failed since the last flush (write-behind).
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
                record.stream,
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
            (state, retry_count, history_json(history), error, error_code, updated_at, request_id),
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
                *rich_response_values(response),
            ),
        )

    async def save_stream_chunks(self, request_id: str, chunks: Sequence[ChunkRow]) -> None:
        if chunks:
            rows = [(request_id, index, text, ts) for index, text, ts in chunks]
            await self._submit(INSERT_CHUNK, rows, True)

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

    async def _refuse(self, statement: Statement, params: Any, many: bool = False) -> None:
        """``_submit`` until the store is opened."""
        raise self._unusable()

    def _usable(self) -> Any:
        writes = self._writes
        if self._state is not StoreState.OPENED or writes is None or writes.error is not None:
            raise self._unusable()
        return writes

    def _unusable(self) -> StoreError:
        if self._writes is not None and self._writes.error is not None:
            error: StoreError = self._writes.error
            return error
        if self._state is StoreState.UNOPENED:
            return StoreError(
                "the store is not open: call `await store.open()` first, or use"
                " `async with open_store(url) as store:`"
            )
        return StoreError("the store is closed")

    # -- reads ----------------------------------------------------------------------------

    async def _fetch(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        """Run queries on one pooled connection, in one read-only snapshot, after the writes
        made so far are committed."""
        await self._usable().drain()
        assert self._pool is not None
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return [await conn.fetch(sql, *params) for sql, params in queries]

    async def get_request(self, request_id: str) -> RequestRow | None:
        rows, attempts, responses, chunks = await self._fetch(
            (f"SELECT {REQUEST_COLUMNS} FROM provider_requests WHERE id = $1", (request_id,)),
            (
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts WHERE request_id = $1"
                " ORDER BY attempt",
                (request_id,),
            ),
            (
                f"SELECT {RESPONSE_COLUMNS} FROM provider_responses WHERE request_id = $1",
                (request_id,),
            ),
            (
                "SELECT chunk_index, chunk_content, timestamp FROM stream_chunks"
                " WHERE request_id = $1 ORDER BY chunk_index",
                (request_id,),
            ),
        )
        if not rows:
            return None
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
        n = len(params)
        # The page is chosen once (a CTE) and its children are read in the same snapshot.
        page = (
            f"WITH page AS (SELECT id FROM provider_requests{where}"
            f" ORDER BY created_at DESC, id LIMIT ${n + 1} OFFSET ${n + 2})"
        )
        args = (*params, limit, offset)
        rows, attempts, responses, counts = await self._fetch(
            (
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests{where}"
                f" ORDER BY created_at DESC, id LIMIT ${n + 1} OFFSET ${n + 2}",
                args,
            ),
            (
                f"{page} SELECT {ATTEMPT_COLUMNS} FROM provider_attempts"
                " WHERE request_id IN (SELECT id FROM page) ORDER BY request_id, attempt",
                args,
            ),
            (
                f"{page} SELECT {RESPONSE_COLUMNS} FROM provider_responses"
                " WHERE request_id IN (SELECT id FROM page)",
                args,
            ),
            (
                f"{page} SELECT request_id, COUNT(*) FROM stream_chunks"
                " WHERE request_id IN (SELECT id FROM page) GROUP BY request_id",
                args,
            ),
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
        [rows] = await self._fetch(
            (
                f"SELECT {METRICS_COLUMNS} FROM provider_metrics{where}"
                " ORDER BY date, provider, model",
                params,
            )
        )
        return [metrics_from_row(row) for row in rows]

    async def get_provider_health(
        self, provider: str | None = None, limit: int = 100
    ) -> list[ProviderHealth]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        where, params = where_clause(provider=provider)
        [rows] = await self._fetch(
            (
                "SELECT provider, status, latency, rate_limit_remaining, rate_limit_reset,"
                f" error_message, checked_at FROM provider_health{where}"
                f" ORDER BY checked_at DESC, id DESC LIMIT ${len(params) + 1}",
                (*params, limit),
            )
        )
        return [health_from_row(row) for row in rows]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def create_postgres_store(url: str, **kwargs: Any) -> PostgresStore:
    """The store for a ``postgresql://`` or ``postgres://`` URL, not yet opened (the factory
    to register for those schemes). ``kwargs`` go to :class:`PostgresStore`."""
    return PostgresStore(url, **kwargs)
