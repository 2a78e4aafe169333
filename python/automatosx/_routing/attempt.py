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

from automatosx._routing.before import answer_before, tell_abandoned, tell_after
from automatosx._routing.hedge import race
from automatosx._routing.limits import timeout_of
from automatosx._routing.policy import as_provider_error
from automatosx._routing.run import Run
from automatosx.errors import ProviderTimeoutError

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = ["EXPIRED", "Check", "attempt", "execute", "our_cancel", "record_cancel"]

T = TypeVar("T")
EXPIRED = "automatosx: attempt deadline"
_PY311 = sys.version_info >= (3, 11)


def _expire(task: asyncio.Task[Any], fired: list[bool]) -> None:
    fired.append(True)
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
    fired: list[bool] = []
    handle = loop.call_at(loop.time() + seconds, _expire, task, fired)
    try:
        return await step
    except asyncio.CancelledError as exc:
        if fired and our_cancel(task, exc):  # our timer, and no other cancel came with it
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
        started = run.begin(dep)
        if run.info is not None:
            await run.attempt_began(dep, started)
        try:
            if hedging is not None and run.n == 1 and run.pos + 1 < len(cands):
                dep, result = await race(run, hedging, dep, step, limit_s, late)
            else:
                result = await within(dep, limit_s(dep), step(dep, run.sent), late)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # mapped: adapters raise ProviderError
            err = as_provider_error(exc, dep.name, timeout_of(run.request, dep))
            if await run.failed(dep, err, started):
                continue
            break
        run.answered(dep, run.began)
        return dep, result
    raise await run.all_failed()


Check = Callable[[Run, "Deployment", "ProviderResponse"], Awaitable[bool]]
"""Looks at a reply before it completes the request: False when it set up another try
(``parsed.py``'s re-ask)."""


async def execute(
    run: Run,
    check: Check | None = None,
    accept: Callable[[ProviderResponse], ProviderResponse] | None = None,
) -> ProviderResponse:
    """A non-streaming request, from its start to its recorded end. ``check`` may ask again
    (a re-ask); ``accept`` (the caller's ``response_model``) checks the reply, and may replace
    it, before it is returned and before the pre-request steps are told of it; what it raises
    propagates (the request stays recorded ``completed``) and the steps are told the request
    was abandoned."""
    before = run.plan.before
    told = not before
    try:
        await run.start()
        hit = await answer_before(before, run.request, False) if before else None
        if hit is not None:
            told = True
            response = await run.answered_before(hit)
            return response if accept is None else accept(response)
        limit = _timeout if run.request.timeout_ms is None else _requested(run.request)
        dep, response = await attempt(run, _execute, limit, "no reply")
        while check is not None and not await check(run, dep, response):
            dep, response = await attempt(run, _execute, limit, "no reply")
        response = await run.replied(dep, response)
        if accept is not None:
            response = accept(response)
        if before:
            told = True
            await tell_after(before, run.request, response, None)
        return response
    except asyncio.CancelledError:
        await record_cancel(run)
        raise
    finally:
        if not told:
            tell_abandoned(before, run.request)


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


def _requested(request: ProviderRequest) -> Callable[[Deployment], float]:
    """The request's ``timeoutMs`` at every deployment (in place of theirs)."""
    seconds = (request.timeout_ms or 0) / 1000
    return lambda dep: seconds
