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
only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import threading
import weakref
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

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
    from automatosx.shared import SharedState

__all__ = ["SyncRouter", "SyncStream"]

_T = TypeVar("_T")
T = TypeVar("T")
_JOIN_TIMEOUT = 30.0


class _Lifecycle(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class _LoopThread:
    """One event loop running forever in a daemon thread; holds no reference to its owner."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="automatosx-sync-router", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self.thread.ident

    def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for it; its exception is raised here."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as exc:  # the loop was closed under us
            coro.close()
            raise ConfigurationError("sync router is closed: open a new SyncRouter") from exc
        try:
            return future.result()
        except BaseException:
            # Interrupted while waiting (KeyboardInterrupt): cancel the work on the loop too.
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and join the thread (at once, unless called from the loop itself)."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.on_loop_thread():
            self.thread.join(timeout=_JOIN_TIMEOUT)


async def _close_router(router: Router) -> None:
    try:
        await router.aclose()
    finally:
        # Let the transports' connection_lost callbacks run: they close the sockets.
        for _ in range(3):
            await asyncio.sleep(0)


def _shutdown(runner: _LoopThread, router: Router) -> None:
    """Close the router on its loop, then stop the loop and join its thread.

    The finalizer of a ``SyncRouter``: it references the loop and the async router, never the
    ``SyncRouter`` itself, so garbage collection can run it.
    """
    if runner.loop.is_closed() or not runner.thread.is_alive():
        return
    if runner.on_loop_thread():  # collected on the loop's own thread: cannot wait here
        task = runner.loop.create_task(_close_router(router))
        task.add_done_callback(lambda _: runner.loop.stop())
        return
    try:
        asyncio.run_coroutine_threadsafe(_close_router(router), runner.loop).result(
            timeout=_JOIN_TIMEOUT
        )
    except (Exception, concurrent.futures.CancelledError):
        pass  # closing is best-effort here; the loop still stops below
    finally:
        runner.stop()


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
    ) -> None:
        self._router = Router(
            options,
            providers,
            store,
            http_client=http_client,
            observers=observers,
            telemetry=telemetry,
            shared=shared,
        )
        self._lifecycle = _Lifecycle.UNOPENED
        self._lock = threading.Lock()
        self._runner: _LoopThread | None = None
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
            runner = _LoopThread()
            try:
                runner.call(self._router.open())
            except BaseException:
                self._lifecycle = _Lifecycle.CLOSED
                runner.stop()
                raise
            self._runner = runner
            self._finalizer = weakref.finalize(self, _shutdown, runner, self._router)
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

    def _ensure_open(self) -> _LoopThread:
        runner = self._runner
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
        self, request: ProviderRequest | Mapping[str, Any], *, response_model: None = None
    ) -> ProviderResponse: ...

    @overload
    def execute(
        self, request: ProviderRequest | Mapping[str, Any], *, response_model: type[T]
    ) -> ParsedResponse[T]: ...

    @overload
    def execute(
        self, request: ProviderRequest | Mapping[str, Any], *, response_model: Any
    ) -> ParsedResponse[Any]: ...

    def execute(
        self,
        request: ProviderRequest | Mapping[str, Any],
        *,
        response_model: Any = None,
    ) -> ProviderResponse:
        """Send one non-streaming request and wait for the response (``response_model``:
        as :meth:`Router.execute <automatosx.router.Router.execute>`).

        Raises what ``Router.execute`` raises (``RequestValidationError``,
        ``InvalidRequestError``, ``AllProvidersFailedError``, ``OutputValidationError``), in
        the calling thread.
        """
        response: ProviderResponse = self._ensure_open().call(
            self._router.execute(request, response_model=response_model)
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

    def __init__(self, runner: _LoopThread, stream: Stream) -> None:
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
