"""A streamed request: the :class:`Stream` handle, itself the async iterator.

The stream shares the attempt loop with ``execute`` (``attempt.py``): an attempt is
established when its first non-empty event arrives within the time-to-first-token limit.
From then on chunks flow to the caller; a gap longer than ``streamIdleTimeoutMs`` between
chunks, a cut, or an error event fails the attempt, and the policy decides: with
``restartStreams`` the stream starts again (same deployment or the next candidate) and the
new attempt's first chunk carries ``restart=True`` with ``index`` back at 0; without it the
stream ends with the error.

Each completed tool call the provider streams becomes a chunk of its own (``tool_call`` set,
empty text, the next index); the final response holds every call (``StreamEnd.tool_calls``)
and the detailed usage. Text is tested for first, so a text-only stream pays nothing more.

``Stream.__anext__`` pulls the provider's events itself: no async generator of ours per
stream (the loop registers and finalizes each), a chunk is one await of the provider's
iterator and one ``StreamRun.deliver``. What is not a text chunk (the start, a tool call, the
end, a failure, a cancel) takes the slow path (``_step``), where every change of the
request's state is the Run's (``deliver``, ``failed``, ``streamed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any

from automatosx._routing.attempt import StreamTimer, attempt, our_cancel, record_cancel
from automatosx._routing.before import Answer, answer_before, tell_abandoned, tell_after
from automatosx._routing.limits import timeout_of
from automatosx._routing.plan import Deployment
from automatosx._routing.policy import as_provider_error
from automatosx._routing.run import Run
from automatosx._routing.streamed import StreamRun
from automatosx.errors import ProviderTimeoutError, RequestValidationError
from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import ProviderRequest, ProviderResponse, StreamChunk, TokenUsage, ToolCall

__all__ = ["Stream"]

log = logging.getLogger("automatosx")
_current_task = asyncio.current_task
_END = StreamEnd(TokenUsage())

Opener = Callable[[Any, bool], Awaitable[Run]]
"""What turns the caller's input into a started-to-be Run (the router's intake)."""

# Where a stream is between two __anext__ calls (a text chunk's fast path needs none:
# ``_pull`` is set exactly while an attempt streams).
_NEW, _ATTEMPT, _STREAMING, _REPLAY, _OVER = 0, 1, 2, 3, 4


class Stream:
    """A streamed request: an async iterator of :class:`StreamChunk`.

    ``response`` is the final :class:`ProviderResponse` once the stream is exhausted (None
    before, or when it failed). Leaving the loop early (``break``) or cancelling the task ends
    the request as failed with code ``CANCELLED``; use ``async with router.stream(req) as s``
    (or ``await s.aclose()``) to make that happen at once rather than when the router closes.
    A stream closed before it was iterated is recorded ``CANCELLED`` too (it entered).
    A chunk with ``restart=True`` means the reply started again (after a mid-reply failure):
    discard what the earlier chunks showed; its ``index`` is 0.
    """

    __slots__ = (
        "__weakref__",
        "_dep",
        "_dog",
        "_ended",
        "_events",
        "_loop",
        "_observed",
        "_opener",
        "_pull",
        "_replay",
        "_request",
        "_run",
        "_state",
        "_task",
        "_timer",
        "_told",
        "response",
    )

    _dep: Deployment
    _dog: StreamTimer | None
    _events: AsyncIterator[StreamEvent] | None
    _loop: asyncio.AbstractEventLoop
    _observed: bool
    _replay: _Replay
    _run: StreamRun
    _task: asyncio.Task[Any]
    _timer: StreamTimer
    _told: bool

    def __init__(self, opener: Opener, request: ProviderRequest | Any) -> None:
        self._opener = opener
        self._request = request
        self._state = _NEW
        self._pull: Callable[[], Awaitable[StreamEvent]] | None = None
        self._ended = False
        self.response: ProviderResponse | None = None

    @property
    def finished(self) -> bool:
        """Whether the stream has ended (completed, failed or closed); one never iterated
        has not."""
        return self._ended

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> StreamChunk:
        """The next chunk. A text chunk of a streaming attempt is this method alone."""
        pull = self._pull
        if pull is None:
            if self._state == _OVER:
                raise StopAsyncIteration
            return await self._step(None)
        dog = self._dog
        try:
            while True:
                if dog is None:
                    try:
                        item = await pull()
                    except StopAsyncIteration:
                        item = _END
                else:
                    dog.waiting_since = self._loop.time()
                    try:
                        item = await pull()
                    except StopAsyncIteration:
                        item = _END
                    dog.waiting_since = None
                if item or type(item) is not str:  # skips empty text
                    break
        except BaseException as exc:
            return await self._step(exc)
        if type(item) is str:  # text first: the common case pays one test
            chunk = self._run.deliver(item)
            if self._observed:
                await self._observe(chunk, item)
            return chunk
        if type(item) is ToolCall:
            return await self._step(item)
        return await self._end(item)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Stop the stream; if it had not finished, the request is recorded as CANCELLED."""
        state = self._state
        if state == _OVER:
            self._ended = True
            return
        self._state = _OVER
        self._pull = None
        self._ended = True
        if state == _NEW:  # never iterated: the request entered, so it has its row
            with contextlib.suppress(RequestValidationError, TypeError):  # recorded as such
                run = await self._opener(self._request, True)
                await run.start()
                await run.cancelled()
            return
        run = self._run
        try:
            if state == _STREAMING:
                self._timer.disarm()
                await _aclose(self._events)
            if not run.recorded:
                await record_cancel(run)
        finally:
            self._close()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def text(self) -> str:
        """Consume the stream and return the whole reply (of the attempt that finished)."""
        parts: list[str] = []
        async for chunk in self:
            if chunk.restart:
                parts.clear()
            parts.append(chunk.chunk)
        return "".join(parts)

    # -- the slow path: the start, tool calls, the end, failures, cancels ---------------------

    async def _step(self, got: StreamEvent | BaseException | None) -> StreamChunk:
        """What is not a streamed text chunk: ``got`` is the event (a tool call, the end) or
        what the provider's iterator raised, or None (nothing pulled yet)."""
        state = self._state
        if state == _OVER:
            raise StopAsyncIteration
        if state == _NEW:
            try:
                run = await self._opener(self._request, True)
            except BaseException:
                self._state, self._ended = _OVER, True
                raise
            assert isinstance(run, StreamRun)
            plan = run.plan  # what the run's attempts need, once
            self._run = run
            self._told = not plan.before
            self._timer = StreamTimer(plan.deadlines, plan.stream_idle_timeout_s)
            self._dog = self._events = None
            observers = plan.observers
            self._observed = bool(observers.chunk or observers.stream_restarted)
        else:
            run = self._run
        try:
            if state == _NEW:
                await run.start()
                before = run.plan.before
                if before:
                    hit = await answer_before(before, run.request, True)
                    if hit is not None:
                        self._told = True
                        self._replay = _Replay(run, hit)
                        self._state = state = _REPLAY
            if state == _REPLAY:
                return await self._replayed()
            while True:
                if got is None:  # an attempt to make: its first event
                    self._state = _ATTEMPT
                    got = await self._attempt(run)
                kind = type(got)
                if kind is str:
                    chunk = run.deliver(got)  # type: ignore[arg-type]
                    if self._observed:
                        await self._observe(chunk, got)  # type: ignore[arg-type]
                    return chunk
                if kind is ToolCall:
                    chunk = run.deliver_tool_call(got)  # type: ignore[arg-type]
                    if self._observed:
                        for obs in run.plan.observers.chunk:
                            await obs.chunk(run.info, chunk.index, "")  # type: ignore[arg-type]
                    return chunk
                if not isinstance(got, BaseException):
                    break
                await self._failed(run, got)  # another attempt follows; or it raises
                got = None
        except asyncio.CancelledError:
            self._state, self._pull = _OVER, None
            try:
                if not run.recorded:
                    await record_cancel(run)
            finally:
                self._close()
            raise
        except BaseException:
            self._state, self._pull = _OVER, None
            self._close()
            raise
        assert isinstance(got, StreamEnd)
        return await self._end(got)

    async def _attempt(self, run: StreamRun) -> StreamEvent:
        """Attempts from the current candidate on, until one's first event arrives; that
        attempt then streams (``_pull`` set). Returns the event."""
        task = _current_task()  # the task that iterates (per attempt: it may change)
        assert task is not None
        timeout_ms = run.request.timeout_ms
        limit: Callable[[Deployment], float] = _first_limit
        if timeout_ms is not None:
            limit = _requested(timeout_ms, run.plan.first_token_timeout_s)
        timer = self._timer
        dep, (events, item) = await attempt(run, _open, limit, "no first token", timer, task)
        timer.streaming(task)
        self._dep, self._events, self._task = dep, events, task
        if timer.idle is not None:
            self._dog, self._loop = timer, task.get_loop()
        self._state = _STREAMING
        self._pull = events.__anext__
        return item

    async def _failed(self, run: StreamRun, exc: BaseException) -> None:
        """The streaming attempt raised ``exc`` (or was cancelled): a caller's cancel goes
        on up; the idle watchdog's expiry or the provider's error fails the attempt, and the
        policy decides (raises, or sets up another attempt)."""
        self._pull = None
        dog, dep, events = self._dog, self._dep, self._events
        if dog is not None:
            dog.waiting_since = None
        if isinstance(exc, asyncio.CancelledError):
            if not (dog is not None and dog.expired and our_cancel(self._task, exc)):
                self._timer.disarm()
                await _aclose(events)
                raise exc
            exc = _idle_timeout(dep, dog.idle)
        elif not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not ours
            self._timer.disarm()
            raise exc
        self._timer.disarm()
        self._events = None
        await _aclose(events)
        mapped = as_provider_error(exc, dep.name, timeout_of(run.request, dep))
        if not await run.failed(dep, mapped, run.began):
            raise await run.all_failed()

    async def _end(self, end: StreamEnd) -> StreamChunk:
        """The attempt's stream reached its end: the request completes; the done chunk."""
        self._pull = None
        self._state = _OVER
        self._timer.disarm()
        events, self._events = self._events, None
        run = self._run
        try:
            close = getattr(events, "aclose", None)  # past its end, let the adapter clean up
            if close is not None:
                try:
                    await close()
                except Exception:  # closing a broken stream must not hide the reply
                    log.debug("closing a provider stream failed", exc_info=True)
            self.response = response = await run.streamed(self._dep, end)
            if not self._told:
                self._told = True
                await tell_after(run.plan.before, run.request, response, run.final_texts())
        except asyncio.CancelledError:
            try:
                if not run.recorded:
                    await record_cancel(run)
            finally:
                self._close()
            raise
        except BaseException:
            self._close()
            raise
        self._ended = True
        return run.done_chunk()

    async def _replayed(self) -> StreamChunk:
        """The next chunk of a pre-request step's answer; then the done chunk, cached."""
        chunk = next(self._replay, None)
        if chunk is not None:
            return chunk
        run = self._run
        self._state = _OVER
        self.response = await run.answered_before(self._replay.hit)
        self._close()
        done = run.done_chunk()
        done.__dict__["cached"] = True
        return done

    async def _observe(self, chunk: StreamChunk, text: str) -> None:
        run = self._run
        observers = run.plan.observers
        if observers.stream_restarted and chunk.restart:
            await _restarted(run, observers.stream_restarted)
        info = run.info
        for obs in observers.chunk:
            await obs.chunk(info, chunk.index, text)  # type: ignore[arg-type]

    def _close(self) -> None:
        """The stream is over (however): its timer off, the pre-request steps told."""
        self._timer.disarm()
        self._ended = True
        if not self._told:
            self._told = True
            tell_abandoned(self._run.plan.before, self._run.request)


