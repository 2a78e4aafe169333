"""A streamed request: the :class:`Stream` handle and the generator behind it.

The generator shares the attempt loop with ``execute`` (``attempt.py``): an attempt is
established when its first non-empty event arrives within the time-to-first-token limit.
From then on chunks flow to the caller; a gap longer than ``streamIdleTimeoutMs`` between
chunks, a cut, or an error event fails the attempt, and the policy decides: with
``restartStreams`` the stream starts again (same deployment or the next candidate) and the
new attempt's first chunk carries ``restart=True`` with ``index`` back at 0; without it the
stream ends with the error.

Each completed tool call the provider streams becomes a chunk of its own (``tool_call`` set,
empty text, the next index); the final response holds every call (``StreamEnd.tool_calls``)
and the detailed usage. Text is tested for first, so a text-only stream pays nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest as _Req

__all__ = ["Stream", "stream_request"]

log = logging.getLogger("automatosx")
_END = StreamEnd(TokenUsage())

Opener = Callable[[Any, bool], Awaitable[Run]]
"""What turns the caller's input into a started-to-be Run (the router's intake)."""


class Stream:
    """A streamed request: an async iterator of :class:`StreamChunk`.

    ``response`` is the final :class:`ProviderResponse` once the stream is exhausted (None
    before, or when it failed). Leaving the loop early (``break``) or cancelling the task ends
    the request as failed with code ``CANCELLED``; use ``async with router.stream(req) as s``
    (or ``await s.aclose()``) to make that happen at once rather than at garbage collection.
    A stream closed before it was iterated is recorded ``CANCELLED`` too (it entered).
    A chunk with ``restart=True`` means the reply started again (after a mid-reply failure):
    discard what the earlier chunks showed; its ``index`` is 0.
    """

    __slots__ = ("__weakref__", "_ended", "_gen", "_opener", "_request", "response")

    def __init__(self, opener: Opener, request: ProviderRequest | Any) -> None:
        self._opener = opener
        self._request = request
        self._gen: AsyncGenerator[StreamChunk, None] | None = None
        self._ended = False
        self.response: ProviderResponse | None = None

    @property
    def finished(self) -> bool:
        """Whether the stream has ended (completed, failed or closed); one never iterated
        has not."""
        return self._ended

    def __aiter__(self) -> AsyncGenerator[StreamChunk, None]:
        if self._gen is None:
            self._gen = stream_request(self._opener, self._request, self)
        return self._gen

    async def __anext__(self) -> StreamChunk:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        """Stop the stream; if it had not finished, the request is recorded as CANCELLED."""
        if self._gen is not None:
            await self._gen.aclose()
        elif not self._ended:  # never iterated: the request entered, so it has its row
            self._ended = True
            with contextlib.suppress(RequestValidationError, TypeError):  # recorded as such
                run = await self._opener(self._request, True)
                await run.start()
                await run.cancelled()
        self._ended = True

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


async def _open(dep: Deployment, request: _Req) -> tuple[AsyncIterator[StreamEvent], StreamEvent]:
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


async def stream_request(
    opener: Opener, raw: ProviderRequest | Any, handle: Stream
) -> AsyncGenerator[StreamChunk, None]:
    """The whole streamed request in one generator frame (no per-chunk delegation). It does
    the I/O: every change of the request's state is the Run's (``deliver``, ``failed``,
    ``streamed``)."""
    try:
        run = await opener(raw, True)
    except BaseException:
        handle._ended = True
        raise
    assert isinstance(run, StreamRun)
    plan = run.plan
    deliver = run.deliver
    chunk_obs = plan.observers.chunk
    restart_obs = plan.observers.stream_restarted
    info = run.info
    idle = plan.stream_idle_timeout_s
    first = plan.first_token_timeout_s
    timeout_ms = run.request.timeout_ms
    first_limit = _first_limit if timeout_ms is None else _requested(timeout_ms, first)
    before = plan.before
    told = not before
    timer = StreamTimer(plan.deadlines, idle)  # each attempt's first token, then idle gaps
    try:
        await run.start()
        if before:
            hit = await answer_before(before, run.request, True)
            if hit is not None:
                told = True
                for chunk in _replay(run, hit):
                    yield chunk
                handle.response = await run.answered_before(hit)
                done = run.done_chunk()
                done.__dict__["cached"] = True
                yield done
                return
        while True:
            task = asyncio.current_task()  # the task that iterates (per attempt: it may change)
            assert task is not None
            loop = task.get_loop()
            dep, (events, item) = await attempt(
                run, _open, first_limit, "no first token", timer, task
            )
            timer.streaming(task)
            dog = None if idle is None else timer
            pull = events.__anext__
            try:
                while True:
                    if type(item) is str:  # text first: the common case pays one test
                        if item:
                            chunk = deliver(item)
                            if restart_obs and chunk.restart:
                                await _restarted(run, restart_obs)
                            if chunk_obs:
                                for obs in chunk_obs:
                                    await obs.chunk(info, chunk.index, item)  # type: ignore[arg-type]
                            yield chunk
                    elif type(item) is ToolCall:
                        chunk = run.deliver_tool_call(item)
                        if chunk_obs:
                            for obs in chunk_obs:
                                await obs.chunk(info, chunk.index, "")  # type: ignore[arg-type]
                        yield chunk
                    else:
                        break  # the StreamEnd
                    if dog is not None:
                        dog.waiting_since = loop.time()
                    try:
                        item = await pull()
                    except StopAsyncIteration:
                        item = _END
                    if dog is not None:
                        dog.waiting_since = None
            except asyncio.CancelledError as exc:
                if dog is not None:
                    dog.waiting_since = None
                if not (dog is not None and dog.expired and our_cancel(task, exc)):
                    _disarm(dog)
                    await _aclose(events)
                    raise
                err: Exception = _idle_timeout(dep, idle)
            except GeneratorExit:
                _disarm(dog)
                await _aclose(events)
                raise
            except Exception as exc:
                err = exc
            else:
                _disarm(dog)
                close = getattr(events, "aclose", None)  # _aclose, inline (a coroutine less):
                if close is not None:  # past its StreamEnd, let the adapter clean up now
                    try:
                        await close()
                    except Exception:  # closing a broken stream must not hide the reply
                        log.debug("closing a provider stream failed", exc_info=True)
                assert isinstance(item, StreamEnd)
                handle.response = response = await run.streamed(dep, item)
                if before:
                    told = True
                    await tell_after(before, run.request, response, run.final_texts())
                yield run.done_chunk()
                return
            _disarm(dog)
            await _aclose(events)
            mapped = as_provider_error(err, dep.name, timeout_of(run.request, dep))
            if not await run.failed(dep, mapped, run.began):
                raise await run.all_failed()
    except (asyncio.CancelledError, GeneratorExit):
        if not run.recorded:
            await record_cancel(run)
        raise
    finally:
        timer.disarm()
        handle._ended = True
        if not told:
            tell_abandoned(before, run.request)


def _first_limit(dep: Deployment) -> float:
    return dep.first_token_s  # precomputed by the plan


def _requested(timeout_ms: int, first: float | None) -> Callable[[Deployment], float]:
    """The request's ``timeoutMs`` in place of each deployment's, still capped by
    ``firstTokenTimeoutMs``."""
    limit = timeout_ms / 1000
    capped = limit if first is None else min(limit, first)
    return lambda dep: capped


def _replay(run: StreamRun, hit: Answer) -> Iterator[StreamChunk]:
    """A pre-request step's answer as chunks, each marked ``cached``, delivered one by one
    as the caller takes them."""
    items = hit.chunks if hit.chunks is not None else [hit.response.content]
    for item in items:
        if type(item) is ToolCall:
            chunk = run.deliver_tool_call(item)
        elif item:
            chunk = run.deliver(item)  # type: ignore[arg-type]
        else:
            continue
        chunk.__dict__["cached"] = True
        yield chunk


async def _restarted(run: StreamRun, observers: tuple[Any, ...]) -> None:
    attempt_info = run.attempt_info
    if attempt_info is not None and run.info is not None:
        for obs in observers:
            await obs.stream_restarted(run.info, attempt_info)


def _disarm(dog: StreamTimer | None) -> None:
    if dog is not None:
        dog.disarm()


def _idle_timeout(dep: Deployment, idle: float | None) -> ProviderTimeoutError:
    # bytes had arrived: the policy may retry (restart on) the same deployment
    return ProviderTimeoutError(f"no chunk within {idle:g}s", provider=dep.name, received=True)


async def _aclose(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken stream must not hide the real error
            log.debug("closing a provider stream failed", exc_info=True)
