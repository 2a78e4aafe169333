"""The fast path of a reservation (``budgets/_book.py``) books and settles exactly what the
general path does: two routers' budgets, one with the fast path and one forced through the
general path, run the same seeded sequence of reservations and settlements (successes,
releases, cut streams; windows rolling between a reservation and its settlement; refusals;
leases running short) and must agree at every step on each answer, each claim, every
account, every alert and every spend record."""

from __future__ import annotations

import random
from typing import Any

import pytest

from automatosx import BudgetExceededError
from automatosx.budgets import parse_budgets
from automatosx.budgets._gate import Budgets, Reservation
from automatosx.budgets._routes import Group
from automatosx.pricing import Rates
from automatosx.schemas import ProviderRequest, TokenUsage

RATES = Rates(1e-6, 4e-6)
DAY = 86_400.0
SPECS: list[dict[str, Any]] = [
    {"id": "daily", "limitUsd": 0.3, "window": "day"},
    {"id": "per-user", "limitTokens": 300_000, "window": "month", "per": ["user"]},
    {"id": "tenant", "limitUsd": 0.1, "limitTokens": 90_000, "window": "hour", "per": ["tenant"]},
]


def gate(clock: list[float], leased: bool, recording: bool, alerting: bool, both: bool) -> Budgets:
    specs = [dict(SPECS[0], alertAt=0.5) if alerting else SPECS[0], *SPECS[1 : 3 if both else 2]]
    budgets = Budgets(parse_budgets(specs), clock=lambda: clock[0], price=lambda dep, model: RATES)
    budgets.recording = recording
    budgets.ledger.leased = leased
    return budgets


def general_only(budgets: Budgets) -> None:
    """Every kept group of ``budgets`` takes the general path."""
    for routes in budgets._routes.values():
        for route in routes.values():
            kept = route.kept
            for group in [kept] if isinstance(kept, Group) else kept.values():
                group.fast = False


