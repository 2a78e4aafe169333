"""The seams the budget, cache and sticky-routing work land on, exercised through a real
Router: an attempt guard asked before every attempt (admit with a hold, skip, reject) and
told each admitted attempt's end once; a pre-request step that answers a request or stores a
completed one; a balancer that sees the request; guards built once, never swapped."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from automatosx import Router
from automatosx._routing.before import Answer
from automatosx._routing.deployments import build_deployments
from automatosx._routing.guard import LocalGuard, local_guard
from automatosx._routing.plan import build_guards
from automatosx.errors import AutomatosxError, ConfigurationError, ServerError
from automatosx.guards import (
    Admission,
    Admit,
    AttemptEnd,
    AttemptSpec,
    DeploymentSpec,
    RejectRequest,
    SkipCandidate,
)
from automatosx.observe import Observer, RequestEnd, RequestInfo
from automatosx.schemas import ProviderRequest, ProviderResponse, RouterOptions

from .conftest import FAST, REQUEST, ScriptedProvider, sleeper


class OverBudget(AutomatosxError):
    code = "BUDGET_EXCEEDED"


class Ledger:
    """An attempt guard that reserves the token estimate and records every settlement."""

    def __init__(self, answer: dict[str, Admission] | None = None) -> None:
        self.answer = answer or {}
        self.admitted: list[tuple[str, int, int]] = []
        self.settled: list[tuple[str, Any, AttemptEnd]] = []

    async def admit(self, attempt: AttemptSpec) -> Admission:
        answer = self.answer.get(attempt.deployment)
        if answer is not None:
            return answer
        self.admitted.append((attempt.deployment, attempt.number, attempt.tokens()))
        return Admit(hold=("hold", attempt.number))

    def settle(self, attempt: AttemptSpec, hold: Any, end: AttemptEnd) -> None:
        self.settled.append((attempt.deployment, hold, end))


class Ends(Observer):
    def __init__(self) -> None:
        self.ends: list[RequestEnd] = []

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.ends.append(outcome)


def router(providers: Sequence[Any], ledger: Ledger | None = None, **opts: Any) -> Router:
    options = {"primaryProvider": "claude", "fallbackProviders": ["gemini"], **FAST, **opts}
    r = Router(options, providers, observers=[ends := Ends()])
    r.ends = ends  # type: ignore[attr-defined]
    if ledger is not None:
        r._attempt_guards.append(lambda spec: ledger)
    return r


async def test_every_attempt_is_admitted_and_settled_once_with_what_it_used() -> None:
    ledger = Ledger()
    claude = ScriptedProvider("claude", [ServerError("500", provider="claude")])
    async with router([claude, ScriptedProvider("gemini")], ledger) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "claude"
    estimate = len("hello") // 4 + 256
    assert ledger.admitted == [("claude", 1, estimate), ("claude", 2, estimate)]
    (d1, hold1, end1), (d2, hold2, end2) = ledger.settled
    assert (d1, hold1, end1.outcome, end1.before_any_byte) == (
        "claude",
        ("hold", 1),
        "failure",
        True,
    )
    assert (d2, hold2, end2.outcome) == ("claude", ("hold", 2), "success")
    assert end2.usage is not None
    assert end2.usage.total_tokens == 7


async def test_an_attempt_guard_skips_a_candidate() -> None:
    reason = ServerError("over the deployment's budget", provider="claude", code="OVER_BUDGET")
    ledger = Ledger({"claude": SkipCandidate(reason)})
    claude, gemini = ScriptedProvider("claude"), ScriptedProvider("gemini")
    async with router([claude, gemini], ledger) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "gemini"
    assert claude.requests == []
    assert [(d, end.outcome) for d, _, end in ledger.settled] == [("gemini", "success")]


async def test_an_attempt_guard_rejects_the_request_at_once_and_it_is_recorded() -> None:
    ledger = Ledger({"claude": RejectRequest(OverBudget("the tenant's budget is spent"))})
    claude, gemini = ScriptedProvider("claude"), ScriptedProvider("gemini")
    async with router([claude, gemini], ledger) as r:
        with pytest.raises(OverBudget):
            await r.execute(REQUEST)
    assert claude.requests == gemini.requests == []
    (end,) = r.ends.ends  # type: ignore[attr-defined]
    assert (end.state, end.error_code) == ("failed", "BUDGET_EXCEEDED")


async def test_a_cancelled_stream_settles_the_tokens_it_delivered() -> None:
    ledger = Ledger()
    gate = asyncio.Event()
    claude = ScriptedProvider("claude", [["Hello there", gate.wait, " never"]])
    r = router([claude, ScriptedProvider("gemini")], ledger)
    async with r, r.stream(REQUEST) as stream:
        async for chunk in stream:
            assert chunk.chunk == "Hello there"
            break
    ((dep, _, end),) = ledger.settled
    assert (dep, end.outcome, end.delivered_tokens, end.before_any_byte) == (
        "claude",
        "cancelled",
        3,
        False,
    )


async def test_a_hedge_is_admitted_by_the_chain_and_settled_when_it_loses() -> None:
    ledger = Ledger()
    claude = ScriptedProvider("claude", [sleeper(0.3)])
    hedging = {"hedging": {"afterMs": 20, "maxExtraPercent": 100}}
    async with router([claude, ScriptedProvider("gemini")], ledger, **hedging) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "gemini"
    assert sorted(d for d, _, _ in ledger.admitted) == ["claude", "gemini"]
    assert sorted((d, end.outcome) for d, _, end in ledger.settled) == [
        ("claude", "cancelled_hedge"),
        ("gemini", "success"),
    ]


class DictCache:
    """A pre-request step: an exact-match cache of completed replies."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, bool], Answer] = {}
        self.told: list[Sequence[str] | None] = []

    @staticmethod
    def key(request: ProviderRequest) -> str:
        return str(request.messages[-1].content)

    async def lookup(self, request: ProviderRequest, stream: bool) -> Answer | None:
        return self.store.get((self.key(request), stream))

    async def completed(
        self, request: ProviderRequest, response: ProviderResponse, chunks: Sequence[str] | None
    ) -> None:
        self.told.append(chunks)
        self.store[(self.key(request), chunks is not None)] = Answer(response, chunks)


