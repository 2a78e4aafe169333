"""The write-behind queue of the SQLite store: one bounded queue, one writer task.

Contract:

* **Order.** ``submit`` only appends a write to the queue (the caller's hot path). The writer
  takes what is queued in batches, one transaction per batch, running all rows of one
  statement as one ``executemany`` (statements in the order of ``labels``, which inserts every
  referenced row first; rows of one statement in FIFO order).
* **Loss window.** The writer commits as soon as rows are queued, and sizes its batches so a
  transaction takes about ``commit_interval_ms`` at most (it halves the batch after a slow one
  and doubles it back after fast ones). The *lag* is the age of the oldest write not yet
  committed; what a crash can lose is bounded by it.
* **Back-pressure, never drop.** A caller waits (FIFO) while the lag exceeds ``max_lag_ms``,
  or while the queue is full: it holds ``queue_size`` writes at most, and no more than the
  writer commits in a quarter of ``max_lag_ms`` at its measured rate; waiting callers are let
  in once the lag is under half the bound. So a write queued behind the others is committed
  within about ``max_lag_ms`` (the bench measures it).
* **Poison is isolated.** A batch that fails for ANY exception (a constraint, a lone surrogate
  sqlite3 cannot encode, an unbindable value) is rolled back and replayed write by write (one
  savepoint each), so only the writes that fail are lost (a write of several rows, e.g. a
  stream's chunks, fails whole). Each loss is reported at once: logged at ERROR with its
  request id (never the row), counted in ``write_errors``, kept for ``drain_write_errors()``,
  and passed to ``on_write_error``. In ``sync`` mode the failing ``submit`` also raises
  :class:`StoreError`; otherwise ``raise_failures()`` (``flush``/``close``) raises it later.
* **Exit.** If the event loop cancels the writer without ``close()`` (``asyncio.run`` returning
  with the store still open), the writer writes what is queued within ``EXIT_FLUSH_S``, closes
  the connection and warns with :class:`ResourceWarning`, so the interpreter can exit.

The contract above is one job (queue, batches, replay, reporting, exit), which is why this
module runs past 400 lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiosqlite

from automatosx.errors import StoreError, redact
from automatosx.store.base import WriteFailure

__all__ = ["EXIT_FLUSH_S", "Prepare", "WriteBehind", "describe_error"]

logger = logging.getLogger("automatosx.store")

Prepare = Callable[[Any], Any]
"""Turns a queued write's parameters into bindable ones, in the writer (off the hot path)."""

# (sql, parameters: one row, or a list of rows when `many`, many, waiter in sync mode,
#  request id, prepare, monotonic time queued)
_Op = tuple[str, Any, bool, "asyncio.Future[None] | None", str | None, Prepare | None, float]
_MAX_KEPT_FAILURES = 10
_MAX_REPORTED = 1_000
EXIT_FLUSH_S = 2.0


def describe_error(exc: BaseException) -> str:
    """An exception as a failure report shows it: type and message, secrets redacted, short."""
    return f"{type(exc).__name__}: {redact(str(exc))[:300]}"


