"""Load balancing within a group of deployments: which one a request tries first.

``RouterOptions.loadBalancing``:

* ``weighted`` (default): smooth weighted round robin (nginx's): over any window the picks
  follow the weights, interleaved rather than in bursts.
* ``least_in_flight``: the deployment with the fewest attempts under way (ties by weight).
* ``latency``: the lowest EWMA of recent latency (time to first chunk for streams, duration
  for execute); one never sampled goes first. A deployment that lost the traffic (slow once)
  is not left to its stale estimate: once it has gone ``probe_after_s`` without a sample,
  one request in ``probe_every`` tries it first (a probe), and a sample that follows such a
  gap replaces the estimate instead of blending into it. A deployment that was slow and has
  recovered so gets its share back within about ``probe_after_s`` seconds, at a cost of at
  most one request in ``probe_every`` sent to a deployment that may still be slow. An
  estimate also decays by half every ``half_life_s`` without a sample.

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

    __slots__ = ("current", "ewma_ms", "in_flight", "probed_at", "sampled_at")

    def __init__(self) -> None:
        self.current = 0  # smooth WRR's current weight
        self.in_flight = 0
        self.ewma_ms: float | None = None
        self.sampled_at = 0.0
        self.probed_at = 0.0


class Balancer(Protocol):
    def order(
        self, group: Sequence[Member], request: ProviderRequest | None = None
    ) -> list[Member]:
        """The group's members, the pick first. ``request`` is the request being routed: a
        sticky balancer pins its conversation prefix, ``user`` or ``tenant`` to a member."""
        ...

    def observe(
        self, member: Member, latency_ms: float, request: ProviderRequest | None = None
    ) -> None:
        """``member`` answered ``request`` in ``latency_ms`` (a reply; a stream's first
        chunk). Told only when ``Plan.observes_latency`` (a latency balancer, sticky
        routing)."""
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

    def observe(
        self, member: Member, latency_ms: float, request: ProviderRequest | None = None
    ) -> None:
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

    def observe(
        self, member: Member, latency_ms: float, request: ProviderRequest | None = None
    ) -> None:
        return None


class LatencyBalancer:
    """Lowest decayed EWMA of latency first; never-sampled deployments first of all; a
    deployment without a sample for ``probe_after_s`` is probed by one pick in
    ``probe_every``."""

    def __init__(
        self,
        alpha: float = 0.3,
        half_life_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        probe_after_s: float = 1.0,
        probe_every: int = 20,
    ) -> None:
        self.alpha = alpha
        self.half_life_s = half_life_s
        self.clock = clock
        self.probe_after_s = probe_after_s
        self.probe_every = probe_every
        self._picks = 0  # since the last probe
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
        self._picks += 1
        if self._picks >= self.probe_every:
            probe = self._due(scored[1:], now)
            if probe is not None:
                self._picks = 0
                probe.stats.probed_at = now
                return [probe, *(m for m in scored if m is not probe)]
        best = self.score(scored[0], now)
        tied = [m for m in scored if self.score(m, now) == best]
        if len(tied) > 1:  # e.g. several never sampled: spread them by weight
            first = self._wrr.order(tied)[0]
            return [first, *(m for m in scored if m is not first)]
        return scored

    def _due(self, others: Sequence[Member], now: float) -> Member | None:
        """The member passed over longest, if it has gone ``probe_after_s`` unsampled and
        unprobed."""
        due: Member | None = None
        oldest = now - self.probe_after_s
        for m in others:
            s = m.stats
            last = max(s.sampled_at, s.probed_at)
            if s.ewma_ms is not None and last <= oldest:
                due, oldest = m, last
        return due

    def observe(
        self, member: Member, latency_ms: float, request: ProviderRequest | None = None
    ) -> None:
        s = member.stats
        now = self.clock()
        s.ewma_ms = (
            latency_ms
            if s.ewma_ms is None or now - s.sampled_at >= self.probe_after_s
            else self.alpha * latency_ms + (1 - self.alpha) * s.ewma_ms
        )
        s.sampled_at = now


def balancer(strategy: Strategy) -> Balancer:
    if strategy == "weighted":
        return WeightedBalancer()
    if strategy == "least_in_flight":
        return LeastInFlight()
    return LatencyBalancer()
