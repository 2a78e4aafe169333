"""The write-behind queue of the SQLite store: one bounded queue, one writer task.

``submit`` only puts a row on the queue (the caller's hot path). The writer drains it in
batches, one transaction per batch, running all rows of one statement as one ``executemany``
(statements in the order of ``labels``, which inserts every referenced row first; rows of one
statement in FIFO order). A full queue makes callers wait for space; nothing is dropped.

A batch that fails is rolled back and replayed save by save (one savepoint each), so only the
saves that fail are lost (a save of several rows, e.g. a stream's chunks, fails whole).
In ``sync`` mode the failing ``submit`` raises :class:`StoreError`;
otherwise the failure is kept and raised by the next ``raise_failures()`` (``flush``/``close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import aiosqlite

from automatosx.errors import StoreError

__all__ = ["WriteBehind"]

# (sql, parameters: one row, or a list of rows when `many`, many, waiter in sync mode)
_Op = tuple[str, Any, bool, "asyncio.Future[None] | None"]
_MAX_KEPT_FAILURES = 10


class WriteBehind:
    """Writes rows to ``conn`` from a queue. Create it inside the running event loop.

    ``lock`` serialises the writer's transactions with the store's reads on the one
    connection; ``labels`` name each statement in error messages (``save_attempt``), and
    their order is the order a batch runs its statements in.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        lock: asyncio.Lock,
        *,
        queue_size: int,
        batch_size: int,
        sync: bool,
        labels: Mapping[str, str],
    ) -> None:
        self.accepting = True  # the hot-path check: False once closing or stopped
        self.error: StoreError | None = None  # set if the writer task died
        self._conn = conn
        self._lock = lock
        self._sync = sync
        self._batch_size = batch_size
        self._labels = labels
        self._rank = {sql: i for i, sql in enumerate(labels)}
        self._queue: asyncio.Queue[_Op] = asyncio.Queue(queue_size)
        self._enqueued = 0  # ops put on the queue
        self._done = 0  # ops written or failed
        self._blocked_puts = 0  # callers waiting for queue space
        self._flushers: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._inflight: list[_Op] = []  # the batch being written
        self._failures: list[StoreError] = []
        self._failure_count = 0
        self._stopping = False  # close() is cancelling the task: not a failure
        self._task = asyncio.create_task(self._run(), name="automatosx-store-writer")
        self._task.add_done_callback(self._on_exit)

    @property
    def queued(self) -> int:
        """Ops waiting on the queue (not counting the batch being written)."""
        return self._queue.qsize()

    async def submit(self, sql: str, params: Any, many: bool = False) -> None:
        if not self.accepting:
            raise self.error or StoreError("the store is closed")
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
        space), then stop the task. Raises nothing: see ``error`` and ``raise_failures``."""
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
        """Write one batch in one transaction; on failure, replay it row by row."""
        conn = self._conn
        async with self._lock:
            try:
                try:
                    await _execute_grouped(conn, batch, self._rank)
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
            error = StoreError(f"{self._labels.get(sql, 'write')} failed: {cause}")
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
        for _sql, _params, _many, waiter in lost:
            if waiter is not None and not waiter.done():
                waiter.set_exception(self.error)


def _grouped(batch: list[_Op], rank: Mapping[str, int]) -> Iterable[tuple[str, list[Any]]]:
    """The batch's rows by statement, as (sql, rows): statements by ``rank`` (which puts every
    referenced row before its referrers; unranked ones last, as first seen), the rows of one
    statement in FIFO order."""
    groups: dict[str, list[Any]] = {}
    for sql, params, many, _ in batch:
        rows = groups.setdefault(sql, [])
        if many:
            rows.extend(params)
        else:
            rows.append(params)
    last = len(rank)
    return sorted(groups.items(), key=lambda group: rank.get(group[0], last))


async def _execute_grouped(
    conn: aiosqlite.Connection, batch: list[_Op], rank: Mapping[str, int]
) -> None:
    await conn.execute("BEGIN")
    for sql, rows in _grouped(batch, rank):
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
