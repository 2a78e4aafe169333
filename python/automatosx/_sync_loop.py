"""The loop thread behind :class:`~automatosx.sync.SyncRouter`: one event loop running in a
daemon thread, the hop of a call to it and back, and what ``os.fork()`` leaves of it.

A call is one task on the loop and one ``threading.Lock`` handoff back (no
``concurrent.futures.Future``, no done-callback a loop iteration later). A call still waiting
when the loop stops (the router was closed by another thread) is released with a
:class:`~automatosx.errors.ConfigurationError`, never left waiting; a cancelled call raises
that too, not ``CancelledError``. In a child process after ``os.fork()`` every loop is marked
``forked`` (``os.register_at_fork``): no thread runs it there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from automatosx.errors import ConfigurationError

if TYPE_CHECKING:
    from automatosx.router import Router

__all__ = ["FORKED_AWAY", "LoopThread", "shutdown"]

_T = TypeVar("_T")
_JOIN_TIMEOUT = 30.0


class _Call:
    """One call crossing to the loop: the caller blocks on ``lock`` until the task is done."""

    __slots__ = ("coro", "error", "lock", "released", "result", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.lock = threading.Lock()
        self.lock.acquire()
        self.task: asyncio.Task[None] | None = None
        self.released = False
        self.result: Any = None
        self.error: BaseException | None = None

    async def drive(self) -> None:
        """The task's body: run the call, keep its outcome, release the caller at once (not
        a loop iteration later, as a done-callback would)."""
        try:
            self.result = await self.coro
        except BaseException as exc:  # the caller raises it (CancelledError: as closed)
            self.error = exc
        finally:
            self.release()

    def release(self, _: object = None) -> None:
        """Let the caller go (once; only ever called on the loop's thread)."""
        if not self.released:
            self.released = True
            self.lock.release()


_CLOSED_UNDER_CALL = (
    "sync router was closed (by another thread) while this call ran; the request is "
    "recorded CANCELLED: close the router only after its callers are done"
)


class LoopThread:
    """One event loop running forever in a daemon thread; holds no reference to its owner."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.forked = False
        """Set in a child process after ``os.fork()``: there is no thread running the loop."""
        self.calls: set[_Call] = set()
        self.thread = threading.Thread(target=self._run, name="automatosx-sync-router", daemon=True)
        self.thread.start()
        _LOOPS.add(self)

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
                for call in list(self.calls):  # never left waiting on a loop that stopped
                    if call.task is None:
                        call.coro.close()
                    call.release()

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self.thread.ident

    def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for it; its exception is raised here."""
        call = _Call(coro)
        self.calls.add(call)
        try:
            try:
                self.loop.call_soon_threadsafe(self._start, call)
            except RuntimeError as exc:  # the loop was closed under us
                coro.close()
                raise ConfigurationError("sync router is closed: open a new SyncRouter") from exc
            try:
                call.lock.acquire()
            except BaseException:
                # Interrupted while waiting (KeyboardInterrupt): cancel the work on the loop too.
                self._cancel(call)
                raise
        finally:
            self.calls.discard(call)
        error = call.error
        if error is not None:
            if isinstance(error, (asyncio.CancelledError, concurrent.futures.CancelledError)):
                raise ConfigurationError(_CLOSED_UNDER_CALL) from None
            raise error
        if call.task is None:  # the loop stopped before the call started
            raise ConfigurationError(_CLOSED_UNDER_CALL)
        return call.result  # type: ignore[no-any-return]

    def _start(self, call: _Call) -> None:
        """On the loop: start the call's task; its end releases the caller."""
        call.task = self.loop.create_task(call.drive())

    def _cancel(self, call: _Call) -> None:
        def cancel() -> None:
            if call.task is not None:
                call.task.cancel()

        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(cancel)

    def stop(self) -> None:
        """Stop the loop and join the thread (at once, unless called from the loop itself)."""
        if self.loop.is_closed() or self.forked:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.on_loop_thread():
            self.thread.join(timeout=_JOIN_TIMEOUT)


_LOOPS: weakref.WeakSet[LoopThread] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """No thread runs the parent's loops in a child process: mark them, so that the next
    call rebuilds its router (or refuses at once) instead of waiting forever."""
    for runner in list(_LOOPS):
        runner.forked = True
        runner.calls.clear()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


async def _close_router(router: Router) -> None:
    try:
        await router.aclose()
    finally:
        # Let the transports' connection_lost callbacks run: they close the sockets.
        for _ in range(3):
            await asyncio.sleep(0)


def shutdown(runner: LoopThread, router: Router) -> None:
    """Close the router on its loop, then stop the loop and join its thread.

    The finalizer of a ``SyncRouter``: it references the loop and the async router, never the
    ``SyncRouter`` itself, so garbage collection can run it.
    """
    if runner.forked or runner.loop.is_closed() or not runner.thread.is_alive():
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


FORKED_AWAY: list[tuple[LoopThread, Router]] = []
"""A child's copies of its parent's routers: kept, never closed (their sockets, files and
connections are the parent's), so no finalizer or ``__del__`` touches them."""
