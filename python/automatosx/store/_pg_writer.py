"""The write-behind queue of the PostgreSQL store: one bounded queue, one writer task, one
connection of its own.

``submit`` only puts an op on the queue (the caller's hot path). The writer drains it in
batches, one transaction per batch, each statement's rows sent as ONE statement (arrays of
columns through ``unnest``; statements in :data:`~automatosx.store._pg_sql.ORDER`, which
inserts every referenced row first; rows of one statement in FIFO order). A full queue makes
callers wait for space; nothing is dropped.

Failures:

* a batch the server rejects (a constraint) is rolled back and replayed op by op, one
  savepoint each, so only the ops that fail are lost (a stream's chunks fail whole);
* a deadlock or serialization failure (writers in other processes upserting the same metrics
  rows) is transient: the batch is retried whole, up to ``_MAX_RETRIES`` times;
* a lost connection: the batch is retried once on a new connection (a batch whose COMMIT
  was lost in flight may then be reported as duplicate keys), then its ops fail; the next
  batch reconnects.

In ``sync`` mode the failing ``submit`` raises :class:`StoreError`; otherwise the failure is
kept and raised by the next ``raise_failures()`` (``flush``/``close``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from automatosx.errors import StoreError
from automatosx.store._pg_sql import ORDER, Statement

__all__ = ["PgWriteBehind"]

# (statement, parameters: one row, or a list of rows when `many`, many, waiter in sync mode)
_Op = tuple[Statement, Any, bool, "asyncio.Future[None] | None"]
_MAX_KEPT_FAILURES = 10
_MAX_RETRIES = 5
_RANK = {statement: i for i, statement in enumerate(ORDER)}
_TRANSIENT = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class PgWriteBehind:
    """Writes ops from a queue over a connection made by ``connect``. Create it inside the
    running event loop, after ``connect`` has succeeded once (pass that connection)."""

    def __init__(
        self,
        conn: Any,
        connect: Callable[[], Awaitable[Any]],
        *,
        queue_size: int,
        batch_size: int,
        sync: bool,
    ) -> None:
        self.accepting = True  # the hot-path check: False once closing or stopped
        self.error: StoreError | None = None  # set if the writer task died
        self._conn: Any | None = conn
        self._connect = connect
        self._sync = sync
        self._batch_size = batch_size
        self._queue: asyncio.Queue[_Op] = asyncio.Queue(queue_size)
        self._enqueued = 0  # ops put on the queue
        self._done = 0  # ops written or failed
        self._blocked_puts = 0  # callers waiting for queue space
        self._flushers: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._inflight: list[_Op] = []
        self._failures: list[StoreError] = []
        self._failure_count = 0
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="automatosx-pg-store-writer")
        self._task.add_done_callback(self._on_exit)

    async def submit(self, statement: Statement, params: Any, many: bool = False) -> None:
        if not self.accepting:
            raise self.error or StoreError("the store is closed")
        waiter: asyncio.Future[None] | None = None
        if self._sync:
            waiter = asyncio.get_running_loop().create_future()
        op: _Op = (statement, params, many, waiter)
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
        if self.error is not None:
            raise self.error

    async def drain(self) -> None:
        """Wait until the ops submitted so far are written or failed (failures not raised)."""
        target = self._enqueued
        if self._done >= target:
            return
        if self.error is not None:
            raise self.error
        future = asyncio.get_running_loop().create_future()
        self._flushers.append((target, future))
        await future

    def raise_failures(self) -> None:
        """Raise the failures kept since the last call (``async`` mode) as one StoreError."""
        if not self._failure_count:
            return
        count, first = self._failure_count, self._failures[0]
        self._failures, self._failure_count = [], 0
        raise StoreError(
            f"{count} write(s) failed since the last flush; the first: {first}"
        ) from first

    async def close(self) -> None:
        """Stop accepting, write everything submitted (including callers still waiting for
        space), stop the task, close the connection. Raises nothing: see ``error`` and
        ``raise_failures``."""
        self.accepting = False
        try:
            while self.error is None:
                await self.drain()
                if self._blocked_puts == 0 and self._done >= self._enqueued:
                    break
                await asyncio.sleep(0)  # let callers woken with queue space enqueue
        finally:
            self._stopping = True
            self._task.cancel()
            await asyncio.wait([self._task])
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close(timeout=5)
                self._conn = None

    # -- the task -------------------------------------------------------------------------

    async def _run(self) -> None:
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
            failures = await self._write(batch)
            self._settle(batch, failures)
            self._inflight = []
            self._done += len(batch)
            self._wake_flushers()

    async def _write(self, batch: list[_Op]) -> dict[int, BaseException]:
        """Write one batch in one transaction; on a rejected row, replay it op by op."""
        reconnected = False
        for attempt in range(_MAX_RETRIES + 1):
            try:
                conn = await self._connection()
                try:
                    await _execute_grouped(conn, batch)
                    return {}
                except asyncpg.PostgresError as exc:
                    if isinstance(exc, _TRANSIENT) and attempt < _MAX_RETRIES:
                        continue
                    if isinstance(exc, _TRANSIENT):
                        raise
                    return await _execute_one_by_one(conn, batch)
            except asyncpg.PostgresError as exc:  # retries ran out
                return dict.fromkeys(range(len(batch)), exc)
            except Exception as exc:  # the connection failed: retry once on a new one
                self._drop_connection()
                if reconnected:
                    return dict.fromkeys(range(len(batch)), exc)
                reconnected = True
        raise AssertionError("unreachable")  # pragma: no cover

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

    def _settle(self, batch: list[_Op], failures: dict[int, BaseException]) -> None:
        if not failures and not self._sync:
            return
        for i, (statement, _params, _many, waiter) in enumerate(batch):
            cause = failures.get(i)
            if cause is None:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            error = StoreError(f"{statement.label} failed: {cause}")
            error.__cause__ = cause
            if waiter is not None:
                if not waiter.done():
                    waiter.set_exception(error)
            else:
                self._failure_count += 1
                if len(self._failures) < _MAX_KEPT_FAILURES:
                    self._failures.append(error)

    def _wake_flushers(self) -> None:
        flushers = self._flushers
        while flushers and flushers[0][0] <= self._done:
            _, future = flushers.popleft()
            if not future.done():
                future.set_result(None)

    def _on_exit(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        self.accepting = False
        self.error = StoreError("the store's writer task stopped unexpectedly")
        if not task.cancelled() and task.exception() is not None:
            self.error.__cause__ = task.exception()
        while self._flushers:
            _, future = self._flushers.popleft()
            if not future.done():
                future.set_exception(self.error)
        lost = list(self._inflight)
        while not self._queue.empty():
            lost.append(self._queue.get_nowait())
        for _statement, _params, _many, waiter in lost:
            if waiter is not None and not waiter.done():
                waiter.set_exception(self.error)


def _grouped(batch: list[_Op]) -> list[tuple[Statement, list[Any]]]:
    """The batch's rows by statement, statements in dependency order, rows in FIFO order."""
    groups: dict[Statement, list[Any]] = {}
    for statement, params, many, _ in batch:
        rows = groups.setdefault(statement, [])
        if many:
            rows.extend(params)
        else:
            rows.append(params)
    return sorted(groups.items(), key=lambda group: _RANK[group[0]])


async def _execute_grouped(conn: Any, batch: list[_Op]) -> None:
    async with conn.transaction():
        for statement, rows in _grouped(batch):
            if len(rows) == 1:
                await conn.execute(statement.one, *statement.row(rows[0]))
            else:
                await conn.execute(statement.many, *statement.columns(rows))


async def _execute_one_by_one(conn: Any, batch: list[_Op]) -> dict[int, BaseException]:
    """Replay a rejected batch, one savepoint per op; return the ops that failed, by index."""
    failures: dict[int, BaseException] = {}
    async with conn.transaction():
        for i, (statement, params, many, _) in enumerate(batch):
            try:
                async with conn.transaction():  # a savepoint
                    if many:
                        await conn.execute(statement.many, *statement.columns(params))
                    else:
                        await conn.execute(statement.one, *statement.row(params))
            except asyncpg.PostgresError as exc:
                failures[i] = exc
    return failures
