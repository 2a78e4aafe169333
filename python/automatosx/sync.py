"""A synchronous router for WSGI apps, scripts and notebooks.

``SyncRouter`` wraps the async :class:`~automatosx.router.Router` and runs it on one private
event loop in a daemon thread. Every call submits a coroutine to that loop and blocks the
calling thread until it finishes, so:

* the routing, retries, fallback and recording are the async router's, unchanged;
* many threads may share one ``SyncRouter``: their requests run concurrently on the loop;
* an exception is re-raised in the caller's thread as the same object, with its own type;
* it works where an event loop is already running (a notebook, an async framework), because
  it never touches that loop. It blocks that loop while it waits, though: inside async code
  use :class:`~automatosx.router.Router` instead.

A ``SyncRouter`` that is closed, or garbage-collected without being closed, stops its loop
and joins its thread (a ``weakref.finalize``): no thread, connection or unflushed store is
left behind. Provider clients and an injected ``http_client`` are used on the private loop
only. A call still under way when another thread closes the router raises
:class:`~automatosx.errors.ConfigurationError` (the request is recorded ``CANCELLED``).

After ``os.fork()`` (``gunicorn --preload``) the child has no loop thread: its first call
builds a new router from the same arguments (new loop, new clients, new connections) and
opens it; when those arguments hold objects that cannot cross a fork (a ``Provider`` or
``Store`` instance, an ``http_client``) it raises ``ConfigurationError`` at once instead.
Nothing the parent opened is closed or used by the child.

A call crosses to the loop thread and back with one task and one lock handoff (no
``concurrent.futures.Future``): ``benches/bench_sync.py`` measures what that adds.
"""

from __future__ import annotations

import enum
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from automatosx._sync_loop import FORKED_AWAY, LoopThread, shutdown
from automatosx.errors import ConfigurationError
from automatosx.observe import Observer
from automatosx.providers.base import Provider
from automatosx.router import Router, Stream
from automatosx.schemas import (
    ProviderConfig,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RouterOptions,
    StreamChunk,
)
from automatosx.store.base import Store

if TYPE_CHECKING:
    from automatosx._output import ParsedResponse
    from automatosx.cache import Cache
    from automatosx.shared import SharedState

__all__ = ["SyncRouter", "SyncStream"]

T = TypeVar("T")
Req = ProviderRequest | Mapping[str, Any]


