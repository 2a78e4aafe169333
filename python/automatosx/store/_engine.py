"""The store engine: one write-behind :class:`~automatosx.store.Store` over any :class:`Dialect`.

``save_*`` build a row (cheap) and queue it (``_queue.py``); a writer thread commits the
queue in batches through the dialect (``_batch_writer.py``); reads (``_reads.py``) wait for
the writes made before them, so a store reads its own writes. What a crash leaves behind is
finalised by the next store to open the database: each open store is an *owner* with a lease
its writer thread renews; on ``open()`` the rows left unfinished by owners whose lease lapsed
(or whose process on this host is gone) end ``failed`` with error code ``INTERRUPTED``.
``store/sqlite/`` and ``store/postgres/`` subclass it only for their constructor and URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

from automatosx.errors import ConfigurationError, StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store._batch_writer import BatchWriter
from automatosx.store._dialect import Dialect
from automatosx.store._fast import FastWrites, bind_messages
from automatosx.store._owners import alive as _alive
from automatosx.store._queue import WriteQueue
from automatosx.store._reads import StoreReads
from automatosx.store._rows import (
    attempt_row,
    health_row,
    request_row,
    response_row,
    state_row,
)
from automatosx.store._schema import (
    INSERT_ATTEMPT,
    INSERT_BUDGET_DEFINITION,
    INSERT_BUDGET_SPEND,
    INSERT_CHUNK,
    INSERT_HEALTH,
    INSERT_REQUEST,
    INSERT_RESPONSE,
    UPDATE_REQUEST_STATE,
)
from automatosx.store._spool import Spool, read_spool, spool_prefix, spooled_files
from automatosx.store.base import (
    AttemptRecord,
    ChunkRow,
    RequestRecord,
    StoreState,
    WriteFailure,
    expect_type,
)

__all__ = ["EXIT_FLUSH_S", "SQLStore", "check_options", "engine_options"]

EXIT_FLUSH_S = 2.0


_ENGINE_OPTIONS = (
    "queue_size",
    "batch_size",
    "commit_interval_ms",
    "max_lag_ms",
    "max_lag_requests",
    "max_wait_ms",
    "lease_ms",
    "spool_dir",
    "on_write_error",
)


def engine_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The engine's options among a backend constructor's arguments (its ``locals()``)."""
    return {name: arguments[name] for name in _ENGINE_OPTIONS}


