"""The router: one request, many providers, one recorded life.

``Router`` owns the lifecycle (provider clients, store, prices) and the input; each request's
trip through its candidates is ``_run.Run`` (the policy); I/O lives in the provider adapters
(transports) and the store. Breakers, limiters, backoff and the request state machine are the
Rust core's.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from automatosx._core import Backoff, Event, ProviderStateMachine
from automatosx._recorder import Recorder, messages_json, now_ms
from automatosx._run import Run, stream_request
from automatosx._slots import Slot, build_slots
from automatosx.errors import (
    ConfigurationError,
    RequestValidationError,
    redact,
)
from automatosx.providers.base import Provider
from automatosx.schemas import (
    UUID_PATTERN,
    ProviderConfig,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RouterOptions,
    StreamChunk,
    _new_request_id,
)
from automatosx.store.base import NullStore, Store

__all__ = ["Router", "Stream"]

_UUID = re.compile(UUID_PATTERN)


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
        run = Run(self, store, req, stream=False)
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
        if self._null_store:
            return
        raw = raw if isinstance(raw, Mapping) else {}
        rid = raw.get("requestId", raw.get("request_id"))
        if not (isinstance(rid, str) and _UUID.match(rid)):
            rid = _new_request_id()
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
        await Recorder(store, rid).request(
            provider=provider,
            model=model,
            history=machine.history,
            state="failed",
            error=message,
            error_code="VALIDATION_ERROR",
            messages=messages_json(messages, self.options.record_messages),
            max_tokens=None,
            temperature=1.0,
            stream=bool(raw.get("stream", False)),
            metadata=None,
            created_at=now_ms(),
        )


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
            self._gen = stream_request(self._router, self._store, self._request, self)
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