async def test_a_pre_request_step_answers_execute_and_stream_after_storing_them() -> None:
    cache = DictCache()
    claude = ScriptedProvider("claude")
    r = router([claude, ScriptedProvider("gemini")])
    r._before.append(cache)
    async with r:
        first = await r.execute(REQUEST)
        again = await r.execute(REQUEST)
        texts = [c.chunk async for c in r.stream(REQUEST)]
        replayed = r.stream(REQUEST)
        replay = [c.chunk async for c in replayed]
    assert len(claude.requests) == 2  # one execute, one stream: the rest were answered
    assert again.content == first.content
    assert again.request_id != first.request_id
    assert texts == replay == ["Hello", " World", ""]
    assert replayed.response is not None
    assert replayed.response.content == "Hello World"
    assert cache.told == [None, ["Hello", " World"]]
    ends = r.ends.ends  # type: ignore[attr-defined]
    assert [(e.state, e.answered_by, e.attempts) for e in ends] == [
        ("completed", None, 1),
        ("completed", "cache", 0),
        ("completed", None, 1),
        ("completed", "cache", 0),
    ]


class Sticky:
    """A balancer that pins a request's ``user`` to a member."""

    def __init__(self) -> None:
        self.users: list[str | None] = []

    def order(self, group: Sequence[Any], request: ProviderRequest | None = None) -> list[Any]:
        user = None if request is None else request.user
        self.users.append(user)
        pick = sum(map(ord, user or "")) % len(group)
        return [group[pick], *(m for i, m in enumerate(group) if i != pick)]

    def observe(self, member: Any, latency_ms: float) -> None:
        return None


async def test_the_balancer_sees_the_request_it_orders_a_group_for() -> None:
    east = ScriptedProvider("east")
    west = ScriptedProvider("west")
    east.config = None
    options = {"primaryProvider": "east", "fallbackProviders": ["west"], **FAST}
    async with Router(options, [east, west]) as r:
        plan = r._plan
        assert plan is not None
        # one group of two: build it by hand on the open plan
        from automatosx._routing.plan import Entry, _route

        group = (r._deployments["east"], r._deployments["west"])
        plan.routes["both"] = _route([Entry("both", group, None)])  # type: ignore[index]
        sticky = Sticky()
        plan.balancers["both"] = sticky  # type: ignore[index]
        picked = {
            (await r.execute({**REQUEST, "provider": "both", "user": user})).provider
            for user in ["ann", "ann", "ann"]
        }
    assert sticky.users == ["ann", "ann", "ann"]
    assert len(picked) == 1


class Guards(Observer):
    def __init__(self) -> None:
        self.bound: Mapping[str, Any] = {}

    def bind_deployments(self, deployments: Mapping[str, Any]) -> None:
        self.bound = {name: dep.guard for name, dep in deployments.items()}


async def test_guards_are_built_once_and_observers_bind_the_ones_requests_use() -> None:
    built: list[DeploymentSpec] = []

    def factory(spec: DeploymentSpec) -> LocalGuard:
        built.append(spec)
        return local_guard(spec)

    options = RouterOptions.model_validate({"primaryProvider": "claude"})
    deployments = build_deployments([ScriptedProvider("claude")], options)
    build_guards(deployments, factory)
    assert [s.name for s in built] == ["claude"]
    with pytest.raises(ConfigurationError, match="already built"):
        build_guards(deployments, factory)
    seen = Guards()
    async with Router(
        {"primaryProvider": "claude"}, [ScriptedProvider("claude")], observers=[seen]
    ) as r:
        await r.execute(REQUEST)
        assert seen.bound == {"claude": r._deployments["claude"].guard}
