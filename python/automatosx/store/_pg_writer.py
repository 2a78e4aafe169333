"""The write-behind queue of the PostgreSQL store: the SQLite store's queue (``_writer.py``)
with PostgreSQL's way of writing a batch.

Queueing, order, the bounded loss window (commit at least every ``commit_interval_ms``,
back-pressure while the lag exceeds ``max_lag_ms`` or the queue is full, never drop), failure
reporting (``write_errors``, ``drain_write_errors()``, ``on_write_error``, an ERROR log naming
the request id at once) and the exit flush are :class:`~automatosx.store._writer.WriteBehind`'s,
so both stores keep one contract. What differs is :meth:`PgWriteBehind._write`:

* a batch is one transaction on the writer's own connection; each statement's rows go as ONE
  statement (arrays of columns through ``unnest``; statements in
  :data:`~automatosx.store._pg_sql.ORDER`, which inserts every referenced row first; rows of
  one statement in FIFO order);
* a batch the server (or the driver, e.g. text it cannot encode) rejects is rolled back and
  replayed op by op, one savepoint each, so only the ops that fail are lost (a stream's
  chunks fail whole);
* a deadlock or serialization failure (writers in other processes upserting the same metrics
  rows) is transient: the batch is retried whole, up to ``_MAX_RETRIES`` times;
* a lost connection: the batch is retried once on a new connection (a batch whose COMMIT
  was lost in flight may then be reported as duplicate keys), then its ops fail; the next
  batch reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import asyncpg

from automatosx.errors import StoreError
from automatosx.store._pg_sql import ORDER, Statement
from automatosx.store._writer import WriteBehind
from automatosx.store.base import WriteFailure

__all__ = ["PgWriteBehind"]

_MAX_RETRIES = 5
_TRANSIENT = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_BY_SQL = {statement.one: statement for statement in ORDER}
_RANK = {statement.one: i for i, statement in enumerate(ORDER)}
_LABELS = {statement.one: statement.label for statement in ORDER}
_ARGUMENT = re.compile(r"^(invalid input for query argument \$\d+): .*? \((.*)\)$", re.DOTALL)
_LOST_CONNECTION = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
)

# An op as WriteBehind queues it: (sql, params, many, waiter, key, prepare, queued at).
_Op = tuple[Any, ...]


class PgWriteBehind(WriteBehind):
    """Writes ops over a connection made by ``connect``. Create it inside the running event
    loop, after ``connect`` has succeeded once (pass that connection). Ops are queued by the
    ``one`` SQL text of their :class:`Statement`."""

    _conn: Any  # an asyncpg connection, or None between a lost one and the next batch

    def __init__(
        self,
        conn: Any,
        connect: Callable[[], Awaitable[Any]],
        *,
        queue_size: int,
        batch_size: int,
        sync: bool,
        commit_interval_ms: float = 100.0,
        max_lag_ms: float = 500.0,
        on_write_error: Callable[[WriteFailure], object] | None = None,
    ) -> None:
        super().__init__(
            cast(Any, conn),
            asyncio.Lock(),  # unused: reads go through the store's pool
            queue_size=queue_size,
            batch_size=batch_size,
            sync=sync,
            labels=_LABELS,
            commit_interval_ms=commit_interval_ms,
            max_lag_ms=max_lag_ms,
            on_write_error=on_write_error,
        )
        self._connect = connect

    async def close_connection(self) -> None:
        """Close the writer's connection (after :meth:`close`)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def _write(self, batch: list[_Op]) -> dict[int, BaseException]:
        """Write one batch in one transaction; on a rejected op, replay it op by op. The
        failures come back scrubbed of the row values the driver and server echo."""
        failures = await self._write_batch(batch)
        return {i: _scrubbed(exc) for i, exc in failures.items()} if failures else failures

    async def _write_batch(self, batch: list[_Op]) -> dict[int, BaseException]:
        failures: dict[int, BaseException] = {}
        rows = self._prepare(batch, failures)
        groups = _grouped(batch, rows, failures)
        reconnected = False
        retries = 0
        while True:
            try:
                conn = await self._connection()
            except Exception as exc:  # the server is unreachable: this batch is lost
                return _fail_rest(batch, failures, exc)
            try:
                await _execute_grouped(conn, groups)
                return failures
            except _TRANSIENT as exc:
                if retries < _MAX_RETRIES:
                    retries += 1
                    continue
                return _fail_rest(batch, failures, exc)
            except Exception as exc:
                if not _connection_lost(conn, exc):
                    return await self._replay(conn, batch, rows, failures)
                self._drop_connection()
                if reconnected:
                    return _fail_rest(batch, failures, exc)
                reconnected = True

    async def _replay(
        self, conn: Any, batch: list[_Op], rows: list[Any], failures: dict[int, BaseException]
    ) -> dict[int, BaseException]:
        try:
            await _execute_one_by_one(conn, batch, rows, failures)
        except Exception as exc:  # the connection failed during the replay
            self._drop_connection()
            return _fail_rest(batch, failures, exc)
        return failures

    async def _write_at_exit(self, ops: list[Any]) -> None:
        # The cancelled batch may have left the connection mid-query: start on a new one
        # (the server rolls the old one's transaction back), then write everything again.
        self._drop_connection()
        for start in range(0, len(ops), self._batch_size):
            batch = ops[start : start + self._batch_size]
            self._settle(batch, await self._write(batch))

    async def _connection(self) -> Any:
        conn = self._conn
        if conn is None or conn.is_closed():
            self._conn = None
            conn = self._conn = await self._connect()
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.terminate()
            self._conn = None


