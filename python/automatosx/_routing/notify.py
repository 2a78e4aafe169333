"""Telling the observers: one function per event a request's ``Run`` produces.

Each builds the event's record (:class:`~automatosx.observe.AttemptInfo`,
:class:`~automatosx.observe.SkipInfo`) and calls the observers that override the event
(``plan.observers.<event>_calls``, computed once), in order: an observer's synchronous
``<event>_now`` costs no await; the first one that must wait (or an observer with only the
coroutine) hands back an awaitable that finishes the event, observer by observer. Each
function returns None when every observer is done (the common case: the caller awaits
nothing), else that awaitable. None of them changes the request's state. The ``Run`` calls
them only when the request is observed (``run.info`` is set).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from automatosx.observe import SkipInfo

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment, Plan
    from automatosx.errors import CircuitOpenError, ProviderError
    from automatosx.observe import AttemptInfo, Call, RequestInfo

__all__ = [
    "attempt_ended",
    "candidate_skipped",
    "side_attempt",
    "tell",
]


def tell(calls: Sequence[Call], *args: Any) -> Awaitable[None] | None:
    """Call ``calls`` in order with ``args``: None when all of them are done, else an
    awaitable that awaits the first pending one, then calls (and awaits) the rest."""
    for i, call in enumerate(calls, 1):
        pending = call(*args)
        if pending is not None:
            rest = calls[i:]
            return _rest(pending, rest, args) if rest else pending
    return None


async def _rest(pending: Awaitable[None], calls: Sequence[Call], args: tuple[Any, ...]) -> None:
    await pending
    for call in calls:
        more = call(*args)
        if more is not None:
            await more


def candidate_skipped(
    plan: Plan,
    request: RequestInfo,
    dep: Deployment,
    model: str,
    reason: ProviderError | CircuitOpenError,
) -> Awaitable[None] | None:
    calls = plan.observers.candidate_skipped_calls
    if not calls:
        return None
    skip = SkipInfo(dep.name, model, reason, reason.code, dep.guard.breaker_state)
    return tell(calls, request, skip)


def attempt_ended(
    plan: Plan,
    request: RequestInfo,
    dep: Deployment,
    info: AttemptInfo,
    started: int,
    error: BaseException | None,
    decision: str | None,
    delay_ms: int | None,
) -> Awaitable[None] | None:
    calls = plan.observers.attempt_ended_calls
    if not calls:
        return None
    info.duration_ms = (time.perf_counter_ns() - started) // 1_000_000
    info.error = error
    if error is not None and info.outcome == "success":
        cancelled = getattr(error, "code", None) == "CANCELLED"
        info.outcome = "cancelled" if cancelled else "failure"
    info.decision = decision  # type: ignore[assignment]
    info.retry_delay_ms = delay_ms
    info.breaker_state = dep.guard.breaker_state
    return tell(calls, request, info)


def side_attempt(
    plan: Plan,
    request: RequestInfo,
    dep: Deployment,
    info: AttemptInfo,
    err: BaseException,
    outcome: str,
) -> Awaitable[None] | None:
    """An attempt beside the main one (a hedge) ended."""
    calls = plan.observers.attempt_ended_calls
    if not calls:
        return None
    info.duration_ms = (time.perf_counter_ns() - info.started_ns) // 1_000_000
    info.error = err
    info.outcome = outcome  # type: ignore[assignment]
    info.breaker_state = dep.guard.breaker_state
    return tell(calls, request, info)
