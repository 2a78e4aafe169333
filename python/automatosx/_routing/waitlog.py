"""One deployment's waits at admission, and the INFO line that sums them up once a minute.

Each :class:`~automatosx._routing.plan.Deployment` owns a :class:`WaitLog`; ``waits.py``
adds each wait. The first wait logs at once, then at most one line per :data:`INFO_EVERY_MS`
while requests keep waiting: how many waited, how long, and the limits that made them wait.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automatosx.guards import DeploymentSpec

__all__ = ["INFO_EVERY_MS", "WaitLog"]

log = logging.getLogger("automatosx")

INFO_EVERY_MS = 60_000
"""At most one INFO line per deployment in this long (a minute)."""


class WaitLog:
    """One deployment's waits since its last INFO line."""

    __slots__ = ("count", "info_at_ms", "longest_ms", "total_ms")

    def __init__(self) -> None:
        self.info_at_ms: int | None = None
        self.count = 0
        self.total_ms = 0.0
        self.longest_ms = 0.0

    def add(self, name: str, spec: DeploymentSpec, waited_ms: float, now: int) -> None:
        """Count a wait (``now``: monotonic ms); log the INFO line when it is due."""
        self.count += 1
        self.total_ms += waited_ms
        self.longest_ms = max(self.longest_ms, waited_ms)
        at = self.info_at_ms
        if at is None or now - at >= INFO_EVERY_MS:
            self._info(name, spec, now)

    def _info(self, name: str, spec: DeploymentSpec, now: int) -> None:
        pairs = ((spec.requests_per_minute, "requests"), (spec.tokens_per_minute, "tokens"))
        limits = [f"{value} {unit} a minute" for value, unit in pairs if value]
        why = f"its rate limits ({', '.join(limits)})" if limits else "its limiter or a cool-down"
        at = self.info_at_ms
        since = "" if at is None else f" in the last {(now - at) / 1000:.0f} s"
        log.info(
            "deployment %s: %d request(s) waited for %s%s: %.0f ms in all, the longest %.0f ms "
            "(raise rateLimits, add deployments to its group, or expect this pace)",
            name,
            self.count,
            why,
            since,
            self.total_ms,
            self.longest_ms,
        )
        self.info_at_ms = now
        self.count = 0
        self.total_ms = 0.0
        self.longest_ms = 0.0
