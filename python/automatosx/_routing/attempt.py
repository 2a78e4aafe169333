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

from automatosx._routing.before import Answer, answer_now, tell_abandoned, tell_now
from automatosx._routing.deadlines import EXPIRED, FIRED, Deadlines, Entry
from automatosx._routing.hedge import race
from automatosx._routing.limits import timeout_of
from automatosx._routing.policy import as_provider_error
from automatosx._routing.run import Run
from automatosx.errors import ProviderTimeoutError

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = [
    "EXPIRED",
    "Check",
    "StreamTimer",
    "attempt",
    "execute",
    "our_cancel",
    "record_cancel",
]

T = TypeVar("T")
current_task = asyncio.current_task
_PY311 = sys.version_info >= (3, 11)


class StreamTimer:
    """A stream's one deadline, for all its attempts: an attempt's first-token deadline
    (``start``), then, once its first event arrived (``streaming``), the same deadline as the
    idle watchdog, re-armed lazily (no per-chunk timer). As the watchdog it cancels the task
    only while the stream waits on the provider (``waiting_since`` set), never while the
    caller is busy with a chunk. ``expired``: the last cancel was this timer's. A deadline
    is an entry of the router's :class:`Deadlines`; once a stream outlives its first idle
    period, a loop timer of its own."""

    __slots__ = (
        "deadlines",
        "entry",
        "expired",
        "first",
        "handle",
        "idle",
        "soon",
        "task",
        "waiting_since",
    )

    def __init__(self, deadlines: Deadlines, idle: float | None) -> None:
        self.deadlines = deadlines
        self.idle = idle
        self.expired = False
        self.first = False
        self.waiting_since: float | None = None
        self.entry: Entry | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[Any] | None = None
        self.soon = False  # the first-token deadline is due within ``idle`` of any later time

    def start(self, task: asyncio.Task[Any], seconds: float) -> None:
        """An attempt starts in ``task``: its first event is due within ``seconds``."""
        if self.entry is not None or self.handle is not None:
            self.disarm()
        self.task, self.expired, self.first, self.waiting_since = task, False, True, None
        idle = self.idle
        self.soon = idle is not None and seconds <= idle
        self.entry = self.deadlines.arm(task, seconds, self)

    def streaming(self, task: asyncio.Task[Any]) -> None:
        """The attempt's first event arrived: the deadline now watches the gaps between
        events (kept as it is when it is due soon enough: ``check`` re-arms it)."""
        self.first = self.expired = False
        self.waiting_since = None
        if self.task is not task:  # a hedged first attempt had deadlines of its own
            self.disarm()
            self.task = task
        idle, entry = self.idle, self.entry
        if idle is None:
            self.disarm()
        elif entry is None or (not self.soon and entry[0] > task.get_loop().time() + idle):
            self.disarm()
            self.entry = self.deadlines.arm(task, idle, self)

    def check(self) -> None:
        """Due: expire the attempt, or (the caller was busy, or the last gap is shorter
        than ``idle``) watch again from the last wait."""
        task = self.task
        assert task is not None
        self.entry = self.handle = None
        loop = task.get_loop()
        since = self.waiting_since
        now = loop.time()
        idle = self.idle
        if self.first or idle is None or (since is not None and now - since >= idle):
            self.expired = True  # no first event in time, or a gap too long
            task.cancel(EXPIRED)
            return
        self.handle = loop.call_at((since if since is not None else now) + idle, self.check)

    def disarm(self) -> None:
        entry, handle = self.entry, self.handle
        if entry is not None:
            self.deadlines.disarm(entry)
            self.entry = None
        if handle is not None:
            handle.cancel()
            self.handle = None


def our_cancel(task: asyncio.Task[Any], exc: asyncio.CancelledError) -> bool:
    """Whether a CancelledError is our deadline alone, not (also) the caller's cancel."""
    if _PY311:
        return task.uncancel() == 0
    # 3.10 has no cancel count: the error carries the first cancel's message. A caller's
    # cancel that came second is kept by the task itself (it cancels again at the next await).
    return exc.args == (EXPIRED,)


async def within(
    dep: Deployment,
    seconds: float,
    step: Awaitable[T],
    late: str,
    deadlines: Deadlines,
    task: asyncio.Task[Any],
) -> T:
    """Await ``step``, or raise ProviderTimeoutError("<late> within <seconds>") after
    ``seconds``: a deadline of the router's ``deadlines`` cancels this task (no task per
    attempt)."""
    entry = deadlines.arm(task, seconds, None)
    try:
        result = await step
    except BaseException as exc:
        deadlines.disarm(entry)
        if entry[FIRED] and isinstance(exc, asyncio.CancelledError) and our_cancel(task, exc):
            # our deadline, and no other cancel came with it
            raise ProviderTimeoutError(f"{late} within {seconds:g}s", provider=dep.name) from None
        raise
    deadlines.disarm(entry)
    return result


async def attempt(
    run: Run,
    step: Callable[[Deployment, ProviderRequest], Awaitable[T]],
    limit_s: Callable[[Deployment], float],
    late: str,
    timer: StreamTimer | None = None,
    task: asyncio.Task[Any] | None = None,
) -> tuple[Deployment, T]:
    """Run attempts from the current candidate on until ``step`` succeeds; return the
    deployment that answered and what ``step`` returned. Raises the error the policy says
    to raise, or :class:`AllProvidersFailedError` when the candidates are used up."""
    patience = run.plan.options.max_retry_wait_ms
    cands = run.cands
    hedging = run.plan.hedging
    deadlines = run.plan.deadlines
    if task is None:
        task = current_task()
        assert task is not None
    while run.pos < len(cands):
        dep, model = cands[run.pos]
        if not await run.admit(dep, model, patience, side=False):
            if not run.advance():
                break
            continue
        started = run.begin(dep)
        if run.info is not None and (told := run.attempt_began(dep, started)):
            await told
        try:
            if hedging is not None and run.n == 1 and run.pos + 1 < len(cands):
                dep, result = await race(run, hedging, dep, step, limit_s, late)
            elif timer is not None:  # a stream's first event: ``within``, with the stream's
                seconds = limit_s(dep)  # timer (left running: it goes on as the watchdog)
                timer.start(task, seconds)
                try:
                    result = await step(dep, run.sent)
                except BaseException as exc:
                    timer.disarm()
                    cancel = isinstance(exc, asyncio.CancelledError)
                    if timer.expired and cancel and our_cancel(task, exc):  # type: ignore[arg-type]
                        message = f"{late} within {seconds:g}s"  # our deadline, no other cancel
                        raise ProviderTimeoutError(message, provider=dep.name) from None
                    raise
            else:
                result = await within(dep, limit_s(dep), step(dep, run.sent), late, deadlines, task)
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
    task: asyncio.Task[Any] | None = None,
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
        found = answer_now(before, run.request, False) if before else None
        hit = found if found is None or isinstance(found, Answer) else await found
        if hit is not None:
            told = True
            response = await run.answered_before(hit)
            return response if accept is None else accept(response)
        limit = _timeout if run.request.timeout_ms is None else _requested(run.request)
        dep, response = await attempt(run, _execute, limit, "no reply", None, task)
        while check is not None and not await check(run, dep, response):
            dep, response = await attempt(run, _execute, limit, "no reply", None, task)
        response = await run.replied(dep, response)
        if accept is not None:
            response = accept(response)
        if before:
            told = True
            if (telling := tell_now(before, run.request, response, None)) is not None:
                await telling
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
