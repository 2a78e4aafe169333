"""One side of a race that ended without winning (a hedge, or the first attempt beside it):
its guard settled, and its failure kept in the request's attempts (``Run`` calls it)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from automatosx._routing.limits import timeout_of
from automatosx._routing.policy import as_provider_error, decide
from automatosx.errors import Attempt, ProviderError

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.schemas import ProviderRequest

__all__ = ["lost"]


def lost(
    attempts: list[Attempt],
    request: ProviderRequest,
    dep: Deployment,
    model: str,
    started: int | None,
    error: BaseException | None,
    why: str,
    by_caller: bool = False,
) -> tuple[ProviderError, str]:
    """Cancelled (``error`` None: neutral for its guard) or failed (the policy's verdict for
    its guard; kept in ``attempts``): the error to record and the attempt's outcome."""
    if error is None:
        dep.guard.released()
        code = "CANCELLED" if by_caller else "CANCELLED_HEDGE"
        err = ProviderError(f"cancelled: {why}", provider=dep.name, code=code)
        return err, "cancelled" if by_caller else "cancelled_hedge"
    err = as_provider_error(error, dep.name, timeout_of(request, dep))
    verdict = decide(err, None)
    cool = verdict.cool_ms
    dep.guard.failed(verdict.breaker == "failure", cool, cool is not None)
    duration = 0 if started is None else (time.perf_counter_ns() - started) // 1_000_000
    attempts.append(Attempt(dep.name, model, err, duration))
    return err, "failure"
