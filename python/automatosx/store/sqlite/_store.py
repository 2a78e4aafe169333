"""The SQLite store: the engine (``_engine.py``) over :class:`SQLiteDialect`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

from automatosx.errors import ConfigurationError
from automatosx.store._engine import SQLStore
from automatosx.store.base import WriteFailure
from automatosx.store.sqlite._dialect import SQLiteDialect

__all__ = ["Durability", "SQLiteStore"]

Durability = Literal["async", "sync"]


class SQLiteStore(SQLStore):
    """A :class:`~automatosx.store.Store` in one SQLite file (or ``":memory:"``).

    ``durability="async"`` (default): a save returns once queued; ``flush()``/``close()``
    wait for the commit. ``"sync"``: a save returns once its batch is committed.
    ``queue_size`` bounds the writes waiting; ``batch_size`` the writes per transaction.
    The loss window: a writer thread commits as soon as writes are queued (whether or not the
    event loop yields), each transaction within about ``commit_interval_ms``; a save waits
    (never drops) while the oldest uncommitted write is older than ``max_lag_ms``, while
    ``max_lag_requests`` requests have uncommitted writes, or while the queue is full. A
    write that fails is reported at once (``write_errors``, ``drain_write_errors()``,
    ``on_write_error(failure)``, an ERROR log naming its request id); the rest of its batch is
    kept. Requests left unfinished by a process that died are finalised ``failed``
    (``INTERRUPTED``) by the next store to open the file; ``lease_ms`` is how long a silent
    owner on another host counts as alive. A new database file is readable by its owner only.
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
        max_lag_requests: int = 32,
        lease_ms: int = 30_000,
        on_write_error: Callable[[WriteFailure], object] | None = None,
    ) -> None:
        if durability not in ("async", "sync"):
            raise ConfigurationError(f"durability must be 'async' or 'sync', not {durability!r}")
        self._path = os.fspath(path)
        super().__init__(
            SQLiteDialect(self._path, int(busy_timeout_ms)),
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
        return f"SQLiteStore({self._path!r}, durability={self.durability!r}, {self.state.value})"

    @property
    def path(self) -> str:
        return self._path

    @property
    def durability(self) -> Durability:
        return "sync" if self._sync else "async"

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self
