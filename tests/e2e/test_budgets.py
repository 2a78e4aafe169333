"""Budgets through the real SDK against the emulator: reserved before each attempt, settled
after, never bypassed — by concurrency, per-user scopes, a fallback to a cheaper model, a
stream the caller cancels, a stream restart, a hedge — and recorded per attempt."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import API_KEY, BASE_OPTIONS, Harness

from automatosx import BudgetExceededError, ProviderResponse, Router, UnpricedModelError
from automatosx.emulator import EmulatorServer, Rule, Scenario

MINI, BIG = "gpt-4o-mini", "gpt-4o"
# Output-priced so that an attempt's maximum cost (its reservation) and its real cost are
# within 0.02% of each other: the emulator's reply is longer than maxTokens, cut there.
PRICES = {
    MINI: {"inputCostPerToken": 1e-9, "outputCostPerToken": 4e-6},
    BIG: {"inputCostPerToken": 1e-9, "outputCostPerToken": 1e-3},
}
TEXT = "Hello there"  # ceil(11 / 3) + 8 = 12 input tokens reserved
MAX_TOKENS = 20
CLAIM = 12 * 1e-9 + 20 * 4e-6  # the reservation of one attempt on MINI, in USD


def dep(base_url: str, dep_id: str = "east", **fields: Any) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": dep_id,
        "apiKey": API_KEY,
        "baseUrl": base_url,
        "timeout": 5_000,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": [MINI, BIG],
        "defaultModel": MINI,
        "prices": PRICES,
        **fields,
    }


def options(*budgets: dict[str, Any], primary: str = "east", **extra: Any) -> dict[str, Any]:
    return {**BASE_OPTIONS, "primaryProvider": primary, "budgets": list(budgets), **extra}


def request(e2e: Harness, **fields: Any) -> dict[str, Any]:
    return e2e.request(TEXT, maxTokens=MAX_TOKENS, **fields)


def spend_rows(e2e: Harness, request_id: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE request_id = ?", (request_id,)) if request_id else ("", ())
    return e2e.rows(f"SELECT * FROM budget_spend {where} ORDER BY id", params)


def nusd(usd: float) -> int:
    return math.ceil(round(usd * 1e9, 3))


async def test_300_concurrent_requests_against_room_for_40_spend_at_most_the_cap(
    e2e: Harness,
) -> None:
    limit = 40.5 * CLAIM
    cap = {"id": "cap", "limitUsd": limit, "window": "day"}
    async with Router(options(cap), [dep(e2e.base_url("openai"))], store=e2e.store_url) as r:
        results = await asyncio.gather(
            *(r.execute(request(e2e)) for _ in range(300)), return_exceptions=True
        )
    served = [x for x in results if isinstance(x, ProviderResponse)]
    refused = [x for x in results if isinstance(x, BudgetExceededError)]
    assert len(served) + len(refused) == 300, [x for x in results if isinstance(x, Exception)][:3]
    assert len(served) == 40
    assert e2e.count("openai") == 40  # a refused request made no HTTP call
    charged = sum(x.cost or 0 for x in served)
    assert charged <= limit
    assert charged >= 0.9 * limit
    assert refused[0].budget_id == "cap"
    rows = spend_rows(e2e)
    assert len(rows) == 40
    assert sum(row["charged_nusd"] for row in rows) == sum(nusd(x.cost or 0) for x in served)
    failed = e2e.rows(
        "SELECT COUNT(*) AS n FROM provider_requests WHERE error_code = ?", ("BUDGET_EXCEEDED",)
    )
    assert failed[0]["n"] == 260  # every refused request recorded failed


async def test_each_user_has_their_own_cap(e2e: Harness) -> None:
    per_user = {"id": "per-user", "limitUsd": 2.5 * CLAIM, "window": "day", "per": ["user"]}
    async with Router(options(per_user), [dep(e2e.base_url("openai"))]) as r:
        for _ in range(2):
            await r.execute(request(e2e, user="alice"))
        with pytest.raises(BudgetExceededError) as info:
            await r.execute(request(e2e, user="alice"))
        for _ in range(2):
            await r.execute(request(e2e, user="bob"))
    assert (info.value.budget_id, info.value.scope) == ("per-user", "user=alice")
    assert info.value.resets_at is not None
    assert e2e.count("openai") == 4


async def test_fallback_budget_passes_the_expensive_model_over_for_a_cheaper_one(
    e2e: Harness,
) -> None:
    big_model = {
        "id": "gpt-4o",
        "limitUsd": 0.001,  # one gpt-4o attempt may cost 20 x $0.001
        "window": "day",
        "match": {"model": [BIG]},
        "onExceeded": "fallback",
    }
    opts = options(big_model, fallbackProviders=[f"east/{MINI}"])
    async with Router(opts, [dep(e2e.base_url("openai"), defaultModel=BIG)]) as r:
        response = await r.execute(request(e2e))
    assert (response.provider, response.model) == ("east", MINI)
    assert e2e.count("openai") == 1  # gpt-4o was never asked


async def test_when_no_candidate_fits_the_budget_error_is_raised(e2e: Harness) -> None:
    tiny = {"id": "tiny", "limitUsd": 0.00001, "window": "day", "onExceeded": "fallback"}
    opts = options(tiny, fallbackProviders=[f"east/{MINI}"])
    async with Router(opts, [dep(e2e.base_url("openai"), defaultModel=BIG)]) as r:
        with pytest.raises(BudgetExceededError, match="budget 'tiny'"):
            await r.execute(request(e2e))
    assert e2e.count("openai") == 0


async def test_a_stream_the_caller_cancels_mid_reply_is_charged_what_was_delivered(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="openai", chunk_latency=0.05))
    cap = {"id": "cap", "limitUsd": 1, "window": "day"}
    req = request(e2e)
    async with Router(options(cap), [dep(e2e.base_url("openai"))], store=e2e.store_url) as r:
        delivered: list[str] = []
        async with r.stream(req) as stream:
            async for chunk in stream:
                delivered.append(chunk.chunk)
                if len(delivered) == 2:
                    break
    (row,) = spend_rows(e2e, req["requestId"])
    out_tokens = math.ceil(len("".join(delivered)) / 4)
    assert row["charged_nusd"] == nusd(12 * 1e-9 + out_tokens * 4e-6) > 0
    assert row["charged_nusd"] < row["reserved_nusd"]


async def test_a_restarted_stream_is_charged_for_both_attempts(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, cut_after=2))
    cap = {"id": "cap", "limitUsd": 1, "window": "day"}
    req = request(e2e)
    async with Router(
        options(cap), [dep(e2e.base_url("openai"), maxRetries=1)], store=e2e.store_url
    ) as r:
        stream = r.stream(req)
        chunks = [chunk async for chunk in stream]
    assert any(c.restart for c in chunks)
    first, second = spend_rows(e2e, req["requestId"])
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["charged_nusd"] > 0  # the cut attempt: input + its delivered chunks
    assert stream.response is not None
    assert stream.response.cost is not None
    assert second["charged_nusd"] == nusd(stream.response.cost)  # the response's own cost


@pytest.fixture
def second() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


async def test_a_hedged_request_is_charged_for_both_attempts(
    e2e: Harness, second: EmulatorServer
) -> None:
    second.app.state.scenario = Scenario([Rule(provider="openai", request=2, latency=2.0)])
    cap = {"id": "cap", "limitUsd": 1, "window": "day"}
    opts = options(
        cap,
        primary="primary",
        fallbackProviders=["backup"],
        hedging={"afterMs": 100, "maxExtraPercent": 100},
    )
    configs = [dep(second.openai_base_url, "primary"), dep(e2e.base_url("openai"), "backup")]
    async with Router(opts, configs, store=e2e.store_url) as r:
        await r.execute(request(e2e))  # the hedge budget: 100% of one request
        req = request(e2e)
        response = await r.execute(req)
    assert response.provider == "backup"
    rows = spend_rows(e2e, req["requestId"])
    assert len(rows) == 2
    by_attempt = {row["attempt"]: row["charged_nusd"] for row in rows}
    assert all(charged > 0 for charged in by_attempt.values())  # the loser was sent: billed
    assert nusd(response.cost or 0) in by_attempt.values()


async def test_the_budget_gauges_and_the_exceeded_counter_reach_prometheus(e2e: Harness) -> None:
    from prometheus_client import CollectorRegistry

    from automatosx.telemetry.prometheus import PrometheusObserver

    registry = CollectorRegistry()
    per_user = {"id": "per-user", "limitUsd": 1.5 * CLAIM, "window": "day", "per": ["user"]}
    async with Router(
        options(per_user),
        [dep(e2e.base_url("openai"))],
        telemetry=PrometheusObserver(registry),
    ) as r:
        response = await r.execute(request(e2e, user="alice"))
        with pytest.raises(BudgetExceededError):
            await r.execute(request(e2e, user="alice"))
        labels = {
            "automatosx_budget_id": "per-user",
            "automatosx_budget_scope": "user=alice",
            "automatosx_budget_unit": "usd",
        }
        spent = registry.get_sample_value("automatosx_budget_spent", labels)
        left = registry.get_sample_value("automatosx_budget_remaining", labels)
    assert spent == pytest.approx(response.cost)
    assert left == pytest.approx(1.5 * CLAIM - (response.cost or 0), abs=1e-9)
    refused = registry.get_sample_value(
        "automatosx_budget_exceeded_total",
        {
            "automatosx_budget_id": "per-user",
            "automatosx_deployment": "east",
            "error_type": "BudgetExceededError",
        },
    )
    assert refused == 1


async def test_alert_at_tells_the_observers_once_per_window(e2e: Harness) -> None:
    from automatosx import Observer
    from automatosx.observe import BudgetAlert

    class Alerts(Observer):
        def __init__(self) -> None:
            self.seen: list[BudgetAlert] = []
            self.told = asyncio.Event()

        async def budget_alert(self, alert: BudgetAlert) -> None:
            self.seen.append(alert)
            self.told.set()

    alerts = Alerts()
    cap = {"id": "cap", "limitUsd": 10 * CLAIM, "window": "day", "alertAt": 0.5}
    async with Router(options(cap), [dep(e2e.base_url("openai"))], observers=[alerts]) as r:
        for _ in range(8):
            await r.execute(request(e2e))
        await asyncio.wait_for(alerts.told.wait(), 10)  # told off the request path
    (alert,) = alerts.seen  # crossed at the 6th request (5 x 99.99% < 50% < 6 x ...), once
    assert (alert.budget_id, alert.scope, alert.unit, alert.alert_at) == ("cap", "*", "usd", 0.5)
    assert 0.5 * 10 * CLAIM <= alert.spent <= 0.7 * 10 * CLAIM
    assert alert.resets_at is not None


async def test_an_attempt_that_failed_before_any_byte_is_released_and_the_retry_charged(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, status=500))
    cap = {"id": "cap", "limitUsd": 1, "window": "day"}
    req = request(e2e)
    async with Router(
        options(cap), [dep(e2e.base_url("openai"), maxRetries=1)], store=e2e.store_url
    ) as r:
        response = await r.execute(req)
    failed, served = spend_rows(e2e, req["requestId"])
    assert (failed["attempt"], failed["charged_nusd"]) == (1, 0)  # reserved, then released
    assert failed["reserved_nusd"] > 0
    assert (served["attempt"], served["charged_nusd"]) == (2, nusd(response.cost or 0))


async def test_a_model_without_a_price_is_refused_under_a_usd_budget_unless_allowed(
    e2e: Harness,
) -> None:
    e2e.scenario.models = frozenset({"house-model"})  # the emulator serves it; nobody prices it
    cap = {"id": "cap", "limitUsd": 1, "window": "day"}
    unpriced = dep(e2e.base_url("openai"), models=["house-model"], defaultModel="house-model")
    unpriced.pop("prices")
    async with Router(options(cap), [unpriced]) as r:
        with pytest.raises(UnpricedModelError, match="'house-model' has no price") as info:
            await r.execute(request(e2e))
    assert info.value.model == "house-model"
    assert e2e.count("openai") == 0  # refused before sending
    async with Router(options(cap, unpricedModels="allow"), [unpriced]) as r:
        response = await r.execute(request(e2e))
    assert response.cost is None
    assert e2e.count("openai") == 1


async def test_the_budget_gauges_reach_opentelemetry(e2e: Harness) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from automatosx.telemetry import OTelObserver

    reader = InMemoryMetricReader()
    observer = OTelObserver(meter_provider=MeterProvider(metric_readers=[reader]))
    cap = {"id": "cap", "limitUsd": 10 * CLAIM, "window": "day"}
    async with Router(options(cap), [dep(e2e.base_url("openai"))], telemetry=observer) as r:
        response = await r.execute(request(e2e))
        data = reader.get_metrics_data()
    points = {
        metric.name: [p.value for p in metric.data.data_points]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.startswith("automatosx.budget.")
    }
    assert points["automatosx.budget.spent"] == [pytest.approx(response.cost)]
    assert points["automatosx.budget.remaining"] == [
        pytest.approx(10 * CLAIM - (response.cost or 0), abs=1e-9)
    ]