async def _open(
    dep: Deployment, request: ProviderRequest
) -> tuple[AsyncIterator[StreamEvent], StreamEvent]:
    """Open one attempt's stream and wait for its first non-empty event."""
    events = dep.provider.stream(request).__aiter__()
    try:
        while True:
            try:
                item = await events.__anext__()
            except StopAsyncIteration:
                return events, _END
            if item:
                return events, item
    except BaseException:
        await _aclose(events)
        raise


def _first_limit(dep: Deployment) -> float:
    return dep.first_token_s  # precomputed by the plan


def _requested(timeout_ms: int, first: float | None) -> Callable[[Deployment], float]:
    """The request's ``timeoutMs`` in place of each deployment's, still capped by
    ``firstTokenTimeoutMs``."""
    limit = timeout_ms / 1000
    capped = limit if first is None else min(limit, first)
    return lambda dep: capped


class _Replay:
    """A pre-request step's answer as chunks, each marked ``cached``, delivered one by one
    as the caller takes them."""

    __slots__ = ("hit", "items", "run")

    def __init__(self, run: StreamRun, hit: Answer) -> None:
        self.run, self.hit = run, hit
        self.items = iter(hit.chunks if hit.chunks is not None else [hit.response.content])

    def __iter__(self) -> Iterator[StreamChunk]:
        return self

    def __next__(self) -> StreamChunk:
        run = self.run
        for item in self.items:
            if type(item) is ToolCall:
                chunk = run.deliver_tool_call(item)
            elif item:
                chunk = run.deliver(item)  # type: ignore[arg-type]
            else:
                continue
            chunk.__dict__["cached"] = True
            return chunk
        raise StopIteration


async def _restarted(run: StreamRun, observers: tuple[Any, ...]) -> None:
    attempt_info = run.attempt_info
    if attempt_info is not None and run.info is not None:
        for obs in observers:
            await obs.stream_restarted(run.info, attempt_info)


def _idle_timeout(dep: Deployment, idle: float | None) -> ProviderTimeoutError:
    # bytes had arrived: the policy may retry (restart on) the same deployment
    return ProviderTimeoutError(f"no chunk within {idle:g}s", provider=dep.name, received=True)


async def _aclose(events: AsyncIterator[Any] | None) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken stream must not hide the real error
            log.debug("closing a provider stream failed", exc_info=True)
