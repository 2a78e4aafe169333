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
from automatosx.store._pg_sql import INSERT_REQUEST, ORDER, UPDATE_REQUEST_STATE, Statement
from automatosx.store._writer import WriteBehind
from automatosx.store.base import WriteFailure

__all__ = ["PgWriteBehind"]

_MAX_RETRIES = 5
_SPLIT_AT = 64  # a smaller batch goes whole to the first writer: one transaction
_TRANSIENT = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_INSERT_REQUEST_SQL = INSERT_REQUEST.one
_UPDATE_SQL = UPDATE_REQUEST_STATE.one
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
    """Writes ops over connections made by ``connect``. Create it inside the running event
    loop, after ``connect`` has succeeded once (pass that connection). Ops are queued by the
    ``one`` SQL text of their :class:`Statement`.

    ``writers`` connections write one batch together: a batch of at least
    ``_SPLIT_AT`` ops is split by request id (a request's ops stay together and in order,
    health checks go to the first), and each part is its own transaction on its own
    connection, so the server works on them at once. The batch is done when every part is.
    """

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
        writers: int = 2,
    ) -> None:
        self._conns: list[Any] = [conn] + [None] * (writers - 1)
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

    @property
    def _conn(self) -> Any:
        """The first writer's connection (None between a lost one and the next batch)."""
        return self._conns[0]

    @_conn.setter
    def _conn(self, conn: Any) -> None:
        self._conns[0] = conn

    async def close_connection(self) -> None:
        """Close the writers' connections (after :meth:`close`)."""
        conns, self._conns = self._conns, [None] * len(self._conns)
        for conn in conns:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)

    async def _write(self, batch: list[_Op]) -> dict[int, BaseException]:
        """Write one batch (split over the writers); on a rejected op, replay its part op by
        op. The failures come back scrubbed of the row values the driver and server echo."""
        lanes = len(self._conns)
        if lanes == 1 or len(batch) < _SPLIT_AT:
            failures = await self._write_part(0, batch)
        else:
            parts: list[list[_Op]] = [[] for _ in range(lanes)]
            where: list[list[int]] = [[] for _ in range(lanes)]
            for i, op in enumerate(batch):
                lane = 0 if op[4] is None else hash(op[4]) % lanes
                parts[lane].append(op)
                where[lane].append(i)
            done = await asyncio.gather(
                *(self._write_part(lane, part) for lane, part in enumerate(parts))
            )
            failures = {
                where[lane][j]: exc for lane, part in enumerate(done) for j, exc in part.items()
            }
        return {i: _scrubbed(exc) for i, exc in failures.items()} if failures else failures

    async def _write_part(self, lane: int, batch: list[_Op]) -> dict[int, BaseException]:
        """One transaction on writer ``lane``'s connection, retried and replayed as needed."""
        failures: dict[int, BaseException] = {}
        if not batch:
            return failures
        rows = self._prepare(batch, failures)
        groups = _grouped(batch, rows, failures)
        reconnected = False
        retries = 0
        while True:
            try:
                conn = await self._connection(lane)
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
                    return await self._replay(lane, conn, batch, rows, failures)
                self._drop_connection(lane)
                if reconnected:
                    return _fail_rest(batch, failures, exc)
                reconnected = True

    async def _replay(
        self,
        lane: int,
        conn: Any,
        batch: list[_Op],
        rows: list[Any],
        failures: dict[int, BaseException],
    ) -> dict[int, BaseException]:
        try:
            await _execute_one_by_one(conn, batch, rows, failures)
        except Exception as exc:  # the connection failed during the replay
            self._drop_connection(lane)
            return _fail_rest(batch, failures, exc)
        return failures

    async def _write_at_exit(self, ops: list[Any]) -> None:
        # The cancelled batch may have left the connection mid-query: start on a new one
        # (the server rolls the old one's transaction back), then write everything again.
        for lane in range(len(self._conns)):
            self._drop_connection(lane)
        for start in range(0, len(ops), self._batch_size):
            batch = ops[start : start + self._batch_size]
            self._settle(batch, await self._write(batch))

    async def _connection(self, lane: int) -> Any:
        conn = self._conns[lane]
        if conn is None or conn.is_closed():
            self._conns[lane] = None
            conn = self._conns[lane] = await self._connect()
        return conn

    def _drop_connection(self, lane: int) -> None:
        conn, self._conns[lane] = self._conns[lane], None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.terminate()


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
    _fold_updates(groups)
    return [(_BY_SQL[sql], group) for sql, group in sorted(groups.items(), key=_rank) if group]


# The columns of INSERT_REQUEST an UPDATE_REQUEST_STATE row sets, by the update's columns
# (state, retry_count, history, error, error_code, updated_at; the id last).
_FOLDED = ((0, 7), (1, 8), (2, 11), (3, 9), (4, 10), (5, 13))


def _fold_updates(groups: dict[str, list[Any]]) -> None:
    """Apply the state updates of requests inserted in the same batch to their insert rows,
    in FIFO order, and drop them: the row is written once in its final state instead of
    inserted then updated (a non-HOT update touching every index of provider_requests). The
    same transaction, so the same result; most requests start and end within one batch."""
    inserts = groups.get(_INSERT_REQUEST_SQL)
    updates = groups.get(_UPDATE_SQL)
    if not inserts or not updates:
        return
    position = {row[0]: i for i, row in enumerate(inserts)}
    remaining = []
    for update in updates:
        i = position.get(update[6])
        if i is None:
            remaining.append(update)
            continue
        row = list(inserts[i])
        for source, target in _FOLDED:
            row[target] = update[source]
        inserts[i] = row
    groups[_UPDATE_SQL] = remaining


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
