"""The one attempt loop that ``execute`` and ``stream`` share, and each attempt's deadline.

:func:`attempt` runs attempts from the request's current candidate on: admission through the
deployment's chain (``Run.admit``), each attempt under its deadline (one loop timer that
cancels the task, not a task per attempt; a first attempt may be hedged, ``hedge.py``), and
on failure ``Run.failed`` (the policy decides; the Run acts). It does I/O and timing only:
every change of the request's state is a ``Run`` method.

:func:`execute` is the non-streaming request, with the pre-request steps (``before.py``)
between intake and the loop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from automatosx._routing.before import answer_before, tell_after
from automatosx._routing.hedge import race
from automatosx._routing.policy import as_provider_error
from automatosx._routing.run import Run
from automatosx.errors import ProviderTimeoutError

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = ["Deadline", "attempt", "execute", "our_cancel", "record_cancel"]

T = TypeVar("T")
EXPIRED = "automatosx: attempt deadline"
_PY311 = sys.version_info >= (3, 11)


class Deadline:
    """Whether the timer that cancelled a task was ours (set by the timer's callback)."""

    __slots__ = ("expired",)

    def __init__(self) -> None:
        self.expired = False

    def fire(self, task: asyncio.Task[Any]) -> None:
        self.expired = True
        task.cancel(EXPIRED)


def our_cancel(task: asyncio.Task[Any], exc: asyncio.CancelledError) -> bool:
    """Whether a CancelledError is our deadline alone, not (also) the caller's cancel."""
    if _PY311:
        return task.uncancel() == 0
    # 3.10 has no cancel count: the error carries the first cancel's message. A caller's
    # cancel that came second is kept by the task itself (it cancels again at the next await).
    return exc.args == (EXPIRED,)


async def within(dep: Deployment, seconds: float, step: Awaitable[T], late: str) -> T:
    """Await ``step``, or raise ProviderTimeoutError("<late> within <seconds>") after
    ``seconds``: one loop timer that cancels this task, not a task per attempt."""
    task = asyncio.current_task()
    assert task is not None
    loop = task.get_loop()
    deadline = Deadline()
    handle = loop.call_at(loop.time() + seconds, deadline.fire, task)
    try:
        return await step
    except asyncio.CancelledError as exc:
        if deadline.expired and our_cancel(task, exc):
            raise ProviderTimeoutError(f"{late} within {seconds:g}s", provider=dep.name) from None
        raise
    finally:
        handle.cancel()


async def attempt(
    run: Run,
    step: Callable[[Deployment, ProviderRequest], Awaitable[T]],
    limit_s: Callable[[Deployment], float],
    late: str,
) -> tuple[Deployment, T]:
    """Run attempts from the current candidate on until ``step`` succeeds; return the
    deployment that answered and what ``step`` returned. Raises the error the policy says
    to raise, or :class:`AllProvidersFailedError` when the candidates are used up."""
    patience = run.plan.options.max_retry_wait_ms
    cands = run.cands
    hedging = run.plan.hedging
    while run.pos < len(cands):
        dep, model = cands[run.pos]
        if not await run.admit(dep, model, patience, side=False):
            if not run.advance():
                break
            continue
        started = await run.begin(dep)
        try:
            if hedging is not None and run.n == 1 and run.pos + 1 < len(cands):
                dep, result = await race(run, hedging, dep, step, limit_s, late)
            else:
                result = await within(dep, limit_s(dep), step(dep, run.sent), late)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # mapped: adapters raise ProviderError
            if await run.failed(dep, as_provider_error(exc, dep.name, dep.timeout_s), started):
                continue
            break
        run.answered(dep, run.began)
        return dep, result
    raise await run.all_failed()


async def execute(run: Run) -> ProviderResponse:
    """A non-streaming request, from its start to its recorded end."""
    try:
        await run.start()
        before = run.plan.before
        hit = await answer_before(before, run.request, False) if before else None
        if hit is not None:
            return await run.answered_before(hit)
        dep, response = await attempt(run, _execute, _timeout, "no reply")
        response = await run.replied(dep, response)
        if before:
            await tell_after(before, run.request, response, None)
        return response
    except asyncio.CancelledError:
        await record_cancel(run)
        raise


async def record_cancel(run: Run) -> None:
    """Record the caller's cancel (``Run.cancelled``) in a task of its own, so a second
    cancel cannot cut the record short; the router's ``aclose`` waits for these."""
    task = asyncio.ensure_future(run.cancelled())
    ending = run.plan.ending
    ending.add(task)
    task.add_done_callback(ending.discard)
    await asyncio.shield(task)


def _execute(dep: Deployment, request: ProviderRequest) -> Awaitable[ProviderResponse]:
    return dep.provider.execute(request)


def _timeout(dep: Deployment) -> float:
    return dep.timeout_s
