"""One request's trip through its candidate providers: the router's policy, step by step.

``Run`` drives one Rust ``ProviderStateMachine`` from ``initiate_request`` to ``completed`` or
``failed``: admission (limiter, cooldown, breaker), each attempt under its deadline, the
failure policy of ``errors.py`` (retry, fall back, raise), and the recording of every step.
``stream_request`` is the streamed variant, one generator frame for the whole stream.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from automatosx._core import (
    Event,
    InvalidTransitionError,
    ProviderStateMachine,
    State,
    monotonic_ms,
)
from automatosx._recorder import LazyMessages, Recorder, now_ms
from automatosx._slots import Slot
from automatosx.errors import (
    AllProvidersFailedError,
    Attempt,
    CircuitOpenError,
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from automatosx.providers.base import StreamEnd, StreamEvent
from automatosx.schemas import ProviderRequest, ProviderResponse, StreamChunk, TokenUsage
from automatosx.store.base import Store

if TYPE_CHECKING:
    from automatosx.router import Router, Stream

__all__ = ["Run", "stream_request"]

log = logging.getLogger("automatosx")
T = TypeVar("T")

_RETRYING = State.retrying
_VALIDATION_PASSED = Event.validation_passed()
_STARTED = ["idle", "validating", "requesting"]  # the history once validation passed
_SEND_REQUEST = Event.send_request()
_RETRY_REQUEST = Event.retry_request()


def _as_provider_error(exc: BaseException, slot: Slot) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"no reply within {slot.timeout_s:g}s", provider=slot.name)
    # An adapter that broke its contract (raised something unmapped): fall back, never retry.
    return ProviderError(
        f"adapter raised {type(exc).__name__}: {exc}", provider=slot.name, code="PROVIDER_ERROR"
    )


def _expire(task: asyncio.Task[Any], run: Run) -> None:
    run.expired = True
    task.cancel()


def _uncancel(task: asyncio.Task[Any]) -> int:
    """Take back our own cancel; the count of cancellations someone else still wants."""
    return task.uncancel() if sys.version_info >= (3, 11) else 0


class Run:
    """One request's trip through the candidates. Drives the machine; records every step."""

    __slots__ = (
        "attempts",
        "chunks",
        "estimate",
        "expired",
        "machine",
        "model",
        "rec",
        "request",
        "router",
        "slots",
        "started_ns",
        "stream",
    )

    def __init__(self, router: Router, store: Store, request: ProviderRequest, stream: bool):
        primary = request.provider or router.options.primary_provider
        slots = router._candidates.get(primary)
        if slots is None:
            raise ConfigurationError(
                f"request.provider {primary!r} is not configured; configured: "
                f"{', '.join(router._slots)}"
            )
        first = slots[0]
        model = request.model or first.default_model
        if model is None:
            raise ConfigurationError(
                f"request.model is missing and provider {primary!r} has no default_model"
            )
        if request.provider != primary or request.model != model:
            request = request._rerouted(primary, model, request.stream)
        self.router = router
        self.slots = slots
        self.stream = stream  # which call this is; the adapters ignore ``request.stream``
        self.request = request
        self.model: str = model
        self.machine = ProviderStateMachine(
            request.request_id,
            max_retries=first.max_retries,
            fallback_providers=router._fallback_names[primary],
        )
        self.rec = None if router._null_store else Recorder(store, request.request_id)
        self.attempts: list[Attempt] = []
        self.chunks: list[tuple[int, str, int]] = []
        self.estimate = 0
        self.expired = False
        self.started_ns = time.perf_counter_ns()

    async def start(self) -> None:
        req = self.request
        m = self.machine
        m.transition(
            Event.initiate_request(
                provider=self.slots[0].name,
                model=self.model,
                message_count=len(req.messages),
                max_tokens=req.max_tokens,
                temperature=req.temperature,
                stream=self.stream,
            )
        )
        m.transition(_VALIDATION_PASSED)
        if self.rec is not None:
            await self.rec.request(
                provider=self.slots[0].name,
                model=self.model,
                history=_STARTED,
                messages=LazyMessages(req.messages, self.router.options.record_messages),
                max_tokens=req.max_tokens,
                temperature=req.temperature,
                stream=self.stream,
                metadata=req.metadata,
                created_at=now_ms(),
            )

    # -- candidates and admission --------------------------------------------------------------

    def candidates(self) -> Iterator[tuple[Slot, ProviderRequest]]:
        """Yield each candidate with its request; moves the machine on for each fallback."""
        for i, slot in enumerate(self.slots):
            request = self.request
            if i:
                model = slot.default_model or self.model
                try:
                    self.machine.transition(
                        Event.fallback_to_provider(
                            provider=slot.name, model=model, max_retries=slot.max_retries
                        )
                    )
                except InvalidTransitionError:
                    return
                request = request._rerouted(slot.name, model, request.stream)
            yield slot, request

    async def admit(self, slot: Slot) -> ProviderError | CircuitOpenError | None:
        """Wait for the provider's limiter or cooldown when the wait is short. Returns the
        reason to skip this provider, or None when the request may be sent now."""
        if slot.cooled_until_ms or slot.limiter is not None:
            patience = self.router.options.max_retry_wait_ms
            while True:
                wait = slot.cooled_until_ms - monotonic_ms() if slot.cooled_until_ms else 0
                if wait <= 0 and slot.limiter is not None:
                    wait = slot.limiter.try_acquire(tokens=self.token_estimate())
                if wait <= 0:
                    break
                if wait > patience:
                    return RateLimitError(
                        f"rate limit: would wait {wait} ms (more than max_retry_wait_ms="
                        f"{patience})",
                        provider=slot.name,
                        retry_after=wait / 1000,
                    )
                await asyncio.sleep(wait / 1000)
        if slot.breaker is not None and not slot.breaker.allow_request():
            return CircuitOpenError(slot.name)
        return None

    def token_estimate(self) -> int:
        """Tokens to reserve before the call (prompt chars / 4 + max_tokens), computed the
        first time a limiter asks; ``settle`` corrects it with the real usage."""
        if not self.estimate:
            req = self.request
            chars = sum(len(msg.content or "") for msg in req.messages)
            self.estimate = chars // 4 + (req.max_tokens or 256)
        return self.estimate

    def skip(self, slot: Slot, reason: ProviderError | CircuitOpenError) -> None:
        code = reason.code
        self.machine.transition(Event.request_failed(error=str(reason), code=code, retryable=False))
        self.attempts.append(Attempt(slot.name, self.machine.context.model, reason, 0))
        log.debug("skipping %s: %s", slot.name, reason)

    async def within(self, slot: Slot, seconds: float, step: Awaitable[T], late: str) -> T:
        """Await ``step``, or raise ProviderTimeoutError("<late> within <seconds>") after
        ``seconds``: one loop timer that cancels this task, not a task per attempt."""
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        self.expired = False
        handle = loop.call_at(loop.time() + seconds, _expire, task, self)
        try:
            return await step
        except asyncio.CancelledError:
            if self.expired and _uncancel(task) == 0:
                raise ProviderTimeoutError(
                    f"{late} within {seconds:g}s", provider=slot.name
                ) from None
            raise
        finally:
            handle.cancel()

    def call(self, slot: Slot, request: ProviderRequest) -> Awaitable[ProviderResponse]:
        """One attempt within the provider's timeout (the awaitable: no frame of its own)."""
        return self.within(slot, slot.timeout_s, slot.provider.execute(request), "no reply")

    def first_event(self, slot: Slot, events: AsyncIterator[StreamEvent]) -> Awaitable[StreamEvent]:
        """The first non-empty event of an attempt, within the time-to-first-token limit."""
        limit_ms = self.router.options.first_token_timeout_ms
        limit = slot.timeout_s if limit_ms is None else min(slot.timeout_s, limit_ms / 1000)
        return self.within(slot, limit, _next_event(events), "no first token")

    # -- outcomes ------------------------------------------------------------------------------

    def _breaker_outcome(self, slot: Slot, err: ProviderError) -> None:
        if slot.breaker is not None:
            if err.counts_against_breaker:
                slot.breaker.record_failure()
            else:
                slot.breaker.record_neutral()

    async def _record_failure(self, slot: Slot, err: ProviderError, started_ns: int) -> None:
        duration = (time.perf_counter_ns() - started_ns) // 1_000_000
        model = self.machine.context.model
        self.attempts.append(Attempt(slot.name, model, err, duration))
        if self.rec is not None:
            await self.rec.attempt(slot.name, model, err, duration)
        self._breaker_outcome(slot, err)

    async def failed(self, slot: Slot, err: ProviderError, started_ns: int) -> float | None:
        """Record a failed attempt and decide: seconds to wait before retrying the same
        provider, or None to fall back. Raises ``err`` itself when it forbids fallback."""
        await self._record_failure(slot, err, started_ns)
        m = self.machine
        retry_after_ms = err.retry_after_ms
        if isinstance(err, RateLimitError):
            if retry_after_ms:
                slot.cooled_until_ms = monotonic_ms() + retry_after_ms
            delay = self.router._backoff.delay_ms(m.context.retry_count, retry_after_ms)
            m.transition(Event.rate_limit_hit(retry_after_ms=retry_after_ms))
            if delay is None:
                m.transition(Event.request_failed(error=str(err), code=err.code, retryable=False))
                return None
            m.transition(_RETRY_REQUEST)
            return delay / 1000 if m.state == _RETRYING else None
        m.transition(Event.request_failed(error=str(err), code=err.code, retryable=err.retryable))
        if not err.fallback:
            await self.finish()
            raise err
        if not err.retryable:
            return None
        delay = self.router._backoff.delay_ms(m.context.retry_count, retry_after_ms)
        if delay is None:
            return None
        try:
            m.transition(_RETRY_REQUEST)
        except InvalidTransitionError:
            return None
        return delay / 1000

    async def retry_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.machine.transition(_SEND_REQUEST)

    def succeeded(self, slot: Slot, response: ProviderResponse) -> None:
        """Settle a successful attempt: breaker, limiter, price (records: ``recorded``)."""
        usage = response.tokens
        if slot.breaker is not None:
            slot.breaker.record_success()
        if slot.limiter is not None:
            slot.limiter.settle(self.estimate, usage.total_tokens)
        if response.cost is None:
            prices = self.router._prices
            if prices is not None:
                response.cost = prices.cost(slot.name, response.model, usage)

    async def recorded(self, slot: Slot, response: ProviderResponse, started_ns: int) -> None:
        """Record the successful attempt, its response and the final state (with a store)."""
        rec = self.rec
        if rec is not None:
            duration = (time.perf_counter_ns() - started_ns) // 1_000_000
            await rec.attempt(slot.name, self.machine.context.model, None, duration)
            await rec.response(response)

    async def cancelled(self, slot: Slot | None, started_ns: int) -> None:
        """The caller cancelled. ``slot`` is the provider whose call was under way (None while
        waiting for a limiter, a cooldown or a retry delay: no attempt to record then)."""
        m = self.machine
        if m.is_terminal:
            return
        m.transition(
            Event.request_failed(error="cancelled by the caller", code="CANCELLED", retryable=False)
        )
        if slot is not None:
            err = ProviderError("cancelled by the caller", provider=slot.name, code="CANCELLED")
            self._breaker_outcome(slot, err)  # neutral: a cancel says nothing of the provider
            if self.rec is not None:
                duration = (time.perf_counter_ns() - started_ns) // 1_000_000
                await self.rec.attempt(slot.name, m.context.model, err, duration)
        await self.finish()

    async def finish(self) -> None:
        if self.rec is not None:
            if self.router.options.record_stream_chunks:
                await self.rec.chunks(self.chunks)
            await self.rec.final(self.machine)

    async def all_failed(self) -> AllProvidersFailedError:
        await self.finish()
        return AllProvidersFailedError(self.attempts, self.request.request_id)

    # -- non-streaming -------------------------------------------------------------------------

    async def execute(self) -> ProviderResponse:
        inflight: Slot | None = None  # the provider with a call under way, for cancellation
        started = self.started_ns
        try:
            for slot, request in self.candidates():
                while True:
                    skip = await self.admit(slot)
                    if skip is not None:
                        self.skip(slot, skip)
                        break
                    started = time.perf_counter_ns()
                    inflight = slot
                    try:
                        response = await self.call(slot, request)
                    except (asyncio.CancelledError, KeyboardInterrupt):
                        raise
                    except Exception as exc:  # mapped: adapters raise ProviderError
                        inflight = None
                        delay = await self.failed(slot, _as_provider_error(exc, slot), started)
                        if delay is None:
                            break
                        await self.retry_after(delay)
                        continue
                    inflight = None
                    self.succeeded(slot, response)
                    usage = response.tokens
                    self.machine.transition(
                        Event.receive_response(
                            content=response.content,
                            input_tokens=usage.input_tokens,
                            output_tokens=usage.output_tokens,
                            total_tokens=usage.total_tokens,
                            duration_ms=response.duration,
                        )
                    )
                    if self.rec is not None:
                        await self.recorded(slot, response, started)
                        await self.finish()
                    return response
        except asyncio.CancelledError:
            await asyncio.shield(self.cancelled(inflight, started))
            raise
        raise await self.all_failed()

    # -- streaming -----------------------------------------------------------------------------

    async def failed_midstream(self, slot: Slot, err: ProviderError, started_ns: int) -> None:
        """Past the first chunk a failure ends the stream: no retry, no fallback."""
        await self._record_failure(slot, err, started_ns)
        self.machine.transition(
            Event.request_failed(error=str(err), code=err.code, retryable=err.retryable)
        )
        await self.finish()

    async def completed_stream(self, slot: Slot, end: StreamEnd, started: int) -> ProviderResponse:
        m = self.machine
        usage = end.usage
        duration = (time.perf_counter_ns() - self.started_ns) // 1_000_000
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
        prices = self.router._prices
        response = ProviderResponse._trusted(
            request_id=self.request.request_id,
            provider=slot.name,
            model=model,
            content=ctx.response,
            tokens=usage,
            finish_reason=end.finish_reason,
            duration=duration,
            cost=None if prices is None else prices.cost(slot.name, model, usage),
            metadata=None,
            created_at=now_ms(),
        )
        self.succeeded(slot, response)
        if self.rec is not None:
            await self.recorded(slot, response, started)
            await self.finish()
        return response