@pytest.fixture
def slow_groups(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """While its flag is set, every group made (a route's first request, a user's) is the
    general path's."""
    flag = [False]
    made = Group.__init__

    def init(self: Group, counters: Any) -> None:
        made(self, counters)
        if flag[0]:
            self.fast = False

    monkeypatch.setattr(Group, "__init__", init)
    return flag


def leases(budgets: Budgets, rng: random.Random) -> None:
    """Top up some leases of a leased ledger by a few claims (the same in both)."""
    for _, acc in sorted(budgets.ledger.accounts.items()):
        if rng.random() < 0.2:
            acc.lease += rng.randrange(0, 20_000_000)
            acc.lease_tokens += rng.randrange(0, 8_000)


def state(budgets: Budgets) -> list[tuple[Any, ...]]:
    return [
        (
            key,
            acc.start,
            acc.spent,
            acc.reserved,
            acc.spent_tokens,
            acc.reserved_tokens,
            acc.lease,
            acc.lease_tokens,
            acc.unreported,
            acc.unreported_tokens,
            acc.uses,
            acc.wanted,
            acc.alerted,
        )
        for key, acc in sorted(budgets.ledger.accounts.items())
    ]


def claims(res: object) -> object:
    if isinstance(res, Reservation):
        return [(acc.key, n, t, start) for acc, n, t, start in res.claims]
    if isinstance(res, BudgetExceededError):
        return (type(res).__name__, res.budget_id, res.scope)
    return res


def records(budgets: Budgets) -> list[tuple[Any, ...]]:
    return [
        (
            r.request_id,
            r.attempt,
            r.budget_id,
            r.scope,
            r.window_start,
            r.reserved_nusd,
            r.charged_nusd,
            r.reserved_tokens,
            r.charged_tokens,
        )
        for r in budgets.drain_records()
    ]


@pytest.mark.parametrize(
    ("leased", "recording", "alerting", "both"),
    [
        (False, False, False, False),  # a success settles inline (Reservation.end)
        (True, False, False, False),
        (False, False, False, True),  # Budgets.charge's fast path
        (True, False, False, True),
        (False, True, True, True),  # recorded, alerting: the general settlement
        (True, True, False, False),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_the_fast_path_books_and_settles_exactly_as_the_general_path(
    seed: int, leased: bool, recording: bool, alerting: bool, both: bool, slow_groups: list[bool]
) -> None:
    rng = random.Random(seed)
    clock = [DAY * 20_000 + 3_000]
    fast = gate(clock, leased, recording, alerting, both)
    general = gate(clock, leased, recording, alerting, both)
    refused = 0
    open_: list[tuple[Reservation, Reservation]] = []
    fast_answers = 0
    for step in range(600):
        if rng.random() < 0.55 or not open_:
            text = "x" * rng.randrange(1, 2_000)
            req = ProviderRequest.model_validate(
                {
                    "messages": [{"role": "user", "content": text}],
                    "maxTokens": rng.randrange(1, 2_000),
                    "user": rng.choice(["alice", "bob", None]),
                    "tenant": rng.choice(["acme", "zed"]),
                }
            )
            a = fast.reserve(req, "openai", "openai", "gpt-4o-mini", attempt=step)
            slow_groups[0] = True
            b = general.reserve(req, "openai", "openai", "gpt-4o-mini", attempt=step)
            slow_groups[0] = False
            assert claims(a) == claims(b), step
            refused += isinstance(a, BudgetExceededError)
            if isinstance(a, Reservation):
                assert isinstance(b, Reservation)
                assert b.group is None  # the general path's
                fast_answers += a.group is not None
                open_.append((a, b))
        else:
            a, b = open_.pop(rng.randrange(len(open_)))
            how = rng.random()
            if how < 0.6:
                usage = TokenUsage(
                    input_tokens=rng.randrange(0, 800), output_tokens=rng.randrange(0, 2_000)
                )
                a.end("success", usage, 0, False)
                b.end("success", usage, 0, False)
            elif how < 0.8:
                a.end("failure", None, 0, True)
                b.end("failure", None, 0, True)
            else:
                delivered = rng.randrange(1, 300)
                a.end("cancelled", None, delivered, False)
                b.end("cancelled", None, delivered, False)
            a.end("success", TokenUsage(input_tokens=1, output_tokens=1), 0, False)  # no-op
        if leased:
            leases(fast, random.Random(step))
            leases(general, random.Random(step))
        if rng.random() < 0.02:
            clock[0] += rng.choice([600.0, 3_600.0, DAY, 31 * DAY])
        assert state(fast) == state(general), step
        assert records(fast) == records(general), step
        assert [(x.budget_id, x.scope, x.window_start) for x in fast.alerts] == [
            (x.budget_id, x.scope, x.window_start) for x in general.alerts
        ]
    assert fast_answers > 100  # the fast path did answer (most reservations)
    assert refused > 5  # and the limits were reached


WALKED = [
    {"messages": [{"role": "user", "content": "plain ASCII"}]},
    {
        "messages": [
            {"role": "system", "content": "héllo wörld ✓"},
            {"role": "user", "content": "ok"},
        ]
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe ✓ this"},
                    {"type": "image", "url": "https://example.com/a.png"},
                    {"type": "image", "url": "https://example.com/b.png"},
                ],
            }
        ],
        "maxTokens": 50,
    },
    {
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "",
                "toolCalls": [{"id": "c1", "name": "weather", "arguments": {"city": "Zürich"}}],
            },
            {"role": "tool", "content": "sunny", "toolCallId": "c1"},
        ]
    },
]


@pytest.mark.parametrize("fields", WALKED)
def test_the_routers_one_walk_gives_both_estimates(fields: dict[str, Any]) -> None:
    """The router walks a request's messages once (``prompt_estimate``): its own estimate,
    and what a budget's input estimate needs, which ``reserve_now`` turns into exactly
    ``input_tokens``."""
    from automatosx._routing.estimate import prompt_estimate, prompt_walk, token_estimate
    from automatosx.budgets._estimate import input_tokens

    req = ProviderRequest.model_validate(fields)
    assert prompt_estimate(req) == token_estimate(req)
    walk = prompt_walk(req)
    assert prompt_walk(req) is walk  # kept: not walked again
    clock = [DAY * 20_000]
    budgets = Budgets(
        parse_budgets([{"id": "t", "limitTokens": 10**9, "window": "day"}]),
        clock=lambda: clock[0],
        price=lambda dep, model: RATES,
    )
    res = budgets.reserve_now("openai", "openai", "gpt-4o-mini", req, 1, walk)
    assert isinstance(res, Reservation)
    assert res.n_in == input_tokens(req) > 0
