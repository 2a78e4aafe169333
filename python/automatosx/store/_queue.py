"""The write-behind queue: the caller's side of a store (submit, back-pressure, flush, reports).

Contract (the writer thread's side is ``_batch_writer.py``):

* **Order.** ``submit`` appends a write to the queue (the caller's hot path) and wakes the
  writer thread if it is idle. Writes are committed in batches, in FIFO order per write kind.
* **Loss window.** The writer is a thread: it commits whether or not the caller's event loop
  ever yields. The *lag* is the age of the oldest write not yet committed; what a crash can
  lose is bounded by it, and by the requests it covers.
* **Back-pressure, never drop.** A caller waits (FIFO) while the lag exceeds ``max_lag_ms``,
  while ``max_lag_requests`` requests have a write not yet committed (a new request waits;
  one already lagging goes on, past the callers waiting their turn: a burst's request ends
  are queued with their rows, folded into one insert), or while the queue is full
  (``queue_size``, and no more than the writer commits in a quarter of ``max_lag_ms``).
  Waiters are let in once the writer has caught up to half the bound.
* **Reports.** Each lost write (or left-out value) is reported at once: logged at ERROR with
  its request id (never the row), counted in ``write_errors``, kept for
  ``drain_write_errors()``, passed to ``on_write_error``. In ``sync`` mode the failing
  ``submit`` also raises :class:`StoreError`; otherwise ``raise_failures()`` (``flush``/
  ``close``) raises it later.

* **A bounded wait.** In write-behind mode with a spool, a caller waits ``max_wait_ms`` at
  most: then that write and every later one go to the spool (``_spool.py``), never dropped.

Everything here runs on the caller's loop, except ``pending``'s other end and ``committed``:
the writer pops ops and posts :meth:`WriteQueue.settle` back with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from automatosx.errors import StoreError
from automatosx.store._reports import Reports, describe_error
from automatosx.store._schema import Write
from automatosx.store._spool import Spool
from automatosx.store.base import WriteFailure

__all__ = ["Note", "Prepare", "QueuedOp", "WriteQueue", "describe_error"]

logger = logging.getLogger("automatosx.store")

Note = tuple["str | None", str, BaseException]
"""A value left out of a row: (request id, what, why); reported when the batch settles."""
Prepare = Callable[[Any, list[Note]], Any]
"""Turns a queued write's row into a bindable one, in the writer thread (off the hot path);
a value it has to leave out is added to the notes."""

# write, row (a list of rows when `many`), many, waiter (sync mode), request id, prepare,
# monotonic time queued
QueuedOp = tuple[Write, Any, bool, "asyncio.Future[None] | None", str | None, Prepare | None, float]
_CANCELS_RIDDEN = 8  # as the recorder rides them (_routing/recording.py)


class WriteQueue(Reports):
    """The queue between callers and the writer thread. Create it on the caller's loop."""

    def __init__(
        self,
        *,
        queue_size: int,
        batch_size: int,
        sync: bool,
        max_lag_ms: float,
        max_lag_requests: int,
        on_write_error: Callable[[WriteFailure], object] | None,
        wake: Callable[[], None],
        max_wait_ms: float | None = None,
        spool: Spool | None = None,
    ) -> None:
        super().__init__(on_write_error)
        self.accepting = True  # the hot-path check: False once closing or stopped
        self.error: StoreError | None = None  # set if the writer thread died
        self.pending: deque[QueuedOp] = deque()  # popped by the writer thread
        self.inflight: list[QueuedOp] = []  # the batch being written (set by the writer)
        self.room_limit = min(queue_size, batch_size)  # then what commits in max_lag / 4
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.sync = sync
        self.max_lag_s = max_lag_ms / 1000
        self.max_wait_s = None if max_wait_ms is None or sync else max_wait_ms / 1000
        self.spool = spool
        self._max_lag_requests = max_lag_requests
        self._wake = wake
        self._loop = asyncio.get_running_loop()
        self._lagging: dict[str, int] = {}  # request id -> its writes not yet settled
        self._room_waiters: deque[asyncio.Future[bool | None]] = deque()
        self._wait_started: dict[asyncio.Future[bool | None], float] = {}  # bounded waits
        self._watchdog: asyncio.TimerHandle | None = None
        self._enqueued = 0
        self._done = 0  # ops settled (written or failed)
        self._blocked_puts = 0
        self._entering = 0  # callers that waited and have not queued their write yet
        self._granted = 0
        self._flushers: deque[tuple[int, asyncio.Future[None]]] = deque()
        # the entry submit_nowait last refused for back-pressure alone: (write, row, key,
        # prepare, parts), for enter_refused (one slot: it is called right after the refusal)
        self.refused: tuple[Write, Any, str, Prepare | None, int] | None = None

    @property
    def queued(self) -> int:
        return len(self.pending)

    @property
    def lagging_requests(self) -> int:
        """Requests with a write not yet known to be committed."""
        return len(self._lagging)

    def oldest(self) -> float | None:
        try:
            if self.inflight:
                return self.inflight[0][6]
            return self.pending[0][6] if self.pending else None
        except IndexError:  # the writer took it meanwhile
            return None

    def lag_ms(self) -> float:
        oldest = self.oldest()
        return 0.0 if oldest is None else (time.monotonic() - oldest) * 1000

    # -- the caller's side ----------------------------------------------------------------

    async def submit(
        self,
        write: Write,
        row: Any,
        many: bool = False,
        key: str | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        if not self.accepting:
            raise self.error or StoreError("the store is closed")
        spool = self.spool
        if spool is not None and spool.active:
            self._spool(write, row, many, key, prepare)
            return
        if self._must_wait(key):
            self._entering += 1  # until queued: close() waits for it
            try:
                if await self._wait_for_room():  # the writer is stuck: hold the caller no longer
                    self._start_spooling()
                    self._spool(write, row, many, key, prepare)
                    return
                after: asyncio.Future[None] | None = None
                if self.sync:
                    after = self._loop.create_future()
                self._granted -= 1
                self._queue_op(write, row, many, key, prepare, after)
            finally:
                self._entering -= 1
            if after is not None:
                await after
            return
        waiter: asyncio.Future[None] | None = None
        if self.sync:
            waiter = self._loop.create_future()
        self._queue_op(write, row, many, key, prepare, waiter)
        if waiter is not None:
            await waiter

    def submit_nowait(
        self, write: Write, row: Any, key: str, prepare: Prepare | None = None, parts: int = 1
    ) -> bool:
        """The write-behind hot path (the router's recorder): queue one entry now, without a
        coroutine. ``parts``: the writes it holds (a ``COMPOSITE`` request end: each part is
        settled, counted and reported on its own; the request counts once in
        ``max_lag_requests``). False, nothing queued, when it cannot be queued at once: sync
        mode, closing, spooling, or any back-pressure :meth:`submit` would wait for; the
        caller then awaits the ``save_*`` calls, which wait or spool as they must."""
        if self.sync or not self.accepting:
            return False
        spool = self.spool
        if spool is not None and spool.active:
            return False
        pending = self.pending
        lagging = self._lagging
        count = lagging.get(key)
        now = time.monotonic()
        if count is None and (  # a request under way (a write not yet committed) goes on
            self._room_waiters
            or len(pending) + self._granted >= self.room_limit
            or len(lagging) >= self._max_lag_requests
        ):
            self.refused = (write, row, key, prepare, parts)
            return False
        oldest = self.oldest()  # but not past a stalled writer: it waits, then spools
        if oldest is not None and now - oldest > self.max_lag_s:
            self.refused = (write, row, key, prepare, parts)
            return False
        lagging[key] = (count or 0) + parts
        pending.append((write, row, False, None, key, prepare, now))
        self._enqueued += parts
        self._wake()
        return True

    async def enter_refused(self, key: str) -> bool:
        """Queue the entry :meth:`submit_nowait` just refused for ``key`` for back-pressure
        alone, once there is room (a turn among :meth:`submit`'s waiters): True, queued.
        False, nothing queued, when there is none, or the bounded wait ran out (the writer
        is stuck: the caller's ``save_*`` calls spool). A cancel while waiting is ridden
        (the request's rows must reach the store), then raised."""
        refused, self.refused = self.refused, None
        if refused is None or refused[2] != key or not self.accepting:
            return False
        write, row, _key, prepare, parts = refused
        cancels = 0
        while self._must_wait(key):
            self._entering += 1  # until queued: close() waits for it
            try:
                timed_out = await self._wait_for_room()
            except asyncio.CancelledError:
                cancels += 1
                if cancels > _CANCELS_RIDDEN:
                    raise
                continue
            finally:
                self._entering -= 1
            if timed_out:
                self._start_spooling()
                if cancels:
                    task = asyncio.current_task()
                    if task is not None:
                        task.cancel()  # the save_* calls ride it and raise it
                return False
            self._granted -= 1
            break
        lagging = self._lagging
        lagging[key] = lagging.get(key, 0) + parts
        self.pending.append((write, row, False, None, key, prepare, time.monotonic()))
        self._enqueued += parts
        self._wake()
        if cancels:
            raise asyncio.CancelledError
        return True

    def _queue_op(
        self,
        write: Write,
        row: Any,
        many: bool,
        key: str | None,
        prepare: Prepare | None,
        waiter: asyncio.Future[None] | None,
    ) -> None:
        if key is not None:
            lagging = self._lagging
            lagging[key] = lagging.get(key, 0) + 1
        self.pending.append((write, row, many, waiter, key, prepare, time.monotonic()))
        self._enqueued += 1
        self._wake()

    def _spool(
        self, write: Write, row: Any, many: bool, key: str | None, prepare: Prepare | None
    ) -> None:
        spool = self.spool
        assert spool is not None
        if prepare is not None:  # the file holds what the database would get
            notes: list[Note] = []
            try:
                row = prepare(row, notes)
            finally:
                for note in notes:
                    self.report(*note)
        op: QueuedOp = (write, row, many, None, key, None, time.monotonic())
        with spool.lock:
            if spool.active:
                spool.append(op, write, row, many, key)
            else:  # the writer drained the spool meanwhile: back to the queue
                self.pending.append(op)
        if key is not None:
            self._lagging[key] = self._lagging.get(key, 0) + 1
        self._enqueued += 1
        self._wake()

    def _must_wait(self, key: str | None) -> bool:
        if self._room_waiters or len(self.pending) + self._granted >= self.room_limit:
            return True
        if (
            key is not None
            and len(self._lagging) >= self._max_lag_requests
            and key not in self._lagging
        ):
            return True
        oldest = self.oldest()
        return oldest is not None and time.monotonic() - oldest > self.max_lag_s

    async def _wait_for_room(self) -> bool | None:
        """Wait for a turn (FIFO). True: ``max_wait_ms`` ran out first (a spool only): no
        room is held. Otherwise the room stays counted in ``_granted`` until the caller has
        queued its write."""
        room: asyncio.Future[bool | None] = self._loop.create_future()
        self._room_waiters.append(room)
        self._blocked_puts += 1
        bounded = self.max_wait_s is not None and self.spool is not None
        if bounded:  # one timer for all waiters, not a wait_for (a task, a timer) each
            self._wait_started[room] = time.monotonic()
            if self._watchdog is None:
                self._watchdog = self._loop.call_later(self.max_wait_s or 0, self._expire)
        try:
            timed_out = await room
        except BaseException:
            if room in self._room_waiters:
                self._room_waiters.remove(room)
            elif room.done() and not room.cancelled() and room.result() is None:
                self._granted -= 1
                self.release_room()  # pass the room it was given on
            raise
        finally:
            self._blocked_puts -= 1
            if bounded:
                self._wait_started.pop(room, None)
        if timed_out:
            return True
        if self.error is not None:
            self._granted -= 1
            raise self.error
        return None

    def _expire(self) -> None:
        """The waiters' timer: a waiter older than ``max_wait_ms`` is let go (True)."""
        self._watchdog = None
        limit = self.max_wait_s or 0
        now = time.monotonic()
        for room, started in list(self._wait_started.items()):  # oldest first
            if room.done():
                continue
            if now - started < limit:
                self._watchdog = self._loop.call_later(started + limit - now, self._expire)
                return
            if room in self._room_waiters:
                self._room_waiters.remove(room)
            room.set_result(True)

    def _start_spooling(self) -> None:
        spool = self.spool
        assert spool is not None
        with spool.lock:
            spool.active = True
        logger.warning("store writer stalled: spooling writes to %s", spool.path)

    def release_room(self) -> None:
        if not self._room_waiters:
            return
        oldest = self.oldest()
        if oldest is not None and time.monotonic() - oldest > self.max_lag_s / 2:
            return  # hysteresis: let the writer get well under the bound first
        lagging = len(self._lagging)
        if lagging > self._max_lag_requests // 2:
            return
        room = min(
            self.room_limit - len(self.pending) - self._granted,
            self._max_lag_requests - lagging - self._granted,  # each may start a request
        )
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
        future = self._loop.create_future()
        self._flushers.append((target, future))
        await future

    @property
    def settled(self) -> bool:
        return self._blocked_puts == 0 and self._entering == 0 and self._done >= self._enqueued

    # -- settling (posted by the writer thread) --------------------------------------------

    def settle(
        self, batch: list[QueuedOp], failures: dict[int, BaseException], notes: list[Note]
    ) -> None:
        for key, kind, exc in notes:
            self.report(key, kind, exc)
        lagging = self._lagging
        for i, (write, _row, _many, waiter, key, _prepare, _t) in enumerate(batch):
            if key is not None:
                left = lagging.get(key, 1) - 1
                if left > 0:
                    lagging[key] = left
                else:
                    lagging.pop(key, None)
            cause = failures.get(i)
            if cause is None:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            self.report(key, write.label, cause)
            error = StoreError(f"{write.label} failed: {describe_error(cause)}")
            error.__cause__ = cause
            if waiter is not None:
                if not waiter.done():
                    waiter.set_exception(error)
            else:
                self.keep(error)
        self._done += len(batch)
        flushers = self._flushers
        while flushers and flushers[0][0] <= self._done:
            _, future = flushers.popleft()
            if not future.done():
                future.set_result(None)
        self.release_room()

    def resize(self, rate: float) -> None:
        """Hold no more than the writer commits (``rate`` per second) in max_lag / 4."""
        drains = int(rate * self.max_lag_s / 4)
        self.room_limit = min(self.queue_size, max(drains, self.batch_size))

    def fail(self, error: StoreError) -> None:
        """The writer thread died: refuse new writes, fail every waiter with ``error``."""
        self.accepting = False
        self.error = error
        while self._flushers:
            _, future = self._flushers.popleft()
            if not future.done():
                future.set_exception(error)
        while self._room_waiters:
            room = self._room_waiters.popleft()
            if not room.done():
                self._granted += 1
                room.set_result(None)  # it wakes, sees `error`, raises it
        for op in [*self.inflight, *self.pending]:
            waiter = op[3]
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)