_END = StreamEnd(TokenUsage())


async def stream_request(
    router: Router, store: Store, raw: ProviderRequest | Mapping[str, Any], handle: Stream
) -> AsyncGenerator[StreamChunk, None]:
    """The whole streamed request in one generator frame (no per-chunk delegation)."""
    req = await router._coerce(raw, store)
    run = Run(router, store, req, stream=True)
    await run.start()
    m = run.machine
    rid = req.request_id
    chunks = run.chunks
    chunk_of = StreamChunk._chunk
    chunk_event = Event.receive_stream_chunk
    transition = m.transition
    clock = time.time_ns
    inflight: Slot | None = None  # the provider with a call under way, for cancellation
    started = run.started_ns
    try:
        for slot, request in run.candidates():
            while True:
                skip = await run.admit(slot)
                if skip is not None:
                    run.skip(slot, skip)
                    break
                started = time.perf_counter_ns()
                inflight = slot
                events = slot.provider.stream(request).__aiter__()
                try:
                    item = await run.first_event(slot, events)
                except (asyncio.CancelledError, KeyboardInterrupt):
                    await _aclose(events)
                    raise
                except Exception as exc:
                    inflight = None
                    await _aclose(events)
                    delay = await run.failed(slot, _as_provider_error(exc, slot), started)
                    if delay is None:
                        break
                    await run.retry_after(delay)
                    continue
                # Committed: from here on a failure ends the stream with the error.
                pull = events.__anext__
                try:
                    while isinstance(item, str):
                        if item:
                            index = len(chunks)
                            transition(chunk_event(chunk=item, index=index))
                            ts = clock() // 1_000_000
                            chunks.append((index, item, ts))
                            yield chunk_of(rid, index, item, False, ts)
                        try:
                            item = await pull()
                        except StopAsyncIteration:
                            item = _END
                except (asyncio.CancelledError, GeneratorExit):
                    await _aclose(events)
                    raise
                except Exception as exc:
                    inflight = None
                    await _aclose(events)
                    err = _as_provider_error(exc, slot)
                    await run.failed_midstream(slot, err, started)
                    if err is exc:
                        raise
                    raise err from exc
                inflight = None
                await _aclose(events)  # past its StreamEnd: let the adapter clean up now
                # A ToolCall event (requests with tools) is not handled here yet.
                handle.response = await run.completed_stream(slot, item, started)  # type: ignore[arg-type]
                yield chunk_of(rid, len(chunks), "", True, now_ms())
                return
    except (asyncio.CancelledError, GeneratorExit):
        if not m.is_terminal:
            await asyncio.shield(run.cancelled(inflight, started))
        raise
    raise await run.all_failed()


async def _next_event(events: AsyncIterator[StreamEvent]) -> StreamEvent:
    while True:
        try:
            item = await events.__anext__()
        except StopAsyncIteration:
            return _END
        if item:
            return item


async def _aclose(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken stream must not hide the real error
            log.debug("closing a provider stream failed", exc_info=True)
