"""Telling the observers: one function per event a request's ``Run`` produces.

Each builds the event's record (:class:`~automatosx.observe.AttemptInfo`,
:class:`~automatosx.observe.SkipInfo`) and awaits the observers that override the event
(``plan.observers.<event>``, computed once); none of them changes the request's state. The
``Run`` calls them only when the request is observed (``run.info`` is set).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from automatosx.observe import AttemptInfo, RequestEnd, RequestInfo, SkipInfo

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment, Plan
    from automatosx.errors import CircuitOpenError, ProviderError

__all__ = [
    "attempt_ended",
    "attempt_started",
    "candidate_skipped",
    "request_finished",
    "request_started",
    "side_attempt",
]


async def request_started(plan: Plan, info: RequestInfo) -> None:
    for obs in plan.observers.request_started:
        await obs.request_started(info)


async def request_finished(plan: Plan, info: RequestInfo, end: RequestEnd) -> None:
    for obs in plan.observers.request_finished:
        await obs.request_finished(info, end)


async def attempt_started(plan: Plan, request: RequestInfo, attempt: AttemptInfo) -> AttemptInfo:
    for obs in plan.observers.attempt_started:
        await obs.attempt_started(request, attempt)
    return attempt


async def candidate_skipped(
    plan: Plan,
    request: RequestInfo,
    dep: Deployment,
    model: str,
    reason: ProviderError | CircuitOpenError,
) -> None:
    skip = SkipInfo(dep.name, model, reason, reason.code, dep.guard.breaker_state)
    for obs in plan.observers.candidate_skipped:
        await obs.candidate_skipped(request, skip)


async def attempt_ended(
    plan: Plan,
    request: RequestInfo,
    dep: Deployment,
    info: AttemptInfo,
    started: int,
    error: BaseException | None,
    decision: str | None,
    delay_ms: int | None,
) -> None:
    info.duration_ms = (time.perf_counter_ns() - started) // 1_000_000
    info.error = error
    if error is not None and info.outcome == "success":
        cancelled = getattr(error, "code", None) == "CANCELLED"
        info.outcome = "cancelled" if cancelled else "failure"
    info.decision = decision  # type: ignore[assignment]
    info.retry_delay_ms = delay_ms
    info.breaker_state = dep.guard.breaker_state
    for obs in plan.observers.attempt_ended:
        await obs.attempt_ended(request, info)


async def side_attempt(
    plan: Plan,
    request: RequestInfo,
    dep: Deployment,
    info: AttemptInfo,
    err: BaseException,
    outcome: str,
) -> None:
    """An attempt beside the main one (a hedge) ended."""
    info.duration_ms = (time.perf_counter_ns() - info.started_ns) // 1_000_000
    info.error = err
    info.outcome = outcome  # type: ignore[assignment]
    info.breaker_state = dep.guard.breaker_state
    for obs in plan.observers.attempt_ended:
        await obs.attempt_ended(request, info)
