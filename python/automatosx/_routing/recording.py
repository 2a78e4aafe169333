"""How one request's life becomes rows: the store is an observer of the request's events.

Each event is one store write; with the SQLite store's default durability that is only an
enqueue on its write-behind queue (``durability="sync"`` waits for the commit).

Store failures (:class:`StoreError`):

* write-behind (any durability but ``"sync"``): a write the store refuses never fails the
  request (the provider answered; the caller gets the answer). The loss is logged, kept in
  ``lost`` and shown by ``Router.store_errors``; a write that fails later in the writer is
  reported by the store itself.
* ``durability="sync"``: the request's writes go on after a failure so its row still ends
  terminal as far as the store allows (attempts, response, chunks, final state each tried),
  then the first failure is raised to the caller, except when the caller cancelled: a
  cancelled request ends with its ``CancelledError`` and the loss is only reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from time import time_ns
from typing import TYPE_CHECKING, Any

from automatosx._clock import now_ms
from automatosx.errors import ProviderError, StoreError, redact
from automatosx.observe import AttemptInfo, Observer, RequestEnd, RequestInfo
from automatosx.store import (
    AttemptRecord,
    LazyMessages,
    RecordSink,
    RequestRecord,
    WriteFailure,
    messages_json,
)
from automatosx.store import Outcome as AttemptOutcome

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = ["LazyMessages", "StoreObserver", "messages_json", "now_ms"]


def error_text(error: BaseException) -> str:
    return redact(str(error))[:2000]


_OUTCOMES: dict[str, AttemptOutcome] = {"success": "success", "cancelled_hedge": "cancelled_hedge"}
_STARTED = ["idle", "validating", "requesting"]  # the history once validation passed
_MAX_LOST = 1_000
_MAX_HELD = 10_000  # successful attempts held for their request's end (more: queued at once)
_CANCELS_RIDDEN = 8  # a write is submitted through this many cancels of its caller
logger = logging.getLogger("automatosx.store")


class StoreObserver(Observer):
    """Records every request into a :class:`~automatosx.store.RecordSink`."""

    __slots__ = (
        "_attempt_nowait",
        "_enter_refused",
        "_finish_nowait",
        "_start_nowait",
        "chunks",
        "deferred",
        "held",
        "lost",
        "messages",
        "sink",
        "sync",
    )

    def __init__(self, sink: RecordSink, *, messages: bool = True, chunks: bool = True) -> None:
        self.sink = sink
        self.messages = messages
        self.chunks = chunks
        self.sync = getattr(sink, "durability", None) == "sync"
        self.lost: deque[WriteFailure] = deque(maxlen=_MAX_LOST)
        """Writes the store refused at the call (write-behind), latest 1,000."""
        self.deferred: dict[str, StoreError] = {}
        """Sync mode: a request's first failed write, raised when the request finishes."""
        # The engine stores' write-behind fast path (``store/_fast.py``): a write queued as a
        # plain tuple without a coroutine, a request's end as one entry; None for other sinks.
        fast = not self.sync
        self._start_nowait = getattr(sink, "request_nowait", None) if fast else None
        self._finish_nowait = getattr(sink, "finish_request_nowait", None) if fast else None
        self._enter_refused = getattr(sink, "enter_refused", None) if fast else None
        self._attempt_nowait = (
            getattr(sink, "attempt_nowait", None) if self._finish_nowait is not None else None
        )
        self.held: dict[str, tuple[Any, ...]] = {}
        """Fast path: a request's successful attempt row, queued with its end (one entry):
        the request ends right after it."""

    def _failed(self, request_id: str, kind: str, exc: StoreError) -> None:
        if self.sync:
            self.deferred.setdefault(request_id, exc)
            return
        failure = WriteFailure(request_id, kind, f"StoreError: {redact(str(exc))[:300]}", now_ms())
        self.lost.append(failure)
        logger.error("store write refused: %s (request %s): %s", kind, request_id, failure.error)

    def _row(self, info: RequestInfo, raw_messages: Any) -> RequestRecord:
        req = info.request
        return RequestRecord(
            id=info.request_id,
            provider=info.provider,
            model=info.model,
            messages=LazyMessages(raw_messages, self.messages)
            if req is not None
            else rejected_messages(raw_messages, self.messages),
            max_tokens=None if req is None else req.max_tokens,
            temperature=1.0 if req is None else req.temperature,
            stream=info.stream,
            state="requesting",
            retry_count=0,
            history=_STARTED,
            created_at=info.created_at,
            updated_at=info.created_at,
            metadata=None if req is None else req.metadata,
            tenant=None if req is None else req.tenant,
            user=None if req is None else req.user,
        )

    async def _write(self, write: Callable[..., Awaitable[None]], *args: Any, **kw: Any) -> bool:
        """Submit one write even when the caller is cancelled meanwhile (a request's row and
        its end must both reach the store); True when a cancel arrived, for the caller to
        re-raise once all of the request's writes are submitted.

        Write-behind: a save awaits only for room in the queue, before it is queued, so a
        cancelled save is submitted again. Sync: the save runs as a task of its own and is
        waited for to the end."""
        if not self.sync:
            try:
                await write(*args, **kw)
                return False
            except asyncio.CancelledError:
                for _ in range(_CANCELS_RIDDEN):
                    try:
                        await write(*args, **kw)
                        return True
                    except asyncio.CancelledError:
                        continue
                raise
        task = asyncio.ensure_future(write(*args, **kw))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait({task})
            task.result()  # its StoreError, if any
            return True
        return False

    async def _refused(self, request_id: str) -> bool:
        """Fast path, refused for back-pressure: the entry queued once there is room (one
        wait, not one per ``save_*`` call); False: the ``save_*`` calls' turn."""
        enter = self._enter_refused
        if enter is None:
            return False
        try:
            queued: bool = await enter(request_id)
        except StoreError:  # the writer died: the save_* calls fail and report it
            return False
        return queued

    # Each event's ``*_now`` (the router calls it: no await) queues the write on the fast
    # path and returns None, else the coroutine that writes it the slow way; the coroutine
    # event is the same, awaited.

    async def request_started(self, request: RequestInfo) -> None:
        pending = self.request_started_now(request)
        if pending is not None:
            await pending

    def request_started_now(self, request: RequestInfo) -> Awaitable[None] | None:
        req = request.request
        assert req is not None
        fast = self._start_nowait
        if fast is not None and fast(
            request.request_id,
            request.provider,
            request.model,
            LazyMessages(req.messages, self.messages),
            req.max_tokens,
            req.temperature,
            request.stream,
            _STARTED,
            request.created_at,
            req.metadata,
            req.tenant,
            req.user,
        ):
            return None
        return self._request_started(request, req)

    async def _request_started(self, request: RequestInfo, req: ProviderRequest) -> None:
        if await self._refused(request.request_id):
            return
        row = self._row(request, req.messages)
        try:
            cancelled = await self._write(self.sink.save_request, row)
        except StoreError as exc:
            if self.sync:
                raise  # nothing sent yet, no row: the caller learns it now
            self._failed(request.request_id, "save_request", exc)
            return
        if cancelled:
            raise asyncio.CancelledError

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        pending = self.attempt_ended_now(request, attempt)
        if pending is not None:
            await pending

    def attempt_ended_now(
        self, request: RequestInfo, attempt: AttemptInfo
    ) -> Awaitable[None] | None:
        error = attempt.error
        if error is None:  # the common case: nothing of an error to read
            code = text = status = None
        else:
            status = error.status_code if isinstance(error, ProviderError) else None
            code = getattr(error, "code", None)
            code = code if isinstance(code, str) else None
            text = error_text(error)
        row = (  # _rows.attempt_row's values
            request.request_id,
            attempt.number,
            attempt.provider,
            attempt.model,
            _OUTCOMES.get(attempt.outcome, "failure"),
            code,
            text,
            status,
            attempt.duration_ms,
            time_ns() // 1_000_000,  # now_ms(), inline
            attempt.kind or None,
            attempt.followed_pin,
        )
        if self._attempt_nowait is not None:
            held = self.held
            if error is None and request.request_id not in held and len(held) < _MAX_HELD:
                held[request.request_id] = row  # queued with the request's end
                return None
            if self._attempt_nowait(row):
                return None
        return self._attempt_ended(request, row)

    async def _attempt_ended(self, request: RequestInfo, row: tuple[Any, ...]) -> None:
        record = AttemptRecord(*row)
        cancelled = False
        try:
            cancelled = await self._write(self.sink.save_attempt, record)
        except StoreError as exc:
            self._failed(request.request_id, "save_attempt", exc)
        if cancelled:
            raise asyncio.CancelledError

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        pending = self.request_finished_now(request, outcome)
        if pending is not None:
            await pending

    def request_finished_now(
        self, request: RequestInfo, outcome: RequestEnd
    ) -> Awaitable[None] | None:
        if request.request is None:
            return self._rejected(request, outcome)
        error = None if outcome.error is None else redact(outcome.error)[:2000]
        rid = request.request_id
        held = self.held.pop(rid, None) if self.held else None
        fast = self._finish_nowait
        updated_at = time_ns() // 1_000_000  # now_ms(), inline
        if fast is not None and fast(
            rid,
            held,
            outcome.response,
            outcome.chunks if self.chunks else None,
            outcome.state,
            outcome.retry_count,
            outcome.history,
            error,
            outcome.error_code,
            updated_at,
        ):
            return None
        return self._request_finished(rid, held, outcome, error, updated_at)

    async def _rejected(self, request: RequestInfo, outcome: RequestEnd) -> None:
        """Input that failed validation: the whole row in one write."""
        sink = self.sink
        error = None if outcome.error is None else redact(outcome.error)[:2000]
        row = self._row(request, _raw_messages(request.raw))
        row.state = outcome.state
        row.history = outcome.history
        row.error = None if error is None else writable(error)
        row.error_code = outcome.error_code
        cancelled = False
        try:
            cancelled = await self._write(sink.save_request, row)
        except StoreError as exc:
            self._failed(request.request_id, "save_request", exc)
            self._settle(request.request_id, outcome)
        if cancelled:
            raise asyncio.CancelledError

    async def _request_finished(
        self,
        rid: str,
        held: tuple[Any, ...] | None,
        outcome: RequestEnd,
        error: str | None,
        updated_at: int,
    ) -> None:
        if await self._refused(rid):
            return
        sink = self.sink
        cancelled = False
        if held is not None:
            try:
                cancelled |= await self._write(sink.save_attempt, AttemptRecord(*held))
            except StoreError as exc:
                self._failed(rid, "save_attempt", exc)
        if outcome.response is not None:
            try:
                cancelled |= await self._write(sink.save_response, outcome.response)
            except StoreError as exc:
                self._failed(rid, "save_response", exc)
        if self.chunks and outcome.chunks:
            try:
                cancelled |= await self._write(sink.save_stream_chunks, rid, outcome.chunks)
            except StoreError as exc:
                self._failed(rid, "save_stream_chunks", exc)
        try:
            cancelled |= await self._write(
                sink.update_request_state,
                rid,
                state=outcome.state,
                retry_count=outcome.retry_count,
                history=outcome.history,
                error=error,
                error_code=outcome.error_code,
                updated_at=updated_at,
            )
        except StoreError as exc:
            self._failed(rid, "update_request_state", exc)
        self._settle(rid, outcome)
        if cancelled:
            raise asyncio.CancelledError

    def _settle(self, request_id: str, outcome: RequestEnd) -> None:
        """Sync mode: raise the request's first failed write, once every write was tried
        (not over a cancellation: the caller gets its CancelledError)."""
        exc = self.deferred.pop(request_id, None) if self.deferred else None
        if exc is not None and outcome.error_code != "CANCELLED":
            raise exc


def _raw_messages(raw: Any) -> Any:
    return raw.get("messages") if isinstance(raw, dict) else None


def writable(text: str) -> str:
    """``text`` as any store can write it: a lone surrogate becomes its ``\\udXXX`` escape."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def rejected_messages(raw: Any, capture: bool) -> str:
    """The messages of input that failed validation, as JSON every store can write: they may
    hold what made the request invalid (a lone surrogate, a cycle, an object JSON cannot
    take), and the rejection must still be recorded (escaped, or a placeholder naming the
    type)."""
    try:
        text = messages_json(raw, True)
        text.encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        try:
            text = json.dumps(raw, ensure_ascii=True, separators=(",", ":"), default=repr)
        except (ValueError, TypeError, RecursionError):
            text = json.dumps(f"[not recordable: {type(raw).__name__}]")
    if capture:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
