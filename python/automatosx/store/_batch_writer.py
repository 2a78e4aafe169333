"""The writer thread: takes the queue's writes in batches and commits them through a dialect.

* **Its own thread and loop.** A commit never waits for the caller's event loop: a loop that
  is CPU-bound or blocked still has its writes committed (the lag bound holds under load).
  Results go back with ``call_soon_threadsafe`` (``WriteQueue.settle``).
* **Batches.** One transaction per batch (per lane), each write kind's rows together, kinds
  in ``WRITES`` order (referenced rows first). A request inserted and updated in one batch is
  written once in its final state (the updates folded into the insert). A transaction is kept
  within about ``commit_interval_ms``: the batch halves after a slow one, doubles after fast.
* **Lanes.** A dialect with several writer connections splits a large batch by request id
  (a request's writes stay in order on one lane); each lane commits its own part.
* **Poison is isolated.** A batch rejected for any reason is rolled back and replayed write
  by write (a savepoint each): only the writes that fail are lost, and reported.
* **Transient and lost.** A deadlock/serialization failure retries the batch (up to 5
  times); a lost connection reconnects and retries once, then the batch's writes fail.
* **Spool.** Once the queue's writes are done, it drains the spool (``_spool.py``) in order;
  when that is empty, spooling stops.
* **Lease.** Between batches, at least every third of ``lease_ms``, it renews the store's
  owner lease (orphaned rows are finalised by the next store to open, ``_engine.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from automatosx.errors import StoreError
from automatosx.store._dialect import Dialect, Group
from automatosx.store._queue import Note, QueuedOp, WriteQueue
from automatosx.store._schema import (
    COMPOSITE,
    INSERT_ATTEMPT,
    INSERT_CHUNK,
    INSERT_REQUEST,
    INSERT_RESPONSE,
    REPLAYS,
    UPDATE_REQUEST_STATE,
    WRITES,
    Write,
)

__all__ = ["BatchWriter"]

logger = logging.getLogger("automatosx.store")

_MAX_RETRIES = 5
_SPLIT_AT = 64  # a smaller batch goes whole to the first lane: one transaction
_RANK = {id(write): i for i, write in enumerate(WRITES)} | {
    id(REPLAYS[write.label]): i for i, write in enumerate(WRITES)
}
# (position in an UPDATE_REQUEST_STATE row, position in an INSERT_REQUEST row)
_FOLDED = tuple(
    (i, INSERT_REQUEST.names.index(name)) for i, name in enumerate(UPDATE_REQUEST_STATE.names[:-1])
)


class BatchWriter:
    """Drains ``queue`` on a thread of its own. ``start()`` once; ``stop()`` to finish."""

    def __init__(
        self,
        queue: WriteQueue,
        dialect: Dialect,
        *,
        batch_size: int,
        commit_interval_ms: float,
        owner: str,
        lease_ms: int,
    ) -> None:
        self.lag_samples: deque[float] | None = None  # set to a deque to record lags (ms)
        self.idle = False
        self._queue = queue
        self._dialect = dialect
        self._caller = asyncio.get_running_loop()
        self._event = threading.Event()
        self._stopping = False
        self._wake_posted = False
        self._release = False
        self._batch_size = batch_size
        self._batch_limit = batch_size
        self._interval_s = commit_interval_ms / 1000
        self._rate: float | None = None
        self._last_commit: float | None = None
        self._owner = owner
        self._lease_ms = lease_ms
        self._conns: list[Any] = [None] * max(1, dialect.lanes)
        self._thread = threading.Thread(
            target=self._main, name="automatosx-store-writer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Called by ``submit`` after it queued a write (the hot path: cheap when busy). The
        wake is posted to the caller's loop, once per iteration: the writer starts once the
        loop has run what is ready (a burst's writes in one batch, no GIL fight meanwhile);
        a loop that does not yield delays it ``commit_interval_ms`` at most."""
        if self.idle and not self._wake_posted:
            self._wake_posted = True
            self._caller.call_soon(self._wake_now)

    def _wake_now(self) -> None:
        self._wake_posted = False
        self._event.set()

    def stop(self, *, release: bool) -> None:
        """Write what is queued, then end the thread (``join`` waits for it). ``release``:
        drop the owner lease (a clean close: nothing of this owner is left unfinished)."""
        self._release = release
        self._stopping = True
        self._event.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run())
        except BaseException as exc:  # a bug or an interpreter shutdown: say so, stop
            error = StoreError("the store's writer thread stopped unexpectedly")
            error.__cause__ = exc
            self._post(self._queue.fail, error)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._close_connections())
            loop.close()

    async def _run(self) -> None:
        queue = self._queue
        pending = queue.pending
        beat_every = self._lease_ms / 3000
        next_beat = time.monotonic() + beat_every
        spool = queue.spool
        while True:
            spooled = spool is not None and bool(spool.ops)
            if not pending and not spooled:
                if self._stopping:
                    break
                self.idle = True
                if not pending and not (spool is not None and spool.ops) and not self._stopping:
                    # a wake posted to a loop that is busy (not yet run): look again soon
                    most = self._interval_s if self._wake_posted else 1.0
                    self._event.wait(max(0.0, min(next_beat - time.monotonic(), most)))
                self._event.clear()
                self.idle = False
            if time.monotonic() >= next_beat:
                await self._heartbeat()
                next_beat = time.monotonic() + beat_every
            if pending:  # what was queued before any spooling first
                taken = [pending.popleft() for _ in range(min(self._batch_limit, len(pending)))]
                queue.inflight = taken  # (the lag: the oldest entry's time queued)
                batch = _parts(taken)
            elif spool is not None and spool.ops:  # never a COMPOSITE entry (not spooled)
                taken = batch = spool.take(self._batch_limit)
            else:
                continue
            queue.inflight = batch
            started = time.monotonic()
            failures, notes = await self._write(batch)
            committed = time.monotonic()
            self._resize(committed - started, committed, len(taken))
            if self.lag_samples is not None:
                self.lag_samples.extend((committed - op[6]) * 1000 for op in batch)
            queue.inflight = []
            self._post(queue.settle, batch, failures, notes)
            if spool is not None and spool.active and not pending:
                spool.drained()
        if self._release:
            with contextlib.suppress(Exception):
                await self._dialect.release(await self._connection(0), self._owner)

    def _post(self, callback: Callable[..., object], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            self._caller.call_soon_threadsafe(callback, *args)

    async def _heartbeat(self) -> None:
        try:
            await self._dialect.heartbeat(await self._connection(0), self._owner, self._lease_ms)
        except Exception as exc:  # the next batch reconnects; a lease is renewed next time
            logger.warning("store lease renewal failed: %s", type(exc).__name__)
            if self._dialect.lost(self._conns[0], exc):
                self._drop(0)

    def _resize(self, elapsed_s: float, committed: float, written: int) -> None:
        if elapsed_s > self._interval_s and self._batch_limit > 1:
            self._batch_limit //= 2
        elif elapsed_s < self._interval_s / 4 and self._batch_limit < self._batch_size:
            self._batch_limit = min(self._batch_size, self._batch_limit * 2)
        cycle = elapsed_s if self._last_commit is None else committed - self._last_commit
        self._last_commit = committed
        rate = written / max(cycle, 1e-6)
        self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
        self._post(self._queue.resize, self._rate)

    # -- one batch ------------------------------------------------------------------------

    async def _write(self, batch: list[QueuedOp]) -> tuple[dict[int, BaseException], list[Note]]:
        failures: dict[int, BaseException] = {}
        notes: list[Note] = []
        rows = _prepare(batch, failures, notes)
        lanes = len(self._conns)
        if lanes == 1 or len(batch) < _SPLIT_AT:
            await self._write_part(0, list(range(len(batch))), batch, rows, failures)
        else:
            parts: list[list[int]] = [[] for _ in range(lanes)]
            for i, op in enumerate(batch):
                parts[0 if op[4] is None else hash(op[4]) % lanes].append(i)
            await asyncio.gather(
                *(
                    self._write_part(lane, part, batch, rows, failures)
                    for lane, part in enumerate(parts)
                )
            )
        if failures:
            scrub = self._dialect.scrub
            failures = {i: scrub(exc) for i, exc in failures.items()}
        return failures, notes

    async def _write_part(
        self,
        lane: int,
        part: list[int],
        batch: list[QueuedOp],
        rows: list[Any],
        failures: dict[int, BaseException],
    ) -> None:
        todo = [i for i in part if i not in failures]
        if not todo:
            return
        groups = _grouped(todo, batch, rows)
        dialect = self._dialect
        reconnected = False
        retries = 0
        while True:
            try:
                conn = await self._connection(lane)
            except Exception as exc:  # the server is unreachable: this part is lost
                _fail(todo, failures, exc)
                return
            try:
                await dialect.write(conn, groups)
                return
            except Exception as exc:
                if dialect.transient(exc) and retries < _MAX_RETRIES:
                    retries += 1
                    continue
                if dialect.lost(conn, exc):
                    self._drop(lane)
                    if reconnected:
                        _fail(todo, failures, exc)
                        return
                    reconnected = True
                    continue
                if dialect.transient(exc):
                    _fail(todo, failures, exc)
                    return
            ops = [(i, (batch[i][0], rows[i], batch[i][2])) for i in todo]
            try:
                failures.update(await dialect.replay(conn, ops))
            except Exception as exc:  # the connection failed during the replay
                self._drop(lane)
                _fail(todo, failures, exc)
            return

    async def _connection(self, lane: int) -> Any:
        conn = self._conns[lane]
        if conn is None:
            conn = self._conns[lane] = await self._dialect.connect_writer()
        return conn

    def _drop(self, lane: int) -> None:
        conn, self._conns[lane] = self._conns[lane], None
        if conn is not None:
            with contextlib.suppress(Exception):
                self._dialect.drop_writer(conn)

    async def _close_connections(self) -> None:
        conns, self._conns = self._conns, [None] * len(self._conns)
        for conn in conns:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await self._dialect.close_writer(conn)


def _parts(taken: list[QueuedOp]) -> list[QueuedOp]:
    """The entries with each ``COMPOSITE`` request end taken apart into its writes (same
    request, same time queued), its chunk rows built here: from here on each part is an op
    of its own, written, replayed and settled on its own (the queue counted its parts)."""
    ops: list[QueuedOp] = []
    append = ops.append
    for op in taken:
        if op[0] is not COMPOSITE:
            append(op)
            continue
        attempt, response, chunks, state = op[1]
        key, queued = op[4], op[6]
        if attempt is not None:
            append((INSERT_ATTEMPT, attempt, False, None, key, None, queued))
        if response is not None:
            append((INSERT_RESPONSE, response, False, None, key, None, queued))
        if chunks is not None:
            rows = [(key, index, text, ts) for index, text, ts in chunks]
            append((INSERT_CHUNK, rows, True, None, key, None, queued))
        append((UPDATE_REQUEST_STATE, state, False, None, key, None, queued))
    return ops


def _prepare(
    batch: list[QueuedOp], failures: dict[int, BaseException], notes: list[Note]
) -> list[Any]:
    rows: list[Any] = []
    for i, (_write, row, _many, _waiter, _key, prepare, _t) in enumerate(batch):
        if prepare is None:
            rows.append(row)
            continue
        try:
            rows.append(prepare(row, notes))
        except Exception as exc:
            failures[i] = exc
            rows.append(None)
    return rows


def _fail(todo: list[int], failures: dict[int, BaseException], exc: BaseException) -> None:
    for i in todo:
        failures.setdefault(i, exc)


def _grouped(todo: list[int], batch: list[QueuedOp], rows: list[Any]) -> list[Group]:
    """The rows by write, writes in ``WRITES`` order (others last), rows in FIFO order; a
    request's state updates folded into its insert when both are here; of several updates of
    one row, the last (an update sets every column it names)."""
    groups: dict[Write, list[Sequence[Any]]] = {}
    for i in todo:
        write, many = batch[i][0], batch[i][2]
        group = groups.setdefault(write, [])
        if many:
            group.extend(rows[i])
        else:
            group.append(rows[i])
    updates = groups.get(UPDATE_REQUEST_STATE)
    if updates:
        last = {row[-1]: row for row in updates}
        inserts = groups.get(INSERT_REQUEST)
        if inserts:
            position = {row[0]: n for n, row in enumerate(inserts)}
            for request_id in [r for r in last if r in position]:
                n = position[request_id]
                row = list(inserts[n])
                update = last.pop(request_id)
                for source, target in _FOLDED:
                    row[target] = update[source]
                inserts[n] = row
        groups[UPDATE_REQUEST_STATE] = list(last.values())
    last_rank = len(_RANK)
    ordered = sorted(groups.items(), key=lambda item: _RANK.get(id(item[0]), last_rank))
    return [(write, group) for write, group in ordered if group]
