"""The router: one request, many providers, one recorded life.

Policy lives here; I/O lives in the provider adapters (transports) and the store. Each request
drives one Rust ``ProviderStateMachine`` from ``initiate_request`` to ``completed`` or
``failed``; breakers, limiters and backoff delays come from the Rust core too.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from automatosx._core import (
    Backoff,
    Event,
    InvalidTransitionError,
    ProviderStateMachine,
    State,
    monotonic_ms,
)
from automatosx._recorder import LazyMessages, Recorder, messages_json, now_ms
from automatosx._slots import Slot, build_slots
from automatosx.errors import (
    AllProvidersFailedError,
    Attempt,
    CircuitOpenError,
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RequestValidationError,
    redact,
)
from automatosx.providers.base import Provider, StreamEnd, StreamEvent
from automatosx.schemas import (
    UUID_PATTERN,
    ProviderConfig,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RouterOptions,
    StreamChunk,
    TokenUsage,
)
from automatosx.store.base import NullStore, Store

__all__ = ["Router", "Stream"]

log = logging.getLogger("automatosx")

_UUID = re.compile(UUID_PATTERN)
_RETRYING = State.retrying
_VALIDATION_PASSED = Event.validation_passed()
_STARTED = ["idle", "validating", "requesting"]  # the history once validation passed
_SEND_REQUEST = Event.send_request()
_RETRY_REQUEST = Event.retry_request()


class _Lifecycle(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _validation_message(what: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


def _as_options(options: RouterOptions | Mapping[str, Any]) -> RouterOptions:
    if isinstance(options, RouterOptions):
        return options
    try:
        return RouterOptions.model_validate(options)
    except ValidationError as exc:
        raise RequestValidationError(
            _validation_message("router options", exc), exc.errors(include_url=False)
        ) from exc


def _as_provider_error(exc: BaseException, slot: Slot) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"no reply within {slot.timeout_s:g}s", provider=slot.name)
    # An adapter that broke its contract (raised something unmapped): fall back, never retry.
    return ProviderError(
        f"adapter raised {type(exc).__name__}: {exc}", provider=slot.name, code="PROVIDER_ERROR"
    )


class Router:
    """Routes chat requests to Claude, Gemini and OpenAI with fallback, retries and records.

    ``options`` is a :class:`RouterOptions` or its seed-shaped dict. ``providers`` takes
    ``ProviderConfig`` objects, seed-shaped dicts, or :class:`Provider` instances (your own
    adapters); by default the providers whose API keys are in the environment. ``store`` is a
    URL (``"sqlite:///requests.db"``), a :class:`~automatosx.store.Store`, or None to record
    nothing. Use it as ``async with Router(...) as router:``.
    """

    def __init__(
        self,
        options: RouterOptions | Mapping[str, Any],
        providers: Sequence[ProviderConfig | Mapping[str, Any] | Provider] | None = None,
        store: str | Store | None = None,
        *,
        http_client: Any = None,
    ) -> None:
        self.options = _as_options(options)
        self._entries = providers
        self._store_arg = store
        self._http_client = http_client
        self._lifecycle = _Lifecycle.UNOPENED
        self._slots: dict[ProviderName, Slot] = {}
        self._store: Store | None = None
        self._backoff = Backoff(
            base_ms=self.options.backoff_base_ms,
            cap_ms=self.options.backoff_cap_ms,
            max_wait_ms=self.options.max_retry_wait_ms,
        )
        self._prices: Any = None
        self._null_store = True
        self._candidates: dict[ProviderName, list[Slot]] = {}
        self._fallback_names: dict[ProviderName, list[str]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Build the provider clients, open (and migrate) the store, resolve model prices."""
        if self._lifecycle is not _Lifecycle.UNOPENED:
            raise ConfigurationError(f"router is {self._lifecycle.value}; open it only once")
        entries = self._entries
        if entries is None:
            from automatosx.providers import providers_from_env

            entries = providers_from_env()
        self._slots = build_slots(entries, self.options, self._http_client)
        try:
            self._check_candidates()
            self._plan_candidates()
            self._store = await _open_store(self._store_arg)
            self._null_store = isinstance(self._store, NullStore)
            from automatosx.pricing import PriceBook

            self._prices = PriceBook({s.name: dict(s.prices) for s in self._slots.values()})
            await self._prices.aprime(
                [(s.name, s.default_model) for s in self._slots.values() if s.default_model]
            )
        except BaseException:
            await self._close_providers()
            if self._store is not None:
                await self._store.close()
                self._store = None
            raise
        self._lifecycle = _Lifecycle.OPENED

    def _check_candidates(self) -> None:
        opts = self.options
        if not self._slots:
            raise ConfigurationError(
                "no providers configured: pass providers=[...] or set ANTHROPIC_API_KEY, "
                "OPENAI_API_KEY or GEMINI_API_KEY"
            )
        wanted = [opts.primary_provider, *(opts.fallback_providers if opts.enable_fallback else [])]
        missing = [name for name in wanted if name not in self._slots]
        if missing:
            raise ConfigurationError(
                f"provider(s) {', '.join(missing)} named in the router options are not "
                f"configured (or disabled); configured: {', '.join(self._slots)}"
            )

    def _plan_candidates(self) -> None:
        """Each possible primary's candidate order, computed once: the primary, then the
        configured fallbacks (when enabled), each once."""
        opts = self.options
        fallbacks = opts.fallback_providers if opts.enable_fallback else []
        for primary in self._slots:
            names = [primary, *(n for n in fallbacks if n != primary)]
            order = list(dict.fromkeys(n for n in names if n in self._slots))
            self._candidates[primary] = [self._slots[n] for n in order]
            self._fallback_names[primary] = [str(n) for n in order[1:]]

    async def aclose(self) -> None:
        """Close the provider clients and flush the store. Idempotent."""
        if self._lifecycle is _Lifecycle.CLOSED:
            return
        self._lifecycle = _Lifecycle.CLOSED
        try:
            await self._close_providers()
        finally:
            if self._store is not None:
                await self._store.close()

    async def _close_providers(self) -> None:
        for slot in self._slots.values():
            if slot.owned:
                await slot.provider.aclose()

    def _ensure_open(self) -> Store:
        if self._lifecycle is not _Lifecycle.OPENED or self._store is None:
            raise ConfigurationError(
                f"router is {self._lifecycle.value}: use 'async with Router(...) as router:' "
                "(or await router.open()) before sending requests"
            )
        return self._store

    @property
    def providers(self) -> dict[ProviderName, Provider]:
        """The configured providers by name."""
        return {name: slot.provider for name, slot in self._slots.items()}

    def breaker_state(self, provider: ProviderName) -> str | None:
        """``closed``, ``open`` or ``half_open`` for a provider, None if breakers are off."""
        breaker = self._slots[provider].breaker
        return None if breaker is None else str(breaker.state)

    # -- requests ----------------------------------------------------------------------------

    async def execute(self, request: ProviderRequest | Mapping[str, Any]) -> ProviderResponse:
        """Send one non-streaming request; return the first successful provider's response.

        Raises :class:`RequestValidationError` for bad input, :class:`InvalidRequestError` at
        once when a provider rejects the request itself, and :class:`AllProvidersFailedError`
        when every candidate failed.
        """
        store = self._ensure_open()
        req = await self._coerce(request, store)
        run = _Run(self, store, req, stream=False)
        await run.start()
        return await run.execute()

    def stream(self, request: ProviderRequest | Mapping[str, Any]) -> Stream:
        """Stream one request: ``async for chunk in router.stream(req)`` yields
        :class:`StreamChunk`s (the last has ``done=True``); ``.response`` holds the final
        :class:`ProviderResponse` once the stream is exhausted."""
        store = self._ensure_open()
        return Stream(self, store, request)

    async def check_health(self) -> dict[ProviderName, ProviderHealth]:
        """Check every provider concurrently; results are recorded in ``provider_health``."""
        store = self._ensure_open()
        slots = list(self._slots.values())
        results = await asyncio.gather(*(_health(slot) for slot in slots))
        for health in results:
            await store.save_health_check(health)
        return {slot.name: health for slot, health in zip(slots, results, strict=True)}

    async def _coerce(
        self, request: ProviderRequest | Mapping[str, Any], store: Store
    ) -> ProviderRequest:
        if isinstance(request, ProviderRequest):
            return request
        try:
            return ProviderRequest.model_validate(request)
        except ValidationError as exc:
            message = _validation_message("request", exc)
            await self._record_invalid(request, store, message)
            raise RequestValidationError(message, exc.errors(include_url=False)) from exc

    async def _record_invalid(self, raw: Any, store: Store, message: str) -> None:
        """A request that failed validation still ends in a recorded terminal state."""
        raw = raw if isinstance(raw, Mapping) else {}
        rid = raw.get("requestId", raw.get("request_id"))
        if not (isinstance(rid, str) and _UUID.match(rid)):
            rid = str(uuid.uuid4())
        provider = raw.get("provider")
        if provider not in self._slots:
            provider = self.options.primary_provider
        model = raw.get("model")
        if not isinstance(model, str) or not model:
            model = self._slots[provider].default_model or "unknown"
        machine = ProviderStateMachine(rid, max_retries=0, fallback_providers=[])
        messages = raw.get("messages")
        machine.transition(
            Event.initiate_request(
                provider=provider,
                model=model,
                message_count=len(messages) if isinstance(messages, list) else 0,
                max_tokens=None,
                temperature=1.0,
                stream=bool(raw.get("stream", False)),
            )
        )
        machine.transition(Event.validation_failed(error=message))
        recorder = Recorder(store, rid)
        created = now_ms()
        await recorder.request(
            provider=provider,
            model=model,
            history=machine.history,
            state="failed",
            messages=messages_json(messages, self.options.record_messages),
            max_tokens=None,
            temperature=1.0,
            stream=bool(raw.get("stream", False)),
            metadata=None,
            created_at=created,
        )
        await recorder.final(machine)