class _Lifecycle(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class SyncRouter:
    """The :class:`~automatosx.router.Router`, called from plain (synchronous) code.

    Same constructor as ``Router``; use it as ``with SyncRouter(...) as router:`` (or
    ``open()`` / ``close()``). ``execute``, ``stream`` and ``check_health`` block the calling
    thread; any number of threads may call them at once. Each request is recorded exactly as
    the async router records it. Using it before ``open()`` or after ``close()`` raises
    :class:`~automatosx.errors.ConfigurationError`.
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
        self._args = (options, providers, store)
        self._kwargs: dict[str, Any] = {
            "http_client": http_client,
            "observers": observers,
            "telemetry": telemetry,
            "shared": shared,
            "cache": cache,
        }
        self._router = Router(options, providers, store, **self._kwargs)
        self._lifecycle = _Lifecycle.UNOPENED
        self._lock = threading.Lock()
        self._runner: LoopThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def options(self) -> RouterOptions:
        """The router's validated options."""
        return self._router.options

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Start the private loop, then open the router on it (clients, store, prices)."""
        with self._lock:
            if self._lifecycle is not _Lifecycle.UNOPENED:
                raise ConfigurationError(
                    f"sync router is {self._lifecycle.value}; open it only once"
                )
            runner = LoopThread()
            try:
                runner.call(self._router.open())
            except BaseException:
                self._lifecycle = _Lifecycle.CLOSED
                runner.stop()
                raise
            self._runner = runner
            self._finalizer = weakref.finalize(self, shutdown, runner, self._router)
            self._lifecycle = _Lifecycle.OPENED

    def close(self) -> None:
        """Close the providers, flush the store, stop the loop and join its thread.
        Idempotent. Do not call it while other threads are still sending requests."""
        with self._lock:
            self._lifecycle = _Lifecycle.CLOSED
            if self._finalizer is not None:
                self._finalizer()

    def __enter__(self) -> SyncRouter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _ensure_open(self) -> LoopThread:
        runner = self._runner
        if runner is not None and runner.forked:
            runner = self._reopen_after_fork(runner)
        if self._lifecycle is not _Lifecycle.OPENED or runner is None:
            raise ConfigurationError(
                f"sync router is {self._lifecycle.value}: use 'with SyncRouter(...) as "
                "router:' (or router.open()) before sending requests"
            )
        if runner.on_loop_thread():
            raise ConfigurationError(
                "SyncRouter called from its own event loop (e.g. inside a provider or store "
                "callback): that would wait forever; use the async Router there"
            )
        return runner

    def _reopen_after_fork(self, stale: LoopThread) -> LoopThread:
        """In a child process: a new router from the same arguments, on a new loop. The
        parent's router, clients and connections are left untouched (and unclosed: they are
        the parent's)."""
        with self._lock:
            if self._runner is not stale:  # another thread of the child got here first
                return self._ensure_open()
            FORKED_AWAY.append((stale, self._router))
            self._runner = None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            if self._lifecycle is not _Lifecycle.OPENED:
                raise ConfigurationError(
                    f"sync router is {self._lifecycle.value}: use 'with SyncRouter(...) as "
                    "router:' (or router.open()) before sending requests"
                )
            self._lifecycle = _Lifecycle.CLOSED
            self._router = Router(*self._args, **_fresh(self._kwargs, self._args))
            runner = LoopThread()
            try:
                runner.call(self._router.open())
            except BaseException:
                runner.stop()
                raise
            self._runner = runner
            self._finalizer = weakref.finalize(self, shutdown, runner, self._router)
            self._lifecycle = _Lifecycle.OPENED
            return runner

    # -- requests ----------------------------------------------------------------------------

    @property
    def providers(self) -> dict[ProviderName, Provider]:
        """The configured providers by name (empty before ``open()``)."""
        return self._router.providers

    def breaker_state(self, provider: ProviderName) -> str | None:
        """``closed``, ``open`` or ``half_open`` for a provider, None if breakers are off."""
        return self._router.breaker_state(provider)

    @overload
    def execute(
        self,
        request: Req,
        *,
        response_model: None = None,
        max_validation_retries: int | None = None,
    ) -> ProviderResponse: ...

    @overload
    def execute(
        self, request: Req, *, response_model: type[T], max_validation_retries: int | None = None
    ) -> ParsedResponse[T]: ...

    @overload
    def execute(
        self, request: Req, *, response_model: Any, max_validation_retries: int | None = None
    ) -> ParsedResponse[Any]: ...

    def execute(
        self, request: Req, *, response_model: Any = None, max_validation_retries: int | None = None
    ) -> ProviderResponse:
        """Send one non-streaming request and wait for the response (``response_model``,
        ``max_validation_retries``: as :meth:`Router.execute <automatosx.router.Router.execute>`).

        Raises what ``Router.execute`` raises (``RequestValidationError``,
        ``InvalidRequestError``, ``AllProvidersFailedError``, ``OutputValidationError``), in
        the calling thread.
        """
        response: ProviderResponse = self._ensure_open().call(
            self._router.execute(
                request,
                response_model=response_model,
                max_validation_retries=max_validation_retries,
            )
        )
        return response

    def stream(self, request: ProviderRequest | Mapping[str, Any]) -> SyncStream:
        """Stream one request: ``for chunk in router.stream(req)`` yields
        :class:`StreamChunk`s (the last has ``done=True``); ``.response`` holds the final
        :class:`ProviderResponse` once the stream is exhausted."""
        runner = self._ensure_open()
        return SyncStream(runner, self._router.stream(request))

    def check_health(self) -> dict[ProviderName, ProviderHealth]:
        """Check every provider concurrently; results are recorded in ``provider_health``."""
        return self._ensure_open().call(self._router.check_health())


def _fresh(kwargs: dict[str, Any], args: tuple[Any, Any, Any]) -> dict[str, Any]:
    """The router's keyword arguments for a new router in a child process; a
    ConfigurationError when one of them (or ``providers``, ``store``) cannot cross a fork."""
    _, providers, store = args
    instances = [p for p in providers or () if isinstance(p, Provider)]
    what = (
        "a Provider instance"
        if instances
        else "a Store instance"
        if isinstance(store, Store)
        else "an http_client"
        if kwargs["http_client"] is not None
        else None
    )
    if what is not None:
        raise ConfigurationError(
            f"SyncRouter was opened before os.fork() with {what}, which cannot be shared with "
            "a child process: open the SyncRouter in each worker after the fork (e.g. "
            "gunicorn's post_fork hook), or pass configs and URLs, which a child reopens"
        )
    shared = kwargs["shared"]
    if shared is not None and not isinstance(shared, str):
        from automatosx.shared import SharedState

        shared = SharedState(
            shared.url,
            lease_fraction=shared.lease_fraction,
            heartbeat_s=shared.heartbeat_s,
            poll_s=shared.poll_s,
            timeout_s=shared.timeout_s,
            prefix=shared.prefix,
        )
    return {**kwargs, "shared": shared}


class _End:
    """Returned by ``_next`` when the async stream is exhausted (StopAsyncIteration cannot
    cross a future cleanly)."""


_END = _End()


async def _next(stream: Stream) -> StreamChunk | _End:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return _END


class SyncStream:
    """A streamed request: a plain iterator of :class:`StreamChunk`.

    Each ``next()`` waits for the next chunk from the router's loop. ``response`` is the final
    :class:`ProviderResponse` once the stream is exhausted (None before, or when it failed).
    Stopping early records the request as failed with code ``CANCELLED``: ``close()`` it, or
    use ``with router.stream(req) as stream:`` so that happens at once rather than at garbage
    collection.
    """

    __slots__ = ("_done", "_runner", "_stream")

    def __init__(self, runner: LoopThread, stream: Stream) -> None:
        self._runner = runner
        self._stream = stream
        self._done = False

    @property
    def response(self) -> ProviderResponse | None:
        """The final response once the stream is exhausted; None before or on failure."""
        return self._stream.response

    def __iter__(self) -> Iterator[StreamChunk]:
        return self

    def __next__(self) -> StreamChunk:
        if self._done:
            raise StopIteration
        try:
            item = self._runner.call(_next(self._stream))
        except BaseException:
            self._done = True
            raise
        if isinstance(item, _End):
            self._done = True
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the stream; if it had not finished, the request is recorded as CANCELLED."""
        self._done = True
        if not self._runner.loop.is_closed() and self._runner.thread.is_alive():
            self._runner.call(self._stream.aclose())

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def text(self) -> str:
        """Consume the stream and return the whole reply."""
        return "".join(chunk.chunk for chunk in self)
