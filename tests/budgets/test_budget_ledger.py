"""The local ledger: reserve the maximum cost, then settle the real one — exact under
concurrency, per scope value, per window, with alerts, unpriced models and cut streams."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

from automatosx import BudgetExceededError, UnpricedModelError
from automatosx.budgets import parse_budgets
from automatosx.budgets._estimate import (
    DEFAULT_OUTPUT_CAP,
    MESSAGE_OVERHEAD,
    input_tokens,
    output_cap,
)
from automatosx.budgets._gate import Budgets, Reservation
from automatosx.pricing import Rates
from automatosx.schemas import ProviderRequest, TokenUsage

RATES = Rates(1e-6, 4e-6)  # $1 / $4 per million tokens


def request(text: str = "x" * 300, max_tokens: int | None = 100, **fields: str) -> ProviderRequest:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": text}], "maxTokens": max_tokens, **fields}
    )


def max_cost(req: ProviderRequest) -> float:
    n_in = input_tokens(req)
    assert n_in == 100 + MESSAGE_OVERHEAD  # 300 ASCII bytes / 3, plus the message
    return n_in * 1e-6 + 100 * 4e-6  # $0.000508


def budgets(*entries: dict[str, object], clock: list[float] | None = None, **kw: bool) -> Budgets:
    now = clock if clock is not None else [1_800_000_000.0]
    return Budgets(parse_budgets(list(entries)), clock=lambda: now[0], **kw)


async def test_500_concurrent_reservations_against_room_for_10_admit_exactly_10() -> None:
    req = request()
    room = 10 * max_cost(req) + 0.5 * max_cost(req)  # room for 10.5: 10 fit, the 11th not
    gate = budgets({"id": "cap", "limitUsd": room, "window": "day"})
    release = asyncio.Event()
    all_tried = asyncio.Event()
    started = 0
    admitted: list[Reservation] = []
    refused: list[BudgetExceededError] = []

    async def one() -> None:
        nonlocal started
        await asyncio.sleep(0)  # all 500 are scheduled before any reserves
        res = await gate.admit(req, "openai", "openai", "gpt-4o-mini", RATES)
        started += 1
        if started == 500:
            all_tried.set()
        if isinstance(res, BudgetExceededError):
            refused.append(res)
            return
        assert res is not None
        admitted.append(res)
        await release.wait()  # in flight until every request has tried
        gate.settle(res, TokenUsage(input_tokens=100, output_tokens=100))

    tasks = [asyncio.create_task(one()) for _ in range(500)]
    await all_tried.wait()
    assert (len(admitted), len(refused)) == (10, 490)
    acc = next(iter(gate.ledger.accounts.values()))
    assert acc.reserved == sum(r.nusd for r in admitted) <= acc.limit
    release.set()
    await asyncio.gather(*tasks)
    assert acc.reserved == 0
    assert acc.spent == 10 * math.ceil((100 * 1e-6 + 100 * 4e-6) * 1e9)
    assert gate.exceeded == 490
    err = refused[0]
    assert (err.budget_id, err.scope, err.unit) == ("cap", "*", "usd")
    assert err.limit == pytest.approx(room)
    assert err.resets_at is not None
    assert err.resets_at % 86_400 == 0
    assert "budget 'cap' (*) has no room" in str(err)
    assert "resets at" in str(err)


def test_settle_replaces_the_reservation_and_frees_the_difference() -> None:
    req = request()
    gate = budgets({"id": "cap", "limitUsd": 2 * max_cost(req), "window": "day"})
    first = gate.reserve(req, "openai", "openai", "m", RATES)
    second = gate.reserve(req, "openai", "openai", "m", RATES)
    assert isinstance(first, Reservation)
    assert isinstance(second, Reservation)
    assert isinstance(gate.reserve(req, "openai", "openai", "m", RATES), BudgetExceededError)
    gate.settle(first, TokenUsage(input_tokens=10, output_tokens=10))  # far below its maximum
    # $0.00005 spent + $0.000508 reserved: another maximum does not fit yet
    assert isinstance(gate.reserve(req, "openai", "openai", "m", RATES), BudgetExceededError)
    gate.release(second)  # failed before any byte: nothing charged
    third = gate.reserve(req, "openai", "openai", "m", RATES)
    assert isinstance(third, Reservation)
    acc = next(iter(gate.ledger.accounts.values()))
    assert acc.spent == 50 * 1000  # 10 x $1/M + 10 x $4/M = $0.00005
    assert acc.reserved == third.nusd


def test_per_user_scopes_have_their_own_limit_and_match_filters() -> None:
    req = request()
    gate = budgets(
        {"id": "u", "limitUsd": max_cost(req), "window": "day", "per": ["user"]},
        {"id": "big", "limitTokens": 1, "window": "day", "match": {"model": ["gpt-4o"]}},
    )
    alice = gate.reserve(request(user="alice"), "openai", "openai", "mini", RATES)
    bob = gate.reserve(request(user="bob"), "openai", "openai", "mini", RATES)
    assert isinstance(alice, Reservation)
    assert isinstance(bob, Reservation)
    again = gate.reserve(request(user="alice"), "openai", "openai", "mini", RATES)
    assert isinstance(again, BudgetExceededError)
    assert again.scope == "user=alice"
    nobody = gate.reserve(request(), "openai", "openai", "mini", RATES)
    assert isinstance(nobody, Reservation)
    assert nobody.claims[0][0].scope == "user=-"
    big = gate.reserve(request(user="carol"), "openai", "openai", "gpt-4o", RATES)
    assert isinstance(big, BudgetExceededError)
    assert (big.budget_id, big.unit, big.limit) == ("big", "tokens", 1.0)


def test_a_reject_budget_is_named_before_a_fallback_one() -> None:
    gate = budgets(
        {"id": "soft", "limitTokens": 1, "window": "day", "onExceeded": "fallback"},
        {"id": "hard", "limitTokens": 1, "window": "day"},
    )
    err = gate.reserve(request(), "openai", "openai", "m", RATES)
    assert isinstance(err, BudgetExceededError)
    assert err.budget_id == "hard"
    assert not gate.passes_over(err)
    only_soft = budgets({"id": "soft", "limitTokens": 1, "window": "day", "onExceeded": "fallback"})
    err = only_soft.reserve(request(), "openai", "openai", "m", RATES)
    assert isinstance(err, BudgetExceededError)
    assert only_soft.passes_over(err)


def test_an_unpriced_model_is_refused_under_a_usd_budget_unless_allowed() -> None:
    entry = {"id": "usd", "limitUsd": 5, "window": "day"}
    err = budgets(entry).reserve(request(), "mine", "mine", "secret-model", None)
    assert isinstance(err, UnpricedModelError)
    assert isinstance(err, BudgetExceededError)
    assert err.model == "secret-model"
    assert "unpricedModels" in str(err)
    tokens_only = budgets({"id": "tok", "limitTokens": 10_000, "window": "day"})
    assert isinstance(tokens_only.reserve(request(), "m", "m", "secret", None), Reservation)
    allowed = budgets(entry, allow_unpriced=True)
    res = allowed.reserve(request(), "mine", "mine", "secret-model", None)
    assert isinstance(res, Reservation)
    assert res.nusd == 0


def test_a_cut_stream_is_charged_its_input_and_delivered_output_never_zero() -> None:
    req = request()
    gate = budgets({"id": "cap", "limitUsd": 1, "window": "day"})
    res = gate.reserve(req, "openai", "openai", "m", RATES)
    assert isinstance(res, Reservation)
    gate.settle_cut(res, ["one two three four", " five six seven"])  # 18 + 15 chars -> 5 + 4
    acc = next(iter(gate.ledger.accounts.values()))
    assert acc.spent == math.ceil(108 * 1e3 + 9 * 4e3)  # the input estimate + 9 output tokens
    assert acc.reserved == 0


def test_the_output_cap_is_max_tokens_then_the_kind_then_the_model_then_the_default() -> None:
    assert output_cap(request(max_tokens=77), "openai", "gpt-4o") == 77
    assert output_cap(request(max_tokens=None), "claude", "claude-sonnet-4-6") == 4_096
    assert output_cap(request(max_tokens=None), "openai", "gpt-4o-mini-2024-07-18") == 16_384
    assert output_cap(request(max_tokens=None), "gemini", "gemini-2.5-flash") == 65_536
    assert output_cap(request(max_tokens=None), "mine", "unknown") == DEFAULT_OUTPUT_CAP


def test_a_new_window_starts_from_zero_and_a_late_settlement_stays_in_its_own() -> None:
    req = request()
    clock = [86_400.0 * 20_000 + 100]
    gate = budgets({"id": "d", "limitUsd": max_cost(req), "window": "day"}, clock=clock)
    gate.recording = True
    res = gate.reserve(req, "o", "o", "m", RATES)
    assert isinstance(res, Reservation)
    clock[0] += 86_400  # the next UTC day, with the first attempt still under way
    assert isinstance(gate.reserve(req, "o", "o", "m", RATES), BudgetExceededError)
    gate.settle(res, TokenUsage(input_tokens=10, output_tokens=10))
    acc = next(iter(gate.ledger.accounts.values()))
    assert acc.spent == 0
    assert acc.reserved == 0
    (record,) = gate.drain_records()
    assert record.window_start == 86_400 * 20_000
    assert record.charged_nusd == 50_000
    assert isinstance(gate.reserve(req, "o", "o", "m", RATES), Reservation)


def test_resumed_spend_counts_in_its_window() -> None:
    req = request()
    limit = 3 * max_cost(req)
    clock = [86_400.0 * 20_000 + 5]
    gate = budgets({"id": "d", "limitUsd": limit, "window": "day"}, clock=clock)
    gate.resume([("d", "*", 86_400 * 20_000, round(2.5 * max_cost(req) * 1e9), 0)])
    assert isinstance(gate.reserve(req, "o", "o", "m", RATES), BudgetExceededError)


def test_alert_at_tells_once_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = [86_400.0 * 20_000]
    gate = budgets({"id": "a", "limitTokens": 1_000, "window": "day", "alertAt": 0.5}, clock=clock)
    caplog.set_level(logging.WARNING, "automatosx.budgets")
    for _ in range(4):
        res = gate.reserve(request("hi", max_tokens=10), "o", "o", "m", RATES)
        assert isinstance(res, Reservation)
        gate.settle(res, TokenUsage(input_tokens=100, output_tokens=100))
    assert len(gate.alerts) == 1
    assert len(caplog.records) == 1
    alert = gate.alerts[0]
    assert (alert.budget_id, alert.unit, alert.spent, alert.limit) == ("a", "tokens", 600, 1000)
    assert "crossed 50% of its tokens limit" in caplog.records[0].getMessage()
    clock[0] += 86_400
    res = gate.reserve(request("hi", max_tokens=10), "o", "o", "m", RATES)
    assert isinstance(res, Reservation)
    gate.settle(res, TokenUsage(input_tokens=300, output_tokens=300))
    assert len(gate.alerts) == 2
    assert gate.alerts[1].window_start == clock[0]


def test_per_user_and_per_tenant_accounts_kept_per_route_stay_separate_and_roll() -> None:
    req_cost = max_cost(request())
    clock = [86_400.0 * 20_000 + 100]
    gate = budgets(
        {"id": "u", "limitUsd": req_cost, "window": "day", "per": ["user"]},
        {"id": "t", "limitUsd": 2 * req_cost, "window": "day", "per": ["tenant"]},
        clock=clock,
    )

    def ask(user: str, tenant: str) -> Reservation | BudgetExceededError | None:
        return gate.reserve(request(user=user, tenant=tenant), "o", "o", "m", RATES)

    first = ask("alice", "acme")
    assert isinstance(first, Reservation)
    assert sorted(a.scope for a in first.accounts) == ["tenant=acme", "user=alice"]
    again = ask("alice", "acme")  # alice's own budget is full
    assert isinstance(again, BudgetExceededError)
    assert again.scope == "user=alice"
    assert isinstance(ask("bob", "acme"), Reservation)  # bob's is not; acme is full now
    carol = ask("carol", "acme")
    assert isinstance(carol, BudgetExceededError)
    assert carol.scope == "tenant=acme"
    assert gate.ledger.accounts[("u", "user=carol")].reserved == 0  # nothing booked on a refusal
    assert isinstance(ask("carol", "other"), Reservation)
    clock[0] += 86_400  # the next UTC day: the kept accounts roll in place
    gate.settle(first, TokenUsage(input_tokens=10, output_tokens=10))
    assert isinstance(ask("alice", "acme"), Reservation)
    assert gate.ledger.accounts[("u", "user=alice")].start == 86_400 * 20_001
