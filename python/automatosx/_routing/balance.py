"""Load balancing within a group of deployments: which one a request tries first.

``RouterOptions.loadBalancing``:

* ``weighted`` (default): smooth weighted round robin (nginx's): over any window the picks
  follow the weights, interleaved rather than in bursts.
* ``least_in_flight``: the deployment with the fewest attempts under way (ties by weight).
* ``latency``: the lowest EWMA of recent latency (time to first chunk for streams, duration
  for execute). An estimate decays by half every ``half_life_s`` without a new sample, so a
  deployment that was slow and has recovered gets traffic back; one never sampled goes first.

``order(group)`` returns the group's deployments, the pick first, then the others in the
policy's order of preference (the attempt loop moves to the next one when a deployment is
passed over — open breaker, cooling after a 429, limiter wait beyond patience — or fails).
It costs O(deployments in the group), never a scan of requests. Single-deployment groups
never reach a balancer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = ["Balancer", "LatencyBalancer", "LeastInFlight", "Member", "WeightedBalancer", "balancer"]

Strategy = Literal["weighted", "least_in_flight", "latency"]


class Member(Protocol):
    """What a balancer reads of a deployment."""

    weight: int
    stats: MemberStats


class MemberStats:
    """Per-deployment counters the balancers keep (owned by the deployment)."""

    __slots__ = ("current", "ewma_ms", "in_flight", "sampled_at")

    def __init__(self) -> None:
        self.current = 0  # smooth WRR's current weight
        self.in_flight = 0
        self.ewma_ms: float | None = None
        self.sampled_at = 0.0


class Balancer(Protocol):
    def order(
        self, group: Sequence[Member], request: ProviderRequest | None = None
    ) -> list[Member]:
        """The group's members, the pick first. ``request`` is the request being routed: a
        sticky balancer pins its conversation prefix, ``user`` or ``tenant`` to a member."""
        ...

    def observe(self, member: Member, latency_ms: float) -> None:
        """A latency sample of a successful attempt."""
        ...


class WeightedBalancer:
    """Smooth weighted round robin."""

    def order(
        self, group: Sequence[Member], request: ProviderRequest | None = None
    ) -> list[Member]:
        total = 0
        best: Member | None = None
        for m in group:
            s = m.stats
            s.current += m.weight
            total += m.weight
            if best is None or s.current > best.stats.current:
                best = m
        assert best is not None
        best.stats.current -= total
        return [best, *(m for m in group if m is not best)]

    def observe(self, member: Member, latency_ms: float) -> None:
        return None


class LeastInFlight:
    """Fewest attempts under way first; ties go to the higher weight, then round robin."""

    def __init__(self) -> None:
        self._wrr = WeightedBalancer()

    def order(
        self, group: Sequence[Member], request: ProviderRequest | None = None
    ) -> list[Member]:
        least = min(m.stats.in_flight for m in group)
        tied = [m for m in group if m.stats.in_flight == least]
        first = self._wrr.order(tied)[0] if len(tied) > 1 else tied[0]
        rest = sorted((m for m in group if m is not first), key=lambda m: m.stats.in_flight)
        return [first, *rest]

    def observe(self, member: Member, latency_ms: float) -> None:
        return None


class LatencyBalancer:
    """Lowest decayed EWMA of latency first; never-sampled deployments first of all."""

    def __init__(
        self,
        alpha: float = 0.3,
        half_life_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alpha = alpha
        self.half_life_s = half_life_s
        self.clock = clock
        self._wrr = WeightedBalancer()

    def score(self, member: Member, now: float) -> float:
        s = member.stats
        if s.ewma_ms is None:
            return -1.0
        age = max(0.0, now - s.sampled_at)
        return s.ewma_ms * math.pow(0.5, age / self.half_life_s)

    def order(
        self, group: Sequence[Member], request: ProviderRequest | None = None
    ) -> list[Member]:
        now = self.clock()
        scored = sorted(group, key=lambda m: self.score(m, now))
        best = self.score(scored[0], now)
        tied = [m for m in scored if self.score(m, now) == best]
        if len(tied) > 1:  # e.g. several never sampled: spread them by weight
            first = self._wrr.order(tied)[0]
            return [first, *(m for m in scored if m is not first)]
        return scored

    def observe(self, member: Member, latency_ms: float) -> None:
        s = member.stats
        s.ewma_ms = (
            latency_ms
            if s.ewma_ms is None
            else self.alpha * latency_ms + (1 - self.alpha) * s.ewma_ms
        )
        s.sampled_at = self.clock()


def balancer(strategy: Strategy) -> Balancer:
    if strategy == "weighted":
        return WeightedBalancer()
    if strategy == "least_in_flight":
        return LeastInFlight()
    return LatencyBalancer()
