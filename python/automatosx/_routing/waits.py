"""Waits at admission made visible: a request that waited for its deployment's rate limiter
(or a 429's cool-down) before an attempt is logged, told to the observers and metered.

``Run.admit`` times the admission chain: an admission that took :data:`WAITED_NS` or more
waited (a guard sleeps whole milliseconds; one that does not wait never sleeps). Then
:func:`waited`: a DEBUG log line per wait (logger ``automatosx``); one INFO line per
deployment per minute while its requests wait, saying how many waited, how long, and the
limits that made them (``waitlog.py``); and ``Observer.limiter_waited`` with a
:class:`~automatosx.observe.WaitInfo` (the telemetry observers record the
``automatosx.limiter.wait`` histogram from it).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

from automatosx._core import monotonic_ms
from automatosx.observe import WaitInfo

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment, Plan
    from automatosx.observe import RequestInfo
    from automatosx.schemas import ProviderRequest

__all__ = ["WAITED_NS", "waited"]

log = logging.getLogger("automatosx")

WAITED_NS = 1_000_000
"""An admission that took this long (1 ms) waited."""


async def waited(
    plan: Plan,
    info: RequestInfo | None,
    dep: Deployment,
    model: str,
    request: ProviderRequest,
    number: int,
    began_ns: int,
    admitted: bool,
) -> None:
    """Attempt ``number`` of ``request`` waited at ``dep``'s admission since ``began_ns``
    (``perf_counter_ns``): logged, and told to the observers of ``limiter_waited``."""
    wait = _logged(dep, model, request.request_id, number, began_ns, admitted)
    observers = plan.observers.limiter_waited
    if observers and info is not None:
        for obs in observers:
            await obs.limiter_waited(info, wait)


def _logged(
    dep: Deployment, model: str, request_id: str, number: int, began_ns: int, admitted: bool
) -> WaitInfo:
    """The wait, logged (DEBUG; the deployment's INFO line when due)."""
    waited_ms = (time.perf_counter_ns() - began_ns) / 1e6
    now = monotonic_ms()
    cooled_until = getattr(dep.guard, "cooled_until_ms", 0) or 0
    reason: Literal["limiter", "cooldown"] = (
        "cooldown" if cooled_until > now - waited_ms else "limiter"
    )
    log.debug(
        "request %s waited %.0f ms for %s's %s%s",
        request_id,
        waited_ms,
        dep.name,
        "429 cool-down" if reason == "cooldown" else "rate limiter",
        "" if admitted else " (then skipped it)",
    )
    dep.waits.add(dep.name, dep.spec, waited_ms, now)
    return WaitInfo(dep.name, model, waited_ms, reason, number, admitted, dep.kind)
