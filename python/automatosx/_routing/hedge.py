"""Hedged requests: when a request's first attempt has produced nothing after a delay, the
next candidate is started beside it and the first to answer wins.

``RouterOptions.hedging = {"afterMs": N}`` (or ``"afterMs": "p95"``: the deployment's observed
95th percentile time to first byte — no hedge until 20 samples are in). Only a request's first
attempt is hedged, and only when another candidate exists and the budget allows: extra
requests may be at most ``maxExtraPercent`` (default 10) of the recent requests of the
deployment being hedged (an exponentially decaying count, ~the last 1,000 requests), so
hedging can never double the load on a struggling provider.

"Answered" is the attempt's step: a reply for ``execute``, the first chunk for a stream. The
loser is cancelled and recorded as an attempt with outcome ``cancelled_hedge`` (neutral for its
breaker). When the hedge wins, the state machine moves to it as a fallback. When both fail,
the hedge's failure is recorded and the first attempt's error goes to the failure policy as
usual. When the caller cancels mid-race, the hedge is cancelled and recorded ``cancelled``.
This module races (I/O); every piece of bookkeeping — in-flight counts, guards, the
attempts' records — is the request's ``Run`` (``side_began``, ``side_ended``, ``hedge_won``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from automatosx.errors import ProviderTimeoutError
from automatosx.schemas import HedgingOptions, ProviderRequest

# The run and its deployments are duck-typed here: run.py imports this module.
Run = Any
Deployment = Any

__all__ = ["HedgeBudget", "Hedging", "race"]

T = TypeVar("T")
_DECAY = 0.999  # per request: the budget looks at roughly the last 1,000 requests
_P95_SAMPLES = 20


class HedgeBudget:
    """Extra requests as a share of recent ones, per hedged deployment."""

    __slots__ = ("extras", "requests")

    def __init__(self) -> None:
        self.requests = 0.0
        self.extras = 0.0

    def seen(self) -> None:
        self.requests = self.requests * _DECAY + 1.0
        self.extras *= _DECAY

    def allows(self, percent: float) -> bool:
        return (self.extras + 1.0) <= self.requests * percent / 100.0

    def spent(self) -> None:
        self.extras += 1.0


class Hedging:
    """The router's hedging policy (from ``RouterOptions.hedging``) and its per-deployment
    state: budgets and time-to-first-byte samples."""

    def __init__(self, options: HedgingOptions) -> None:
        self.after_ms = options.after_ms
        self.percent = options.max_extra_percent
        self.budgets: dict[str, HedgeBudget] = {}
        self.samples: dict[str, deque[float]] = {}

    def budget(self, dep: Deployment) -> HedgeBudget:
        budget = self.budgets.get(dep.name)
        if budget is None:
            budget = self.budgets[dep.name] = HedgeBudget()
        return budget

    def observe(self, dep: Deployment, seconds: float) -> None:
        """A successful attempt's time to first byte (for ``afterMs: "p95"``)."""
        if self.after_ms == "p95":
            samples = self.samples.get(dep.name)
            if samples is None:
                samples = self.samples[dep.name] = deque(maxlen=200)
            samples.append(seconds)

    def delay_s(self, dep: Deployment) -> float | None:
        """How long the first attempt may go without an answer before the hedge starts."""
        if self.after_ms != "p95":
            return self.after_ms / 1000
        samples = self.samples.get(dep.name)
        if samples is None or len(samples) < _P95_SAMPLES:
            return None
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def _leg(step: Awaitable[T], seconds: float, dep: Deployment, late: str) -> T:
    try:
        return await asyncio.wait_for(step, seconds)
    except asyncio.TimeoutError:
        raise ProviderTimeoutError(f"{late} within {seconds:g}s", provider=dep.name) from None


async def race(
    run: Run,
    hedging: Hedging,
    dep: Deployment,
    step: Callable[[Deployment, ProviderRequest], Awaitable[T]],
    limit_s: Callable[[Deployment], float],
    late: str,
) -> tuple[Deployment, T]:
    """The first attempt, hedged when it is slow. Returns the deployment that answered and
    its result; raises the first attempt's error when no hedge answered."""
    budget = hedging.budget(dep)
    budget.seen()
    started = time.perf_counter()
    first = asyncio.ensure_future(_leg(step(dep, run.sent), limit_s(dep), dep, late))
    try:
        return await _race(run, hedging, budget, dep, first, step, limit_s, late, started)
    except BaseException:
        if not first.done():
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
        raise


async def _race(
    run: Run,
    hedging: Hedging,
    budget: HedgeBudget,
    dep: Deployment,
    first: asyncio.Future[T],
    step: Callable[[Deployment, ProviderRequest], Awaitable[T]],
    limit_s: Callable[[Deployment], float],
    late: str,
    started: float,
) -> tuple[Deployment, T]:
    delay = hedging.delay_s(dep)
    if delay is not None:
        await asyncio.wait({first}, timeout=delay)
    if first.done() or delay is None or not budget.allows(hedging.percent):
        result = await first
        hedging.observe(dep, time.perf_counter() - started)
        return dep, result
    other, model = run.cands[run.pos + 1]
    if not await run.admit(other, model, 0, side=True):
        result = await first  # the next candidate cannot take it now: no hedge
        hedging.observe(dep, time.perf_counter() - started)
        return dep, result
    budget.spent()
    request = await run.side_began(other, model)
    hedge = asyncio.ensure_future(_leg(step(other, request), limit_s(other), other, late))
    try:
        pending: set[asyncio.Future[T]] = {first, hedge}
        failures: dict[asyncio.Future[T], BaseException] = {}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            winner = next((t for t in (first, hedge) if t in done and _ok(t)), None)
            for task in done:
                if not _ok(task):
                    failures[task] = task.exception()  # type: ignore[assignment]
            if winner is not None:
                loser = hedge if winner is first else first
                await _cancel(loser, pending)
                if winner is first:
                    await run.side_ended(failures.get(hedge))
                    return dep, first.result()
                await run.hedge_won(dep, failures.get(first))
                return other, hedge.result()
        # Both failed: the hedge's failure is recorded; the first's goes to the policy.
        await run.side_ended(failures[hedge])
        raise failures[first]
    except asyncio.CancelledError:
        # The caller cancelled: the Run records the hedge cancelled (run.cancelled()).
        if not hedge.done():
            hedge.cancel()
            with contextlib.suppress(BaseException):
                await hedge
        raise


def _ok(task: asyncio.Future[Any]) -> bool:
    return not task.cancelled() and task.exception() is None


async def _cancel(loser: asyncio.Future[Any], pending: set[asyncio.Future[Any]]) -> None:
    if loser in pending:
        loser.cancel()
        with contextlib.suppress(BaseException):
            await loser
    elif _ok(loser):  # it answered too, a moment late: release what it holds (a stream)
        result = loser.result()
        events = result[0] if isinstance(result, tuple) else None
        close = getattr(events, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
