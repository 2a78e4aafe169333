"""The PostgreSQL store: the engine (``_engine.py``) over :class:`PostgresDialect`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from automatosx.errors import ConfigurationError, StoreError
from automatosx.store._engine import SQLStore, check_options
from automatosx.store.base import WriteFailure
from automatosx.store.postgres._dialect import PostgresDialect

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


class PostgresStore(SQLStore):
    """A :class:`~automatosx.store.Store` in a PostgreSQL database (``postgresql://...``).

    ``durability="write-behind"`` (default; ``"async"`` is the same, the SQLite store's name):
    a save returns once queued; ``flush()``/``close()`` wait for the commit. ``"sync"``: a save
    returns once its batch is committed. ``queue_size`` bounds the ops waiting to be written;
    ``batch_size`` the ops per batch; ``pool_size`` the connections used for reads;
    ``writers`` the connections that write a large batch together, split by request id
    (each request's writes stay in order on one of them). A store uses up to
    ``pool_size + writers`` connections. ``connect_kwargs`` go to ``asyncpg.connect``.

    The loss window, the failure reports and the finalising of crashed owners' requests are
    the SQLite store's (see :class:`~automatosx.store.SQLiteStore`); many processes may share
    one database: each finalises only the rows of owners whose lease lapsed (``lease_ms``)
    or whose process on the same host is gone.
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
        max_lag_requests: int = 32,
        lease_ms: int = 30_000,
        on_write_error: Callable[[WriteFailure], object] | None = None,
        **connect_kwargs: Any,
    ) -> None:
        if durability == "async":  # the SQLite store's name for write-behind
            durability = "write-behind"
        if durability not in ("write-behind", "sync"):
            raise ConfigurationError(
                f"durability must be 'write-behind' (or 'async') or 'sync', not {durability!r}"
            )
        check_options(pool_size=pool_size, writers=writers)
        scheme = url.partition("://")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(
                f"a PostgreSQL store URL starts with postgresql:// or postgres://, not"
                f" {scheme + '://' if '://' in url else 'none'}"
                " (e.g. 'postgresql://user:password@host:5432/dbname')"
            )
        self._url = url
        self._pool_size = pool_size
        self._connect_kwargs = {"timeout": connect_timeout, **connect_kwargs}
        super().__init__(
            PostgresDialect(self._connect, self._create_pool, writers),
            durability=durability,
            sync=durability == "sync",
            queue_size=queue_size,
            batch_size=batch_size,
            commit_interval_ms=commit_interval_ms,
            max_lag_ms=max_lag_ms,
            max_lag_requests=max_lag_requests,
            lease_ms=lease_ms,
            on_write_error=on_write_error,
        )

    def __repr__(self) -> str:
        return (
            f"PostgresStore({redact_url(self._url)!r}, durability={self.durability!r},"
            f" {self.state.value})"
        )

    @property
    def url(self) -> str:
        """The URL, password redacted."""
        return redact_url(self._url)

    @property
    def durability(self) -> PgDurability:
        return "sync" if self._sync else "write-behind"

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def create_postgres_store(url: str, **kwargs: Any) -> PostgresStore:
    """The store for a ``postgresql://`` or ``postgres://`` URL, not yet opened (the factory
    to register for those schemes). ``kwargs`` go to :class:`PostgresStore`."""
    return PostgresStore(url, **kwargs)