async def _open_store(store: str | Store | None) -> Store:
    from automatosx.store import open_store_url

    if store is None:
        return NullStore()
    if isinstance(store, str):
        return await open_store_url(store)
    await store.open()
    return store


async def _health(slot: Slot) -> ProviderHealth:
    try:
        return await slot.provider.check_health()
    except Exception as exc:  # an adapter must not raise here; report it as down
        return ProviderHealth(
            provider=slot.name, status="down", error=redact(f"{type(exc).__name__}: {exc}")
        )


def _expire(task: asyncio.Task[Any], run: _Run) -> None:
    run.expired = True
    task.cancel()


def _uncancel(task: asyncio.Task[Any]) -> int:
    """Take back our own cancel; the count of cancellations someone else still wants."""
    return task.uncancel() if sys.version_info >= (3, 11) else 0


class _Run:
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
        if self.slots[0].limiter is not None:
            self.estimate = sum(len(msg.content) for msg in req.messages) // 4 + (
                req.max_tokens or 256
            )
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
                    wait = slot.limiter.try_acquire(tokens=self.estimate)
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

    def skip(self, slot: Slot, reason: ProviderError | CircuitOpenError) -> None:
        code = reason.code
        self.machine.transition(Event.request_failed(error=str(reason), code=code, retryable=False))
        self.attempts.append(Attempt(slot.name, self.machine.context.model, reason, 0))
        log.debug("skipping %s: %s", slot.name, reason)

    async def call(self, slot: Slot, request: ProviderRequest) -> ProviderResponse:
        """One attempt within the provider's timeout (a timer, not a task per attempt)."""
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        self.expired = False
        handle = loop.call_at(loop.time() + slot.timeout_s, _expire, task, self)
        try:
            return await slot.provider.execute(request)
        except asyncio.CancelledError:
            if self.expired and _uncancel(task) == 0:
                raise ProviderTimeoutError(
                    f"no reply within {slot.timeout_s:g}s", provider=slot.name
                ) from None
            raise
        finally:
            handle.cancel()

    async def first_event(self, slot: Slot, events: AsyncIterator[StreamEvent]) -> StreamEvent:
        """The first non-empty event of an attempt, within the time-to-first-token limit."""
        limit_ms = self.router.options.first_token_timeout_ms
        limit = slot.timeout_s if limit_ms is None else min(slot.timeout_s, limit_ms / 1000)
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        self.expired = False
        handle = loop.call_at(loop.time() + limit, _expire, task, self)
        try:
            return await _next_event(events)
        except asyncio.CancelledError:
            if self.expired and _uncancel(task) == 0:
                raise ProviderTimeoutError(
                    f"no first token within {limit:g}s", provider=slot.name
                ) from None
            raise
        finally:
            handle.cancel()

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

    async def succeeded(self, slot: Slot, response: ProviderResponse, started_ns: int) -> None:
        usage = response.tokens
        if slot.breaker is not None:
            slot.breaker.record_success()
        if slot.limiter is not None:
            slot.limiter.settle(self.estimate, usage.total_tokens)
        if response.cost is None:
            prices = self.router._prices
            if prices is not None:
                response.cost = prices.cost(slot.name, response.model, usage)
        if self.rec is not None:
            duration = (time.perf_counter_ns() - started_ns) // 1_000_000
            await self.rec.attempt(slot.name, self.machine.context.model, None, duration)
            await self.rec.response(response)

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
            if slot.breaker is not None:
                slot.breaker.record_neutral()
            if self.rec is not None:
                duration = (time.perf_counter_ns() - started_ns) // 1_000_000
                err = ProviderError("cancelled by the caller", provider=slot.name, code="CANCELLED")
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
                    await self.succeeded(slot, response, started)
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
        response = ProviderResponse._trusted(
            request_id=self.request.request_id,
            provider=slot.name,
            model=end.model or ctx.model,
            content=ctx.response,
            tokens=usage,
            finish_reason=end.finish_reason,
            duration=duration,
            cost=None,
            metadata=None,
            created_at=now_ms(),
        )
        await self.succeeded(slot, response, started)
        await self.finish()
        return response


