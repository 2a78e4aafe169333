"""The PostgreSQL store: asyncpg, a write-behind queue (``_pg_writer.py``), a read pool.

One database may be shared by many router processes: migrations run under an advisory lock
(``_pg_migrate.py``) and ``provider_metrics`` is kept by upserting triggers, so concurrent
writers add up. ``save_*`` only enqueue; reads wait for the writes made before them, so a store
reads its own writes. See :class:`PostgresStore`. Lifecycle and writes live here; the reads in
``_pg_reads.py``; the SQL in ``_pg_sql.py``; the queue in ``_pg_writer.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store._pg_migrate import migrate_postgres
from automatosx.store._pg_reads import PgReads
from automatosx.store._pg_sql import (
    INSERT_ATTEMPT,
    INSERT_CHUNK,
    INSERT_HEALTH,
    INSERT_REQUEST,
    INSERT_RESPONSE,
    UPDATE_REQUEST_STATE,
)
from automatosx.store._sql import dumps, history_json, rich_response_values
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    RequestRecord,
    StoreState,
    WriteFailure,
    expect_type,
)

if TYPE_CHECKING:
    from automatosx.store._pg_writer import PgWriteBehind

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


class PostgresStore(PgReads):
    """A :class:`~automatosx.store.Store` in a PostgreSQL database (``postgresql://...``).

    ``durability="write-behind"`` (default; ``"async"`` is the same, the SQLite store's name):
    a save returns once queued; ``flush()``/``close()`` wait for the commit. ``"sync"``: a save
    returns once its batch is committed. ``queue_size`` bounds the ops waiting to be written;
    ``batch_size`` the ops per batch; ``pool_size`` the connections used for reads;
    ``writers`` the connections that write a large batch together, split by request id
    (each request's writes stay in order on one of them). A store uses up to
    ``pool_size + writers`` connections. ``connect_kwargs`` go to ``asyncpg.connect``.

    The loss window, as in the SQLite store: the writer commits at least every
    ``commit_interval_ms``, and a save waits (never drops) while the oldest uncommitted write
    is older than ``max_lag_ms`` or the queue is full. A write that fails is reported at once
    (``write_errors``, ``drain_write_errors()``, ``on_write_error(failure)``, an ERROR log
    naming its request id); the rest of its batch is kept.
    """

    def __init__(
        self,
        url: str,
        *,
        durability: PgDurability = "write-behind",
        queue_size: int = 10_000,
        batch_size: int = 1_024,
        pool_size: int = 4,
        writers: int = 2,
        connect_timeout: float = 10.0,
        commit_interval_ms: float = 100,
        max_lag_ms: float = 500,
        on_write_error: Callable[[WriteFailure], object] | None = None,
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
            ("writers", writers),
        ):
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
        self._writers = writers
        self._commit_interval_ms = float(commit_interval_ms)
        self._max_lag_ms = float(max_lag_ms)
        self._on_write_error = on_write_error
        self._connect_kwargs = {"timeout": connect_timeout, **connect_kwargs}
        self._state = StoreState.UNOPENED
        self._pool: Any | None = None
        self._writes: PgWriteBehind | None = None
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
            commit_interval_ms=self._commit_interval_ms,
            max_lag_ms=self._max_lag_ms,
            on_write_error=self._on_write_error,
            writers=self._writers,
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
            if writes is not None:
                await writes.close_connection()
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
        expect_type("save_request", record, RequestRecord)
        await self._submit(
            INSERT_REQUEST.one,
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
            UPDATE_REQUEST_STATE.one,
            (state, retry_count, history_json(history), error, error_code, updated_at, request_id),
            key=request_id,
        )

    async def save_attempt(self, record: AttemptRecord) -> None:
        expect_type("save_attempt", record, AttemptRecord)
        await self._submit(
            INSERT_ATTEMPT.one,
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
            INSERT_RESPONSE.one,
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
            await self._submit(INSERT_CHUNK.one, rows, many=True, key=request_id)

    async def save_health_check(self, health: ProviderHealth) -> None:
        expect_type("save_health_check", health, ProviderHealth)
        await self._submit(
            INSERT_HEALTH.one,
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
        if type(messages) is str:
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

    def _usable(self) -> PgWriteBehind:
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

    async def _drained(self) -> None:
        await self._usable().drain()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def create_postgres_store(url: str, **kwargs: Any) -> PostgresStore:
    """The store for a ``postgresql://`` or ``postgres://`` URL, not yet opened (the factory
    to register for those schemes). ``kwargs`` go to :class:`PostgresStore`."""
    return PostgresStore(url, **kwargs)
