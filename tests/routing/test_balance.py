"""Load balancers within a group: which deployment a request tries first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from automatosx._routing.balance import (
    LatencyBalancer,
    LeastInFlight,
    MemberStats,
    WeightedBalancer,
)


@dataclass(eq=False)
class M:
    name: str
    weight: int = 1
    stats: MemberStats = field(default_factory=MemberStats)


def test_smooth_weighted_round_robin_interleaves_by_weight() -> None:
    a, b, c = M("a", 5), M("b", 1), M("c", 1)
    wrr = WeightedBalancer()
    picks = [wrr.order([a, b, c])[0].name for _ in range(7)]
    assert picks == ["a", "a", "b", "a", "c", "a", "a"]  # nginx's smooth sequence


def test_weighted_split_is_exact_over_many_picks() -> None:
    group = [M("a", 3), M("b", 1)]
    wrr = WeightedBalancer()
    counts = Counter(wrr.order(group)[0].name for _ in range(10_000))
    assert counts == {"a": 7_500, "b": 2_500}


def test_the_order_lists_every_member_once_the_pick_first() -> None:
    group = [M("a"), M("b"), M("c")]
    order = WeightedBalancer().order(group)
    assert sorted(m.name for m in order) == ["a", "b", "c"]


def test_least_in_flight_picks_the_idlest() -> None:
    a, b = M("a"), M("b")
    a.stats.in_flight = 3
    assert LeastInFlight().order([a, b])[0] is b
    b.stats.in_flight = 5
    assert LeastInFlight().order([a, b])[0] is a


def test_latency_prefers_unsampled_then_fastest_and_decays() -> None:
    now = [0.0]
    lb = LatencyBalancer(alpha=0.5, half_life_s=10.0, clock=lambda: now[0])
    slow, fast = M("slow"), M("fast")
    lb.observe(slow, 400.0)
    assert lb.order([slow, fast])[0] is fast  # never sampled goes first
    lb.observe(fast, 20.0)
    assert lb.order([slow, fast])[0] is fast
    now[0] = 60.0  # slow's old estimate halves every 10 s: 400 -> 6.25, below fast's 20 * ...
    lb.observe(fast, 20.0)  # fast is fresh
    assert lb.order([slow, fast])[0] is slow  # the recovered one gets traffic back


def test_latency_probes_a_stale_member_with_at_most_one_pick_in_probe_every() -> None:
    now = [0.0]
    lb = LatencyBalancer(clock=lambda: now[0], probe_after_s=1.0, probe_every=20)
    fast, slow = M("fast"), M("slow")
    lb.observe(fast, 5.0)
    lb.observe(slow, 500.0)
    picks = []
    for _ in range(400):  # 4 s at 100 picks a second; only fast answers
        now[0] += 0.01
        first = lb.order([fast, slow])[0]
        picks.append(first.name)
        if first is fast:
            lb.observe(fast, 5.0)
    probes = picks.count("slow")
    assert 1 <= probes <= 400 // 20  # probed, and never more than one pick in twenty
    assert probes <= 4  # at most once per probe_after_s while the probes go unanswered
    lb.observe(slow, 4.0)  # a probe answers fast after the gap: it replaces the estimate
    assert lb.order([fast, slow])[0] is slow
