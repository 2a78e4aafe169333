"""The router: one request, many providers, one recorded life.

``Router`` owns the lifecycle (provider clients, store, prices, observers) and the public
entry points. Everything a request does is in the private ``_routing`` package: the plan
built at ``open()`` (``plan.py``), intake (``intake.py``), the attempt loop that ``execute``
and ``stream`` share (``run.py``, ``stream.py``), the failure policy (``policy.py``),
admission (``guard.py``) and the store's recording (``recording.py``). I/O lives in the
provider adapters (transports) and the store. Breakers, limiters, backoff and the request
state machine are the Rust core's.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import ValidationError

from automatosx._quiet import without_gc
from automatosx._routing.attempt import execute
from automatosx._routing.deployments import build_deployments
from automatosx._routing.guard import local_guard
from automatosx._routing.intake import Intake, validation_message
from automatosx._routing.lifecycle import check_health, is_shared_state, open_store
from automatosx._routing.plan import Deployment, Plan
from automatosx._routing.stream import Stream
from automatosx.errors import ConfigurationError, _InvalidOptions
from automatosx.observe import Observer, Observers
from automatosx.providers.base import Provider
from automatosx.schemas import (
    ProviderConfig,
    ProviderHealth,
    ProviderRequest,
    ProviderResponse,
    RouterOptions,
)
from automatosx.store.base import Store, WriteFailure
from automatosx.store.null import NullStore

if TYPE_CHECKING:
    from automatosx._output import ParsedResponse
    from automatosx._routing.before import PreRequest
    from automatosx._routing.recording import StoreObserver
    from automatosx.cache import Cache
    from automatosx.cache._front import ResponseCache
    from automatosx.cache._wiring import CacheWiring
    from automatosx.guards import AttemptGuardFactory, GuardFactory
    from automatosx.shared import SharedState

T = TypeVar("T")
Req = ProviderRequest | Mapping[str, Any]

__all__ = ["Router", "Stream"]


_MAX_STORE_ERRORS = 1_000
_LIVE_PRUNE_AT = 64


class _Lifecycle(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _as_options(options: RouterOptions | Mapping[str, Any]) -> RouterOptions:
    if isinstance(options, RouterOptions):
        return options
    if not isinstance(options, Mapping):
        raise TypeError(
            f"options: expected RouterOptions or a dict in the seed's JSON shape, got "
            f"{type(options).__name__}"
        )
    try:
        return RouterOptions.model_validate(options)
    except ValidationError as exc:
        raise _InvalidOptions(
            validation_message("router options", exc), exc.errors(include_url=False)
        ) from exc


class Router:
    """Routes chat requests to Claude, Gemini and OpenAI with fallback, retries and records.

    ``options`` is a :class:`RouterOptions` or the same fields as a camelCase dict.
    ``providers`` takes ``ProviderConfig`` objects, such dicts, or :class:`Provider`
    instances (your own adapters, under any name); by default the providers whose API keys
    are in the environment. ``store`` is a URL (``"sqlite:///requests.db"``), a
    :class:`~automatosx.store.Store`, or None to record nothing. ``observers`` are
    :class:`~automatosx.Observer` instances told of every step of every request; ``telemetry``
    is True (OpenTelemetry traces and metrics through the global providers) or a telemetry
    observer (:mod:`automatosx.telemetry`). ``cache`` is the response cache: ``"memory"``, a
    ``sqlite:///`` or ``redis://`` URL, or a :class:`~automatosx.cache.Cache` (off by
    default; see the Caching guide). Use it as ``async with Router(...) as router:``.
    """

    def __init__(
        self,
        options: RouterOptions | Mapping[str, Any],
        providers: Sequence[ProviderConfig | Mapping[str, Any] | Provider] | None = None,
        store: str | Store | None = None,
        *,
        http_client: Any = None,
        observers: Sequence[Observer] = (),
        telemetry: bool | Observer = False,
        shared: str | SharedState | None = None,
        cache: str | Cache | None = None,
    ) -> None:
        self.options = _as_options(options)
        self._extras: CacheWiring | None = None  # the response cache and sticky routing
        if cache is not None or self.options.sticky_routing is not None:
            from automatosx.cache._wiring import CacheWiring

            self._extras = CacheWiring(cache, self.options)
        if shared is not None and not isinstance(shared, str) and not is_shared_state(shared):
            raise TypeError(
                "shared: expected a Redis URL (e.g. 'redis://localhost:6379/0'), a "
                f"automatosx.shared.SharedState or None, got {type(shared).__name__}"
            )
        self._shared_arg = shared
        self._shared: SharedState | None = None
        if store is not None and not isinstance(store, str) and not isinstance(store, Store):
            raise TypeError(
                f"store: expected a URL string (e.g. 'sqlite:///requests.db'), a Store or None, "
                f"got {type(store).__name__}"
            )
        if providers is not None and (
            isinstance(providers, (str, bytes, Mapping)) or not isinstance(providers, Sequence)
        ):
            raise TypeError(
                "providers: expected a list of ProviderConfig, seed-shaped dicts or Provider "
                f"instances, got {type(providers).__name__}"
            )
        self._user_observers = Observers(list(observers)).all
        self._telemetry: Observer | None = None
        if telemetry is not False:
            from automatosx.telemetry import observer_for

            self._telemetry = observer_for(telemetry)
            self._user_observers += (self._telemetry,) if self._telemetry else ()
        self._entries = providers
        self._store_arg = store
        self._http_client = http_client
        self._lifecycle = _Lifecycle.UNOPENED
        self._deployments: dict[str, Deployment] = {}
        self._store: Store | None = None
        self._plan: Plan | None = None
        self._intake: Intake | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Streams under way are owned by the router: an abandoned one (no ``async with``)
        # is never garbage mid-reply, where its generator and the SDK's inner ones would be
        # finalized by racing tasks ("aclose(): asynchronous generator is already
        # running"); aclose() ends each (CANCELLED). Pruned of finished ones as it doubles.
        self._live: set[Stream] = set()
        self._live_limit = _LIVE_PRUNE_AT
        self._store_errors: deque[WriteFailure] = deque(maxlen=_MAX_STORE_ERRORS)
        self._recorder: StoreObserver | None = None  # the store's recording, when recording
        # The seams (built into the plan at open()): extra admission per attempt (a budget
        # reservation), steps before the attempt loop (a response cache). See "Seams".
        self._attempt_guards: list[AttemptGuardFactory] = []
        self._budgets: Any = None  # budgets._guard.BudgetGuard, with RouterOptions.budgets
        self._before: list[PreRequest] = []

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
        """Build the provider clients, open (and migrate) the store, resolve model prices.

        The SDK imports, client construction and price look-ups run in worker threads, with
        the cyclic garbage collector paused and the objects they load then frozen
        (``gc.freeze()``: they live as long as the process), so the event loop keeps running:
        its longest stall while a router opens is about 10 ms, not the imports' seconds."""
        if self._lifecycle is not _Lifecycle.UNOPENED:
            raise ConfigurationError(f"router is {self._lifecycle.value}; open it only once")
        self._lifecycle = _Lifecycle.OPENED  # no second open() while this one awaits
        try:
            await self._open()
        except BaseException:
            self._lifecycle = _Lifecycle.UNOPENED
            await self._close_providers()
            if self._shared is not None:
                await self._shared.aclose()
            if self._store is not None:
                await self._store.close()
                self._store = None
            raise

    async def _open(self) -> None:
        # SDK imports and client construction take 0.5-2 s: a worker thread does them, so
        # the event loop keeps serving (health checks, other requests) meanwhile.
        self._deployments = await asyncio.to_thread(self._build_deployments)
        Plan.check_names(self.options, self._deployments)
        guards: GuardFactory = local_guard
        if self._shared_arg is not None:
            from automatosx.shared import SharedState

            self._shared = SharedState.attach(self._shared_arg)
            guards = self._shared.guard
        self._store = await open_store(self._store_arg)
        from automatosx.pricing import PriceBook

        deps = self._deployments.values()
        prices = PriceBook(
            {d.name: dict(d.prices) for d in deps}, kinds={d.name: d.kind for d in deps}
        )
        await prices.aprime([(d.name, d.default_model) for d in deps if d.default_model])
        extras = self._extras
        if extras is not None:
            await extras.open(self._deployments, self._shared, self._telemetry)
            self._before.extend(extras.before)
        observers: list[Observer] = []
        if not isinstance(self._store, NullStore):
            from automatosx._routing.recording import StoreObserver

            opts = self.options
            self._recorder = StoreObserver(
                self._store,
                messages=opts.record_messages,
                chunks=opts.record_stream_chunks,
            )
            observers.append(self._recorder)
        observers.extend(self._user_observers)
        if self.options.budgets:  # an attempt guard (docs/guides/budgets.md)
            from automatosx.budgets._guard import attach

            self._budgets = await attach(self, prices, observers)
        self._plan = Plan.build(  # builds each deployment's guards, once
            self.options,
            self._deployments,
            prices,
            Observers(observers if extras is None else extras.observers(observers)),
            guards=guards,
            attempt_guards=self._attempt_guards,
            before=self._before,
            pins=extras if extras is not None and extras.sticky is not None else None,
        )
        for obs in self._plan.observers.all:  # the very guards requests go through
            obs.bind_deployments(self._deployments)
        if self._telemetry is not None:
            from automatosx.telemetry import bind

            bind(self._telemetry, self._deployments)
        if self._shared is not None:
            await self._shared.start()
        self._intake = Intake(self._plan)

    def _build_deployments(self) -> dict[str, Deployment]:
        """In a worker thread, with the garbage collector paused (``_quiet.py``)."""
        return without_gc(self._build)

    def _build(self) -> dict[str, Deployment]:
        entries = self._entries
        if entries is None:
            from automatosx.providers import providers_from_env

            entries = providers_from_env()
        return build_deployments(entries, self.options, self._http_client)

    async def aclose(self) -> None:
        """Finish every request still under way (recorded ``failed``/``CANCELLED``), close
        the provider clients and flush the store. Idempotent."""
        if self._lifecycle is _Lifecycle.CLOSED:
            return
        self._lifecycle = _Lifecycle.CLOSED
        self._intake = None
        try:
            await self._finish_live()
            await self._close_providers()
            if self._plan is not None:
                for obs in self._plan.observers.all:
                    await obs.aclose()
        finally:
            if self._extras is not None:
                await self._extras.aclose()
            if self._budgets is not None:  # its last spend rows, its fleet's leases
                await self._budgets.aclose()
            if self._shared is not None:
                await self._shared.aclose()
            if self._store is not None:
                await self._store.close()

    async def _finish_live(self) -> None:
        """Cancel the requests still under way and wait for them to record their end."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        streams = set(self._live)
        self._live = set()
        for stream in streams:
            with contextlib.suppress(Exception):  # a stream's own failure is recorded
                await stream.aclose()
        ending = self._plan.ending if self._plan is not None else ()
        if ending:  # cancelled requests still writing their record
            await asyncio.wait(set(ending), timeout=10)

    async def _close_providers(self) -> None:
        for dep in self._deployments.values():
            if dep.owned:
                await dep.provider.aclose()

    def _ensure_open(self) -> Intake:
        intake = self._intake  # set once open, None again once closed
        if intake is None:
            raise ConfigurationError(
                f"router is {self._lifecycle.value}: use 'async with Router(...) as router:' "
                "(or await router.open()) before sending requests"
            )
        return intake

    @property
    def providers(self) -> dict[str, Provider]:
        """The configured providers by name."""
        return {name: dep.provider for name, dep in self._deployments.items()}

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache (its ``hits``, ``misses``, ``saved_cost``), None without one."""
        return None if self._extras is None else self._extras.cache

    @property
    def store(self) -> Store | None:
        """The store the router records into (None before ``open()``)."""
        return self._store

    @property
    def store_errors(self) -> list[WriteFailure]:
        """The writes the store lost since the router opened (the latest 1,000), oldest
        first, each naming its request id, the store call and the error (never the row).

        Seen as soon as the store reports them, not at ``aclose()``: a write-behind batch that
        failed, a value left out of a row, a write the store refused. Reading it does not
        clear it. The router collects them from the store's ``drain_write_errors()`` (when
        the store has one): read them here rather than draining the store yourself.
        """
        kept = self._store_errors
        drain = getattr(self._store, "drain_write_errors", None)
        if callable(drain):
            kept.extend(drain())
        recorder = self._recorder
        if recorder is not None and recorder.lost:
            kept.extend(recorder.lost)
            recorder.lost.clear()
        return sorted(kept, key=lambda failure: failure.at_ms)

    def breaker_state(self, provider: str) -> str | None:
        """``closed``, ``open`` or ``half_open`` for a provider, None if breakers are off."""
        dep = self._deployments.get(provider)
        if dep is None:
            raise ConfigurationError(
                f"provider {provider!r} is not configured; configured: "
                f"{', '.join(self._deployments)}"
            )
        return dep.guard.breaker_state

    # -- requests ----------------------------------------------------------------------------

    @overload
    async def execute(
        self,
        request: Req,
        *,
        response_model: None = None,
        max_validation_retries: int | None = None,
    ) -> ProviderResponse: ...

    @overload
    async def execute(
        self, request: Req, *, response_model: type[T], max_validation_retries: int | None = None
    ) -> ParsedResponse[T]: ...

    @overload
    async def execute(
        self, request: Req, *, response_model: Any, max_validation_retries: int | None = None
    ) -> ParsedResponse[Any]: ...

    async def execute(
        self, request: Req, *, response_model: Any = None, max_validation_retries: int | None = None
    ) -> ProviderResponse:
        """Send one non-streaming request; return the first successful provider's response.

        With ``response_model`` (any type a pydantic ``TypeAdapter`` takes) the provider is
        asked for its JSON and the reply validated into ``response.parsed``: a
        ``ParsedResponse[T]``, typed for mypy and pyright. A reply that does not validate is
        re-asked ``max_validation_retries`` times (default ``maxValidationRetries``, 0), each
        try an attempt of the request; then it raises ``OutputValidationError`` (the request
        is recorded ``completed``); a type with no usable JSON schema is recorded failed and
        raised as ``RequestValidationError``.
        Raises ``RequestValidationError`` for bad input, ``InvalidRequestError`` at once when a
        provider rejects the request itself, and ``AllProvidersFailedError`` when every
        candidate failed.
        """
        intake = self._ensure_open()
        if response_model is not None:
            from automatosx._routing.parsed import execute_parsed

            retries = max_validation_retries
            retries = self.options.max_validation_retries if retries is None else retries
            return await execute_parsed(intake, request, response_model, retries, self._tasks)
        run = await intake.open(request, False)
        task, tasks = asyncio.current_task(), self._tasks
        if task is not None:
            tasks.add(task)
        try:
            return await execute(run, None, None, task)
        finally:
            tasks.discard(task)

    def stream(self, request: ProviderRequest | Mapping[str, Any]) -> Stream:
        """Stream one request: ``async for chunk in router.stream(req)`` yields
        :class:`StreamChunk`s (the last has ``done=True``); ``.response`` holds the final
        :class:`ProviderResponse` once the stream is exhausted."""
        intake = self._ensure_open()
        handle = Stream(intake.open, request)
        live = self._live
        live.add(handle)
        if len(live) > self._live_limit:
            self._live = live = {s for s in live if not s.finished}
            self._live_limit = max(_LIVE_PRUNE_AT, 2 * len(live))
        return handle

    async def check_health(self) -> dict[str, ProviderHealth]:
        """Check every provider concurrently; results are recorded in ``provider_health``."""
        self._ensure_open()
        store = self._store
        assert store is not None
        deps = list(self._deployments.values())
        results = await asyncio.gather(*(check_health(dep) for dep in deps))
        for health in results:
            await store.save_health_check(health)
        return {dep.name: health for dep, health in zip(deps, results, strict=True)}