def _scrubbed(exc: BaseException) -> BaseException:
    """``exc`` without the values a row held: a server error keeps its primary message (its
    DETAIL may read "Failing row contains (...)"), and the driver's "invalid input for query
    argument $4: '<value>' (<why>)" loses the value. Same type, so reports name it."""
    text = str(exc)
    argument = _ARGUMENT.match(text)
    if argument is not None:
        message = f"{argument[1]} ({argument[2]})"
    elif isinstance(exc, asyncpg.PostgresError):
        message = getattr(exc, "message", None) or text.partition("\n")[0]
    else:
        return exc
    if message == text:
        return exc
    try:
        clean = type(exc)(message)
    except Exception:
        clean = StoreError(message)
    clean.__traceback__ = exc.__traceback__
    return clean


def _connection_lost(conn: Any, exc: BaseException) -> bool:
    return isinstance(exc, _LOST_CONNECTION) or conn.is_closed()


def _fail_rest(
    batch: list[_Op], failures: dict[int, BaseException], exc: BaseException
) -> dict[int, BaseException]:
    for i in range(len(batch)):
        failures.setdefault(i, exc)
    return failures


def _grouped(
    batch: list[_Op], rows: list[Any], skip: dict[int, BaseException]
) -> list[tuple[Statement, list[Any]]]:
    """The batch's rows by statement, statements in dependency order, rows in FIFO order.
    Ops in ``skip`` (failed to prepare) are left out."""
    groups: dict[str, list[Any]] = {}
    for i, op in enumerate(batch):
        if i in skip:
            continue
        group = groups.setdefault(op[0], [])
        if op[2]:
            group.extend(rows[i])
        else:
            group.append(rows[i])
    return [(_BY_SQL[sql], group) for sql, group in sorted(groups.items(), key=_rank)]


def _rank(item: tuple[str, object]) -> int:
    return _RANK[item[0]]


async def _execute_grouped(conn: Any, groups: Iterable[tuple[Statement, list[Any]]]) -> None:
    async with conn.transaction():
        for statement, rows in groups:
            if len(rows) == 1:
                await conn.execute(statement.one, *statement.row(rows[0]))
            else:
                await conn.execute(statement.many, *statement.columns(rows))


async def _execute_one_by_one(
    conn: Any, batch: list[_Op], rows: list[Any], failures: dict[int, BaseException]
) -> None:
    """Replay a rejected batch, one savepoint per op; add the ops that fail to ``failures``.
    Raises only if the connection itself fails."""
    async with conn.transaction():
        for i, op in enumerate(batch):
            if i in failures:
                continue
            statement: Statement = _BY_SQL[op[0]]
            try:
                async with conn.transaction():  # a savepoint
                    if op[2]:
                        await conn.execute(statement.many, *statement.columns(rows[i]))
                    else:
                        await conn.execute(statement.one, *statement.row(rows[i]))
            except _LOST_CONNECTION:
                raise
            except Exception as exc:
                if conn.is_closed():
                    raise
                failures[i] = exc