def check_options(**options: object) -> None:
    """Refuse a store option of the wrong type, naming it."""
    for name, value in options.items():
        if name in (
            "queue_size",
            "batch_size",
            "max_lag_requests",
            "lease_ms",
            "pool_size",
            "writers",
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")
        elif name == "on_write_error":
            if value is not None and not callable(value):
                raise ConfigurationError(
                    f"on_write_error must be a callable taking a WriteFailure, not {value!r}"
                )
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number, not {value!r}")


class SQLStore(FastWrites, StoreReads):
    """A :class:`~automatosx.store.Store` over ``dialect``. ``sync``: a save returns once its
    batch is committed; otherwise once queued. The rest: see ``_queue.py``."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        durability: str,
        sync: bool,
        queue_size: int,
        batch_size: int,
        commit_interval_ms: float,
        max_lag_ms: float,
        max_lag_requests: int,
        lease_ms: int,
        on_write_error: Callable[[WriteFailure], object] | None,
        max_wait_ms: float = 1_000,
        spool_dir: str | None = None,
    ) -> None:
        check_options(max_wait_ms=max_wait_ms)
        if spool_dir is not None and not isinstance(spool_dir, (str, os.PathLike)):
            raise ConfigurationError(f"spool_dir must be a directory path, not {spool_dir!r}")
        check_options(
            queue_size=queue_size,
            batch_size=batch_size,
            commit_interval_ms=commit_interval_ms,
            max_lag_ms=max_lag_ms,
            max_lag_requests=max_lag_requests,
            lease_ms=lease_ms,
            on_write_error=on_write_error,
        )
        self._dialect = dialect
        self._durability = durability
        self._sync = sync
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._commit_interval_ms = float(commit_interval_ms)
        self._max_lag_ms = float(max_lag_ms)
        self._max_lag_requests = max_lag_requests
        self._lease_ms = lease_ms
        self._max_wait_ms = float(max_wait_ms)
        self._spool_dir = os.fspath(spool_dir) if spool_dir is not None else None
        self._spool: Spool | None = None
        self._on_write_error = on_write_error
        self._state = StoreState.UNOPENED
        self._queue: WriteQueue | None = None
        self._writer: BatchWriter | None = None
        self._watch: asyncio.Task[None] | None = None
        self._closing = False
        self._owner = ""
        self.interrupted = 0
        """Requests of crashed owners this store finalised as INTERRUPTED when it opened."""
        # What save_* call: the queue's own submit once open (one coroutine on the hot
        # path); after close() it refuses by itself.
        self._submit: Callable[..., Awaitable[None]] = self._refuse

    @property
    def durability(self) -> str:
        return self._durability

    @property
    def state(self) -> StoreState:
        return self._state

    @property
    def owner(self) -> str:
        """This store's owner id in the database (``host:pid:random``; empty until open)."""
        return self._owner

    @property
    def write_errors(self) -> int:
        """Writes lost (or values left out of a row) since the store was opened."""
        return self._queue.write_errors if self._queue is not None else 0

    def drain_write_errors(self) -> list[WriteFailure]:
        """The write failures reported since the last call (the latest 1000), oldest first."""
        return self._queue.drain_write_errors() if self._queue is not None else []

    def write_lag_ms(self) -> float:
        """The age of the oldest write not yet committed (ms): what a crash now could lose."""
        return self._queue.lag_ms() if self._queue is not None else 0.0

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, migrate, start the writer thread, replay what dead processes spooled,
        then finalise the rows they left unfinished."""
        if self._state is StoreState.OPENED:
            raise StoreError(f"{self!r} is already open")
        if self._state is StoreState.CLOSED:
            raise StoreError(f"{self!r} is closed; a closed store cannot be reopened")
        dialect = self._dialect
        await dialect.open()
        host, pid = socket.gethostname(), os.getpid()
        owner = f"{host}:{pid}:{uuid.uuid4().hex[:12]}"
        self._owner = owner
        prefix = spool_prefix(self._spool_dir or tempfile.gettempdir(), dialect.identity)
        spool = self._spool = Spool(f"{prefix}{pid}-{owner.rsplit(':', 1)[1]}.jsonl")
        queue = WriteQueue(
            queue_size=self._queue_size,
            batch_size=self._batch_size,
            sync=self._sync,
            max_lag_ms=self._max_lag_ms,
            max_lag_requests=self._max_lag_requests,
            on_write_error=self._on_write_error,
            wake=_nothing,
            max_wait_ms=self._max_wait_ms,
            spool=spool,
        )
        writer = BatchWriter(
            queue,
            dialect,
            batch_size=self._batch_size,
            commit_interval_ms=self._commit_interval_ms,
            owner=owner,
            lease_ms=self._lease_ms,
        )
        queue._wake = writer.wake
        writer.start()
        self._queue, self._writer = queue, writer
        self._watch = asyncio.create_task(self._exit_flush(), name="automatosx-store-exit")
        self._submit = queue.submit
        self._state = StoreState.OPENED
        try:
            # what dead processes spooled first, so that what they left open is finalised
            await self._replay_spools(prefix)
            self.interrupted = await dialect.claim(owner, host, pid, self._lease_ms)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close()
            raise

    @property
    def spooled(self) -> int:
        """Writes this store has spooled since it opened (its writer was stalled)."""
        return self._spool.total if self._spool is not None else 0

    async def _replay_spools(self, prefix: str) -> None:
        """Queue the writes of spool files left by dead processes, then delete the files."""
        for path, pid in spooled_files(prefix):
            if pid == os.getpid() or _alive(pid):
                continue
            for write, row, many, key in read_spool(path):
                await self._submit(write, row, many=many, key=key)
            await self.flush_quietly()
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def flush_quietly(self) -> None:
        """Wait for the writes so far; their failures stay reported, not raised."""
        if self._queue is not None:
            await self._queue.drain()

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
        queue, writer = self._queue, self._writer
        assert queue is not None
        assert writer is not None
        queue.accepting = False
        try:
            while queue.error is None:
                await queue.drain()
                if queue.settled:
                    break
                queue.release_room()
                await asyncio.sleep(0)  # let callers given room enqueue
        finally:
            writer.stop(release=queue.error is None)
            await asyncio.to_thread(writer.join)
            if self._watch is not None:
                self._watch.cancel()
            await self._dialect.close()
            if self._spool is not None:
                self._spool.close(remove=not self._spool.ops)
            self._state = StoreState.CLOSED
        if queue.error is not None:
            raise queue.error
        queue.raise_failures()

    async def _exit_flush(self) -> None:
        """Cancelled by the loop's shutdown while the store is still open (``asyncio.run``
        returning without ``close()``): write what is queued (bounded), then warn."""
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            if not self._closing and self._queue is not None and self._writer is not None:
                self._queue.accepting = False
                queued = self._queue.queued + len(self._queue.inflight)
                self._writer.stop(release=False)
                self._writer.join(EXIT_FLUSH_S)
                warnings.warn(  # last: with warnings as errors, the writes are made all the same
                    f"an automatosx store was never closed; {queued} queued write(s) written at"
                    " exit (use `async with open_store(url)` or `await store.close()`)",
                    ResourceWarning,
                    stacklevel=1,
                )
            raise

    async def __aenter__(self) -> Any:
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
        queue = self._usable()
        await queue.drain()
        queue.raise_failures()

    # -- writes (the hot path) ------------------------------------------------------------

    async def save_request(self, record: RequestRecord) -> None:
        expect_type("save_request", record, RequestRecord)
        metadata = self._json(record.id, "save_request.metadata", record.metadata)
        await self._submit(
            INSERT_REQUEST,
            request_row(record, metadata, self._owner),
            key=record.id,
            prepare=None if type(record.messages) is str else bind_messages,
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
        row = state_row(request_id, state, retry_count, history, error, error_code, updated_at)
        await self._submit(UPDATE_REQUEST_STATE, row, key=request_id)

    async def save_attempt(self, record: AttemptRecord) -> None:
        expect_type("save_attempt", record, AttemptRecord)
        await self._submit(INSERT_ATTEMPT, attempt_row(record), key=record.request_id)

    async def save_response(self, response: ProviderResponse) -> None:
        expect_type("save_response", response, ProviderResponse)
        rid = response.request_id
        metadata = self._json(rid, "save_response.metadata", response.metadata)
        await self._submit(INSERT_RESPONSE, response_row(response, metadata), key=rid)

    async def save_stream_chunks(self, request_id: str, chunks: Sequence[ChunkRow]) -> None:
        expect_type("save_stream_chunks", request_id, str)
        expect_type("save_stream_chunks", chunks, (list, tuple))
        if chunks:
            rows = [(request_id, index, text, ts) for index, text, ts in chunks]
            await self._submit(INSERT_CHUNK, rows, many=True, key=request_id)

    async def save_health_check(self, health: ProviderHealth) -> None:
        expect_type("save_health_check", health, ProviderHealth)
        await self._submit(INSERT_HEALTH, health_row(health))

    async def save_budget_definitions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Budgets' definitions at a router's ``open()`` (``budgets/_sql.definition_row``)."""
        if rows:
            await self._submit(INSERT_BUDGET_DEFINITION, list(rows), many=True)

    async def save_budget_spend(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Attempts' spend per budget scope (``budgets/_sql.spend_row``)."""
        if rows:
            await self._submit(INSERT_BUDGET_SPEND, list(rows), many=True)

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[list[Any]]:
        """The rows of one read query of a feature's own tables, after the writes queued so
        far are committed; ``{1}``, ``{2}``... in ``sql`` are the parameters' placeholders
        (``?`` or ``$n``, the dialect's)."""
        marks = [self._dialect.mark(i) for i in range(1, len(params) + 1)]
        (rows,) = await self._fetch((sql.format(None, *marks), params))
        return [list(row) for row in rows]

    async def _refuse(self, *args: Any, **kwargs: Any) -> None:
        """``_submit`` until the store is opened."""
        raise self._unusable()

    def _usable(self) -> WriteQueue:
        queue = self._queue
        if self._state is not StoreState.OPENED or queue is None or queue.error is not None:
            raise self._unusable()
        return queue

    def _unusable(self) -> StoreError:
        if self._queue is not None and self._queue.error is not None:
            return self._queue.error
        if self._state is StoreState.UNOPENED:
            return StoreError(
                "the store is not open: call `await store.open()` first, or use"
                " `async with open_store(url) as store:`"
            )
        return StoreError("the store is closed")

    async def _fetch(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        await self._usable().drain()
        return await self._dialect.fetch(queries)


def _nothing() -> None:
    return None
