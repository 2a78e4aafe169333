"""A streamed request: the :class:`Stream` handle and the generator behind it.

The generator shares the attempt loop with ``execute`` (:meth:`Run.attempt`): an attempt is
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
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from automatosx._core import Event
from automatosx._routing.plan import Deployment
from automatosx._routing.run import _EXPIRED, Run, _our_cancel, as_provider_error
from automatosx.errors import ProviderTimeoutError
from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import (
    ProviderRequest,
    ProviderResponse,
    StreamChunk,
    TokenUsage,
    ToolCall,
)
from automatosx.schemas import _now_ms as now_ms

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
    A chunk with ``restart=True`` means the reply started again (after a mid-reply failure):
    discard what the earlier chunks showed; its ``index`` is 0.
    """

    __slots__ = ("__weakref__", "_gen", "_opener", "_request", "response")

    def __init__(self, opener: Opener, request: ProviderRequest | Any) -> None:
        self._opener = opener
        self._request = request
        self._gen: AsyncGenerator[StreamChunk, None] | None = None
        self.response: ProviderResponse | None = None

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


def _idle_check(run: Run, task: asyncio.Task[Any], idle: float) -> None:
    """The stream's idle watchdog: one timer per stream, re-armed lazily (no per-chunk
    timer). It cancels the task only while the stream waits on the provider, never while
    the caller is busy with a chunk."""
    loop = task.get_loop()
    since = run.waiting_since
    now = loop.time()
    if since is not None and now - since >= idle:
        run.expired = True
        task.cancel(_EXPIRED)
        return
    base = since if since is not None else now
    run.watchdog = loop.call_at(base + idle, _idle_check, run, task, idle)


async def stream_request(
    opener: Opener, raw: ProviderRequest | Any, handle: Stream
) -> AsyncGenerator[StreamChunk, None]:
    """The whole streamed request in one generator frame (no per-chunk delegation)."""
    run = await opener(raw, True)
    plan = run.plan
    m = run.machine
    rid = run.request.request_id
    chunks = run.chunks
    chunk_of = StreamChunk._chunk
    chunk_event = Event.receive_stream_chunk
    transition = m.transition
    clock = time.time_ns
    chunk_obs = plan.observers.chunk
    info = run.info
    idle = plan.stream_idle_timeout_s
    first = plan.first_token_timeout_s

    def first_limit(dep: Deployment) -> float:
        return dep.timeout_s if first is None else min(dep.timeout_s, first)

    try:
        await run.start()
        while True:
            dep, (events, item) = await run.attempt(_open, first_limit, "no first token")
            run.inflight = dep  # still under way while it streams
            task = asyncio.current_task()
            assert task is not None
            loop = task.get_loop()
            if idle is not None:
                run.expired = False
                run.watchdog = loop.call_at(loop.time() + idle, _idle_check, run, task, idle)
            pull = events.__anext__
            try:
                while True:
                    if type(item) is str:  # text first: the common case pays one test
                        if item:
                            index = run.delivered
                            transition(chunk_event(chunk=item, index=index))
                            ts = clock() // 1_000_000
                            chunks.append((len(chunks), item, ts))
                            run.delivered = index + 1
                            if run.restarting:
                                run.restarting = False
                                run.restarts += 1
                                chunk = StreamChunk._restarted(rid, index, item, ts)
                                attempt = run.attempt_info
                                if attempt is not None and info is not None:
                                    for obs in plan.observers.stream_restarted:
                                        await obs.stream_restarted(info, attempt)
                            else:
                                chunk = chunk_of(rid, index, item, False, ts)
                            if chunk_obs:
                                for obs in chunk_obs:
                                    await obs.chunk(info, index, item)  # type: ignore[arg-type]
                            yield chunk
                    elif type(item) is ToolCall:
                        chunk = _tool_chunk(run, rid, item)
                        if chunk_obs:
                            for obs in chunk_obs:
                                await obs.chunk(info, chunk.index, "")  # type: ignore[arg-type]
                        yield chunk
                    else:
                        break  # the StreamEnd
                    if idle is not None:
                        run.waiting_since = loop.time()
                    try:
                        item = await pull()
                    except StopAsyncIteration:
                        item = _END
                    run.waiting_since = None
            except asyncio.CancelledError as exc:
                run.waiting_since = None
                if not (run.expired and _our_cancel(task, exc)):
                    _disarm(run)
                    await _aclose(events)
                    raise
                err: Exception = _idle_timeout(dep, idle)
            except GeneratorExit:
                _disarm(run)
                await _aclose(events)
                raise
            except Exception as exc:
                err = exc
            else:
                _disarm(run)
                run.done_inflight()
                await _aclose(events)  # past its StreamEnd: let the adapter clean up now
                handle.response = await completed(run, dep, item)
                yield chunk_of(rid, run.delivered, "", True, now_ms())
                return
            _disarm(run)
            run.done_inflight()
            await _aclose(events)
            mapped = as_provider_error(err, dep)
            if not await run.failed(dep, mapped, run.began):
                raise await run.all_failed()
    except (asyncio.CancelledError, GeneratorExit):
        if not m.is_terminal:
            await asyncio.shield(run.cancelled())
        raise


def _tool_chunk(run: Run, rid: str, call: ToolCall) -> StreamChunk:
    """A completed tool call as a chunk of its own: empty text, the next index. The machine
    and the recorded chunks count it (as empty text) so indices stay contiguous."""
    index = run.delivered
    run.machine.transition(Event.receive_stream_chunk(chunk="", index=index))
    ts = time.time_ns() // 1_000_000
    run.chunks.append((len(run.chunks), "", ts))
    run.delivered = index + 1
    if run.restarting:
        run.restarting = False
        run.restarts += 1
        chunk = StreamChunk._restarted(rid, index, "", ts)
    else:
        chunk = StreamChunk._chunk(rid, index, "", False, ts)
    chunk.__dict__["tool_call"] = call
    return chunk


def _disarm(run: Run) -> None:
    watchdog = run.watchdog
    if watchdog is not None:
        watchdog.cancel()
        run.watchdog = None


def _idle_timeout(dep: Deployment, idle: float | None) -> ProviderTimeoutError:
    # bytes had arrived: the policy may retry (restart on) the same deployment
    return ProviderTimeoutError(f"no chunk within {idle:g}s", provider=dep.name, received=True)


async def completed(run: Run, dep: Deployment, end: StreamEvent) -> ProviderResponse:
    assert isinstance(end, StreamEnd)
    m = run.machine
    usage = end.usage
    duration = (time.perf_counter_ns() - run.started_ns) // 1_000_000
    m.transition(
        Event.stream_complete(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            duration_ms=duration,
        )
    )
    ctx = m.context
    model = end.model or ctx.model
    prices = run.plan.prices
    response = ProviderResponse._trusted(
        request_id=run.request.request_id,
        provider=dep.name,
        model=model,
        content=ctx.response,
        tokens=usage,
        finish_reason=end.finish_reason,
        duration=duration,
        tool_calls=list(end.tool_calls) if end.tool_calls else [],
        cost=None if prices is None else prices.cost(dep.name, model, usage),
        metadata=None,
        created_at=now_ms(),
    )
    run.succeeded(dep, response)
    if run.info is not None:
        await run.completed(dep, response)
    return response


async def _aclose(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken stream must not hide the real error
            log.debug("closing a provider stream failed", exc_info=True)