_END = StreamEnd(TokenUsage())


async def _stream(
    router: Router, store: Store, raw: ProviderRequest | Mapping[str, Any], handle: Stream
) -> AsyncGenerator[StreamChunk, None]:
    """The whole streamed request in one generator frame (no per-chunk delegation)."""
    req = await router._coerce(raw, store)
    run = _Run(router, store, req, stream=True)
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
                handle.response = await run.completed_stream(slot, item, started)
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


class Stream:
    """A streamed request: an async iterator of :class:`StreamChunk`.

    ``response`` is the final :class:`ProviderResponse` once the stream is exhausted (None
    before, or when it failed). Leaving the loop early (``break``) or cancelling the task ends
    the request as failed with code ``CANCELLED``; use ``async with router.stream(req) as s``
    (or ``await s.aclose()``) to make that happen at once rather than at garbage collection.
    """

    __slots__ = ("_gen", "_request", "_router", "_store", "response")

    def __init__(
        self, router: Router, store: Store, request: ProviderRequest | Mapping[str, Any]
    ) -> None:
        self._router = router
        self._store = store
        self._request = request
        self._gen: AsyncGenerator[StreamChunk, None] | None = None
        self.response: ProviderResponse | None = None

    def __aiter__(self) -> AsyncGenerator[StreamChunk, None]:
        if self._gen is None:
            self._gen = _stream(self._router, self._store, self._request, self)
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
        """Consume the stream and return the whole reply."""
        parts = [chunk.chunk async for chunk in self]
        return "".join(parts)
