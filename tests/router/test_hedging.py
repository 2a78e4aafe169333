"""Hedged requests: a slow first attempt gets a parallel second one; the first to answer wins,
the loser is cancelled and recorded as ``cancelled_hedge``; a budget caps the extra load."""

from __future__ import annotations

import asyncio
from typing import Any

from automatosx import Router
from automatosx.errors import ServerError
from automatosx.observe import AttemptInfo, Observer, RequestInfo

from .conftest import ScriptedProvider

REQUEST = {"messages": [{"role": "user", "content": "hi"}]}


class Attempts(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.seen.append((attempt.provider, attempt.outcome))


def slow(seconds: float) -> Any:
    async def wait() -> None:
        await asyncio.sleep(seconds)

    return wait


def options(**hedging: Any) -> dict[str, Any]:
    return {
        "primaryProvider": "claude",
        "fallbackProviders": ["gemini"],
        "hedging": {"afterMs": 30, **hedging},
    }


async def test_a_slow_first_attempt_is_hedged_and_the_faster_one_wins() -> None:
    log = Attempts()
    claude = ScriptedProvider("claude", [slow(2.0)])
    gemini = ScriptedProvider("gemini")
    async with Router(options(maxExtraPercent=100), [claude, gemini], observers=[log]) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "gemini"
    assert sorted(log.seen) == [("claude", "cancelled_hedge"), ("gemini", "success")]


async def test_a_fast_first_attempt_is_not_hedged() -> None:
    log = Attempts()
    gemini = ScriptedProvider("gemini")
    async with Router(
        options(maxExtraPercent=100), [ScriptedProvider("claude"), gemini], observers=[log]
    ) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "claude"
    assert gemini.requests == []
    assert log.seen == [("claude", "success")]


async def test_the_first_attempt_wins_when_the_hedge_is_slower() -> None:
    log = Attempts()
    claude = ScriptedProvider("claude", [slow(0.1)])
    gemini = ScriptedProvider("gemini", [slow(2.0)])
    async with Router(options(maxExtraPercent=100), [claude, gemini], observers=[log]) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "claude"
    assert sorted(log.seen) == [("claude", "success"), ("gemini", "cancelled_hedge")]


async def test_when_both_fail_the_policy_decides_on_the_first_error() -> None:
    log = Attempts()

    async def fail_late() -> None:
        await asyncio.sleep(0.1)
        raise ServerError("late 500", provider="claude", status_code=500)

    claude = ScriptedProvider("claude", [fail_late])
    claude.max_retries = 0
    gemini = ScriptedProvider("gemini", [ServerError("500", provider="gemini", status_code=500)])
    async with Router(options(maxExtraPercent=100), [claude, gemini], observers=[log]) as r:
        reply = await r.execute(REQUEST)  # falls back to gemini, whose script is used up
    assert reply.provider == "gemini"
    assert ("gemini", "failure") in log.seen
    assert ("claude", "failure") in log.seen


async def test_the_budget_caps_extra_requests() -> None:
    claude = ScriptedProvider("claude", [slow(0.08)] * 40)
    gemini = ScriptedProvider("gemini", [slow(1.0)] * 40)
    async with Router(options(maxExtraPercent=10), [claude, gemini]) as r:
        for _ in range(40):
            reply = await r.execute(REQUEST)
            assert reply.provider == "claude"
    assert 1 <= len(gemini.requests) <= 4  # 10% of 40, and never more


async def test_the_lost_race_is_recorded_as_cancelled_hedge(tmp_path: Any) -> None:
    from automatosx.store import open_store

    url = f"sqlite:///{tmp_path / 'r.db'}"
    claude = ScriptedProvider("claude", [slow(2.0)])
    async with Router(
        options(maxExtraPercent=100), [claude, ScriptedProvider("gemini")], store=url
    ) as r:
        reply = await r.execute(REQUEST)
    async with open_store(url) as store:
        row = await store.get_request(reply.request_id)
        metrics = {m.provider: m for m in await store.get_provider_metrics()}
    assert row is not None
    assert row.request.state == "completed"
    assert sorted((a.provider, a.outcome) for a in row.attempts) == [
        ("claude", "cancelled_hedge"),
        ("gemini", "success"),
    ]
    assert (metrics["claude"].request_count, metrics["claude"].failure_count) == (1, 0)


class CountingGuard:
    """A deployment guard that counts admissions and how each one ended."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.admitted = 0
        self.ended = 0

    async def admit(self, tokens: Any, patience_ms: int) -> Any:
        skip = await self.inner.admit(tokens, patience_ms)
        if skip is None:
            self.admitted += 1
        return skip

    def succeeded(self, estimate: int, used: int) -> None:
        self.ended += 1
        self.inner.succeeded(estimate, used)

    def failed(self, counts: bool, retry_after_ms: int | None, cools: bool) -> None:
        self.ended += 1
        self.inner.failed(counts, retry_after_ms, cools)

    def released(self) -> None:
        self.ended += 1
        self.inner.released()

    @property
    def breaker_state(self) -> str | None:
        return self.inner.breaker_state  # type: ignore[no-any-return]


async def test_cancelling_callers_mid_hedge_200_times_leaks_nothing(
    monkeypatch: Any, tmp_path: Any
) -> None:
    # Issue 19 item 5: each caller is cancelled once its hedge is under way (both legs
    # waiting on their provider). Afterwards both deployments read 0 in flight, every
    # admission was ended (released), and each request recorded its hedge attempt.
    import automatosx.router as router_module
    from automatosx._routing.guard import local_guard
    from automatosx.store import open_store

    guards: dict[str, CountingGuard] = {}

    def counting(spec: Any) -> CountingGuard:
        guards[spec.name] = CountingGuard(local_guard(spec))
        return guards[spec.name]

    monkeypatch.setattr(router_module, "local_guard", counting)
    hedge_started = asyncio.Event()
    forever = asyncio.Event()

    async def first_leg() -> None:
        await forever.wait()

    async def hedge_leg() -> None:
        hedge_started.set()
        await forever.wait()

    rounds = 200
    # each round: a quick request (not hedged) then the hedged one, so the hedging budget
    # (extra requests at most 100% of recent ones) always allows the hedge
    claude = ScriptedProvider("claude", [None, first_leg] * rounds)
    gemini = ScriptedProvider("gemini", [hedge_leg] * rounds)
    db = f"sqlite:///{tmp_path / 'h.db'}"
    ids = []
    async with Router(options(maxExtraPercent=100), [claude, gemini], store=db) as r:
        for i in range(rounds):
            await r.execute(REQUEST)
            hedge_started.clear()
            req = {**REQUEST, "requestId": f"00000000-0000-4000-8000-{i:012d}"}
            ids.append(req["requestId"])
            task = asyncio.create_task(r.execute(req))
            await hedge_started.wait()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        stats = {name: dep.stats.in_flight for name, dep in r._deployments.items()}
    assert stats == {"claude": 0, "gemini": 0}
    assert {n: (g.admitted, g.ended) for n, g in guards.items()} == {
        "claude": (2 * rounds, 2 * rounds),
        "gemini": (rounds, rounds),
    }
    async with open_store(db) as store:
        rows = [await store.get_request(rid) for rid in ids]
    assert all(row is not None for row in rows)
    recorded = [sorted((a.provider, a.error_code) for a in row.attempts) for row in rows if row]
    assert recorded == [[("claude", "CANCELLED"), ("gemini", "CANCELLED")]] * rounds
    assert {(row.request.state, row.request.error_code) for row in rows if row} == {
        ("failed", "CANCELLED")
    }