class WriteBehind:
    """Writes rows to ``conn`` from a queue. Create it inside the running event loop.

    ``lock`` serialises the writer's transactions with the store's reads on the one
    connection; ``labels`` name each statement in reports (``save_attempt``), and their order
    is the order a batch runs its statements in.
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
        commit_interval_ms: float = 100.0,
        max_lag_ms: float = 500.0,
        on_write_error: Callable[[WriteFailure], object] | None = None,
    ) -> None:
        self.accepting = True  # the hot-path check: False once closing or stopped
        self.error: StoreError | None = None  # set if the writer task died
        self.write_errors = 0  # every write lost (or value left out) since open
        self.lag_samples: deque[float] | None = None  # set to a deque to record lags (ms)
        self._conn = conn
        self._lock = lock
        self._sync = sync
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._batch_limit = batch_size
        self._room_limit = min(queue_size, batch_size)  # then what commits in max_lag_ms / 4
        self._rate: float | None = None  # writes committed per second (moving average)
        self._last_commit: float | None = None
        self._interval_s = commit_interval_ms / 1000
        self._max_lag_s = max_lag_ms / 1000
        self._labels = labels
        self._rank = {sql: i for i, sql in enumerate(labels)}
        self._on_write_error = on_write_error
        self._pending: deque[_Op] = deque()
        self._wakeup: asyncio.Future[None] | None = None  # the idle writer waits on it
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self._inflight: list[_Op] = []  # the batch being written
        self._enqueued = 0  # ops put on the queue
        self._done = 0  # ops written or failed
        self._blocked_puts = 0  # callers waiting for room
        self._granted = 0  # callers given room that have not enqueued yet
        self._flushers: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._failures: list[StoreError] = []  # since the last raise_failures()
        self._failure_count = 0
        self._reported: deque[WriteFailure] = deque(maxlen=_MAX_REPORTED)
        self._stopping = False  # close() is cancelling the task: not a failure
        self._task = asyncio.create_task(self._run(), name="automatosx-store-writer")
        self._task.add_done_callback(self._on_exit)

    @property
    def queued(self) -> int:
        """Ops waiting on the queue (not counting the batch being written)."""
        return len(self._pending)

    def lag_ms(self) -> float:
        """The age of the oldest write not yet committed, in ms (0 when all are)."""
        oldest = self._oldest()
        return 0.0 if oldest is None else (time.monotonic() - oldest) * 1000

    def _oldest(self) -> float | None:
        if self._inflight:
            return self._inflight[0][6]
        return self._pending[0][6] if self._pending else None

    # -- the caller's side ----------------------------------------------------------------

    async def submit(
        self,
        sql: str,
        params: Any,
        many: bool = False,
        key: str | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        if not self.accepting:
            raise self.error or StoreError("the store is closed")
        now = time.monotonic()
        if self._room_waiters or len(self._pending) + self._granted >= self._room_limit:
            await self._wait_for_room()
            now = time.monotonic()
        else:
            oldest = self._oldest()
            if oldest is not None and now - oldest > self._max_lag_s:
                await self._wait_for_room()
                now = time.monotonic()
        waiter: asyncio.Future[None] | None = None
        if self._sync:
            waiter = asyncio.get_running_loop().create_future()
        self._pending.append((sql, params, many, waiter, key, prepare, now))
        self._enqueued += 1
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        if waiter is not None:
            await waiter

    async def _wait_for_room(self) -> None:
        """Back-pressure: wait (FIFO) until the writer has room and has caught up."""
        room = asyncio.get_running_loop().create_future()
        self._room_waiters.append(room)
        self._blocked_puts += 1
        try:
            await room
        except BaseException:
            if room in self._room_waiters:
                self._room_waiters.remove(room)
            elif room.done() and not room.cancelled():
                self._granted -= 1
                self._release_room()  # pass the room it was given on
            raise
        finally:
            self._blocked_puts -= 1
        self._granted -= 1
        if self.error is not None:
            raise self.error

    def _release_room(self) -> None:
        if not self._room_waiters:
            return
        oldest = self._oldest()
        if oldest is not None and time.monotonic() - oldest > self._max_lag_s / 2:
            return  # hysteresis: let the writer get well under the bound first
        room = self._room_limit - len(self._pending) - self._granted
        while self._room_waiters and room > 0:
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._granted += 1
                room -= 1

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

    def drain_write_errors(self) -> list[WriteFailure]:
        """The failures reported since the last call (the latest 1000), oldest first."""
        reported = list(self._reported)
        self._reported.clear()
        return reported

    def report(self, key: str | None, kind: str, exc: BaseException) -> WriteFailure:
        """Report one lost write (or left-out value) at once: log, count, keep, call back."""
        failure = WriteFailure(
            request_id=key, kind=kind, error=describe_error(exc), at_ms=time.time_ns() // 10**6
        )
        self.write_errors += 1
        self._reported.append(failure)
        logger.error("store write failed: %s (request %s): %s", kind, key or "-", failure.error)
        if self._on_write_error is not None:
            try:
                self._on_write_error(failure)
            except Exception:
                logger.exception("the store's on_write_error callback raised")
        return failure

    async def close(self) -> None:
        """Stop accepting, write everything submitted (including callers still waiting for
        room), then stop the task. Raises nothing: see ``error`` and ``raise_failures``."""
        self.accepting = False
        try:
            while self.error is None:
                await self.drain()
                if self._blocked_puts == 0 and self._done >= self._enqueued:
                    break
                self._release_room()
                await asyncio.sleep(0)  # let callers given room enqueue
        finally:
            self._stopping = True
            self._task.cancel()
            await asyncio.wait([self._task])

    # -- the task -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._write_forever()
        except asyncio.CancelledError:
            if not self._stopping:
                await self._flush_at_exit()
            raise

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        pending = self._pending
        while True:
            if not pending:
                self._release_room()
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            batch = [pending.popleft() for _ in range(min(self._batch_limit, len(pending)))]
            self._inflight = batch
            started = time.monotonic()
            failures = await self._write(batch)
            committed = time.monotonic()
            self._resize(committed - started, committed, len(batch))
            if self.lag_samples is not None:
                self.lag_samples.extend((committed - op[6]) * 1000 for op in batch)
            self._inflight = []
            self._settle(batch, failures)
            self._done += len(batch)
            self._wake_flushers()
            self._release_room()

    def _resize(self, elapsed_s: float, committed: float, written: int) -> None:
        """Keep one transaction within about ``commit_interval_ms``, and the queue within
        what the writer commits in a quarter of ``max_lag_ms``."""
        if elapsed_s > self._interval_s and self._batch_limit > 1:
            self._batch_limit //= 2
        elif elapsed_s < self._interval_s / 4 and self._batch_limit < self._batch_size:
            self._batch_limit = min(self._batch_size, self._batch_limit * 2)
        # the rate over the whole cycle (the loop also runs the callers between batches)
        cycle = elapsed_s if self._last_commit is None else committed - self._last_commit
        self._last_commit = committed
        rate = written / max(cycle, 1e-6)
        self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
        drains = int(self._rate * self._max_lag_s / 4)
        self._room_limit = min(self._queue_size, max(drains, self._batch_size))

    async def _write(self, batch: list[_Op]) -> dict[int, BaseException]:
        """Write one batch in one transaction; on any failure, replay it write by write."""
        failures: dict[int, BaseException] = {}
        rows = self._prepare(batch, failures)
        conn = self._conn
        async with self._lock:
            try:
                try:
                    await _execute_grouped(conn, batch, rows, failures, self._rank)
                    return failures
                except Exception:
                    await _rollback_quietly(conn)
                await _execute_one_by_one(conn, batch, rows, failures)
            except Exception as exc:  # the connection itself failed: the rest is lost
                await _rollback_quietly(conn)
                for i in range(len(batch)):
                    failures.setdefault(i, exc)
        return failures

    def _prepare(self, batch: list[_Op], failures: dict[int, BaseException]) -> list[Any]:
        rows: list[Any] = []
        for i, (_sql, params, _many, _waiter, _key, prepare, _t) in enumerate(batch):
            if prepare is None:
                rows.append(params)
                continue
            try:
                rows.append(prepare(params))
            except Exception as exc:
                failures[i] = exc
                rows.append(None)
        return rows

    def _settle(self, batch: list[_Op], failures: dict[int, BaseException]) -> None:
        if not failures and not self._sync:
            return
        for i, (sql, _params, _many, waiter, key, _prepare, _t) in enumerate(batch):
            cause = failures.get(i)
            if cause is None:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            label = self._labels.get(sql, "write")
            self.report(key, label, cause)
            error = StoreError(f"{label} failed: {describe_error(cause)}")
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

    async def _flush_at_exit(self) -> None:
        """The loop is cancelling the writer of a store never closed: write what is queued
        (bounded), close the connection so its thread ends, and say so."""
        self._stopping = True
        self.accepting = False
        ops = [*self._inflight, *self._pending]
        self._inflight = []
        self._pending.clear()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self._write_at_exit(ops), EXIT_FLUSH_S)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self._conn.close(), EXIT_FLUSH_S)
        warnings.warn(  # last: with warnings as errors, the writes are made all the same
            f"an automatosx store was never closed; {len(ops)} queued write(s) written at exit"
            " (use `async with open_store(url)` or `await store.close()`)",
            ResourceWarning,
            stacklevel=1,
        )

    async def _write_at_exit(self, ops: list[_Op]) -> None:
        # The cancelled batch may still have statements in the connection's thread: one
        # round trip lets them finish, then its partial transaction is rolled back and its
        # ops are written again with the rest.
        with contextlib.suppress(Exception):
            await self._conn.execute("SELECT 1")
        await _rollback_quietly(self._conn)
        for start in range(0, len(ops), self._batch_size):
            batch = ops[start : start + self._batch_size]
            self._settle(batch, await self._write(batch))

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
        while self._room_waiters:
            room = self._room_waiters.popleft()
            if not room.done():
                self._granted += 1
                room.set_result(None)  # it wakes, sees `error`, raises it
        for op in [*self._inflight, *self._pending]:
            waiter = op[3]
            if waiter is not None and not waiter.done():
                waiter.set_exception(self.error)


def _grouped(
    batch: list[_Op], rows: list[Any], skip: Mapping[int, object], rank: Mapping[str, int]
) -> Iterable[tuple[str, list[Any]]]:
    """The batch's rows by statement, as (sql, rows): statements by ``rank`` (which puts every
    referenced row before its referrers; unranked ones last, as first seen), the rows of one
    statement in FIFO order. Ops in ``skip`` (failed to prepare) are left out."""
    groups: dict[str, list[Any]] = {}
    for i, (sql, _params, many, _waiter, _key, _prepare, _t) in enumerate(batch):
        if i in skip:
            continue
        group = groups.setdefault(sql, [])
        if many:
            group.extend(rows[i])
        else:
            group.append(rows[i])
    last = len(rank)
    return sorted(groups.items(), key=lambda group: rank.get(group[0], last))


async def _execute_grouped(
    conn: aiosqlite.Connection,
    batch: list[_Op],
    rows: list[Any],
    skip: Mapping[int, object],
    rank: Mapping[str, int],
) -> None:
    await conn.execute("BEGIN")
    for sql, group in _grouped(batch, rows, skip, rank):
        if len(group) == 1:
            await conn.execute(sql, group[0])
        else:
            await conn.executemany(sql, group)
    await conn.execute("COMMIT")


async def _execute_one_by_one(
    conn: aiosqlite.Connection,
    batch: list[_Op],
    rows: list[Any],
    failures: dict[int, BaseException],
) -> None:
    """Replay a failed batch, one savepoint per op; add the ops that fail to ``failures``."""
    await conn.execute("BEGIN")
    for i, (sql, _params, many, _waiter, _key, _prepare, _t) in enumerate(batch):
        if i in failures:
            continue
        await conn.execute("SAVEPOINT op")
        try:
            if many:
                await conn.executemany(sql, rows[i])
            else:
                await conn.execute(sql, rows[i])
        except Exception as exc:
            if not conn.in_transaction:  # SQLite rolled it all back (e.g. disk full)
                raise
            failures[i] = exc
            await conn.execute("ROLLBACK TO op")
        await conn.execute("RELEASE op")
    await conn.execute("COMMIT")


async def _rollback_quietly(conn: aiosqlite.Connection) -> None:
    with contextlib.suppress(Exception):
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
