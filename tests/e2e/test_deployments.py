"""Routing between deployments and models: several configs of one kind, groups, weights,
fallback to another model of the same deployment, per-deployment breakers, the clouds —
through the real SDKs over loopback HTTP to the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from tests.e2e.conftest import API_KEY, BASE_OPTIONS, Harness

from automatosx import AllProvidersFailedError, ConfigurationError, Router
from automatosx.emulator import EmulatorServer, Rule, Scenario, create_app

GPT = "gpt-4o"
MINI = "gpt-4o-mini"
PRICES = {
    GPT: {"inputCostPerToken": 1e-5, "outputCostPerToken": 3e-5},
    MINI: {"inputCostPerToken": 1e-7, "outputCostPerToken": 4e-7},
}


def openai(base_url: str, dep_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": dep_id,
        "apiKey": API_KEY,
        "baseUrl": base_url,
        "timeout": 5_000,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": [GPT, MINI],
        "defaultModel": GPT,
        "prices": PRICES,
        **fields,
    }


def options(primary: str, *fallbacks: str, **extra: Any) -> dict[str, Any]:
    return {
        **BASE_OPTIONS,
        "primaryProvider": primary,
        "fallbackProviders": list(fallbacks),
        **extra,
    }


REQUEST = {"messages": [{"role": "user", "content": "Hello there"}]}


@pytest.fixture
def second() -> Iterator[EmulatorServer]:
    """A second emulator, so one deployment can misbehave while another of its kind does not."""
    with EmulatorServer(Scenario()) as server:
        yield server


async def test_weighted_split_follows_the_weights_over_ten_thousand_requests() -> None:
    # The emulator in-process (ASGI transport): the real SDK, 10,000 requests in seconds.
    base = "http://emulator.local/v1"
    configs = [
        openai(base, "openai-a", group="openai", weight=3),
        openai(base, "openai-b", group="openai", weight=1),
    ]
    served: Counter[str] = Counter()
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(Scenario())))
    async with client, Router(options("openai"), configs, http_client=client) as router:

        async def one() -> None:
            served[(await router.execute(REQUEST)).provider] += 1

        for _ in range(100):
            await asyncio.gather(*(one() for _ in range(100)))
    assert sum(served.values()) == 10_000
    assert abs(served["openai-a"] / 10_000 - 0.75) <= 0.05
    assert abs(served["openai-b"] / 10_000 - 0.25) <= 0.05


async def test_fallback_to_another_model_of_the_same_deployment_is_priced_as_that_model(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, status=500))
    configs = [openai(e2e.emulator.openai_base_url, "openai")]
    async with Router(options("openai", f"openai/{MINI}"), configs, store=e2e.store_url) as r:
        reply = await r.execute(REQUEST)
    assert reply.provider == "openai"
    assert reply.model.startswith(MINI)
    usage = reply.tokens
    assert reply.cost == pytest.approx(usage.input_tokens * 1e-7 + usage.output_tokens * 4e-7)
    row = await e2e.stored(reply.request_id)
    assert [(a.provider, a.model, a.outcome) for a in row.attempts] == [
        ("openai", GPT, "failure"),
        ("openai", MINI, "success"),
    ]


async def test_a_failing_deployments_breaker_opens_while_its_group_keeps_serving(
    e2e: Harness, second: EmulatorServer
) -> None:
    second.app.state.scenario = Scenario([Rule(provider="openai", status=500)])
    configs = [
        openai(second.openai_base_url, "openai-bad", group="openai"),
        openai(e2e.emulator.openai_base_url, "openai-good", group="openai"),
    ]
    opts = options("openai", circuitBreakerThreshold=2, circuitBreakerTimeout=60_000)
    async with Router(opts, configs, store=e2e.store_url) as router:
        replies = [await router.execute(REQUEST) for _ in range(20)]
        assert router.breaker_state("openai-bad") == "open"
        assert router.breaker_state("openai-good") == "closed"
    assert {r.provider for r in replies} == {"openai-good"}
    assert second.app.state.scenario.count("openai") == 2  # then the open breaker skips it
    rows = e2e.rows("SELECT provider, outcome FROM provider_attempts")
    assert Counter((r["provider"], r["outcome"]) for r in rows) == {
        ("openai-bad", "failure"): 2,
        ("openai-good", "success"): 20,
    }


async def test_two_keys_of_one_provider_share_the_load_and_a_bad_key_falls_back(
    e2e: Harness,
) -> None:
    e2e.scenario.api_keys = frozenset(
        {"sk-key-one-0123456789abcdef", "sk-key-two-0123456789abcdef"}
    )
    base = e2e.emulator.openai_base_url
    configs = [
        openai(base, "key-1", group="openai", apiKey="sk-key-one-0123456789abcdef"),
        openai(base, "key-2", group="openai", apiKey="sk-key-two-0123456789abcdef"),
        openai(base, "key-revoked", apiKey="sk-revoked-0123456789abcdefg"),
    ]
    async with Router(options("openai"), configs) as router:
        served = Counter([(await router.execute(REQUEST)).provider for _ in range(10)])
    assert served == {"key-1": 5, "key-2": 5}
    async with Router(options("key-revoked", "openai"), configs) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider in {"key-1", "key-2"}


async def test_every_attempt_names_its_deployment_and_model_when_all_fail(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="openai", status=503))
    configs = [openai(e2e.emulator.openai_base_url, "openai-eu", group="openai")]
    async with Router(options("openai", f"openai-eu/{MINI}"), configs) as router:
        with pytest.raises(AllProvidersFailedError) as info:
            await router.execute(REQUEST)
    assert [(a.provider, a.model) for a in info.value.attempts] == [
        ("openai-eu", GPT),
        ("openai-eu", MINI),
    ]


async def test_least_in_flight_steers_away_from_a_slow_deployment(
    e2e: Harness, second: EmulatorServer
) -> None:
    second.app.state.scenario = Scenario([Rule(provider="openai", latency=0.3)])
    configs = [
        openai(second.openai_base_url, "slow", group="openai"),
        openai(e2e.emulator.openai_base_url, "fast", group="openai"),
    ]
    async with Router(options("openai", loadBalancing="least_in_flight"), configs) as router:

        async def one() -> str:
            return (await router.execute(REQUEST)).provider

        tasks = []
        for _ in range(40):  # a steady trickle: the slow one stays busy
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(0.01)
        busy = Counter(await asyncio.gather(*tasks))
        assert busy["fast"] > 3 * busy["slow"]
        second.app.state.scenario = Scenario()  # it recovers
        recovered = Counter([await one() for _ in range(10)])
    assert recovered["slow"] >= 3  # idle again: it gets its share back


async def test_latency_balancing_moves_to_the_faster_deployment_and_back(
    e2e: Harness, second: EmulatorServer
) -> None:
    second.app.state.scenario = Scenario([Rule(provider="openai", latency=0.15)])
    configs = [
        openai(second.openai_base_url, "slow", group="openai"),
        openai(e2e.emulator.openai_base_url, "fast", group="openai"),
    ]
    async with Router(options("openai", loadBalancing="latency"), configs) as router:
        balancer = router._plan.balancers["openai"]  # type: ignore[union-attr]
        now = [0.0]
        balancer.clock = lambda: now[0]  # type: ignore[attr-defined]
        first = Counter([(await router.execute(REQUEST)).provider for _ in range(12)])
        assert first["fast"] >= 10  # each is tried once, then the faster one is kept
        second.app.state.scenario = Scenario()  # it recovers ...
        now[0] += 600.0  # ... and, as time passes, the old estimate decays
        later = Counter([(await router.execute(REQUEST)).provider for _ in range(6)])
    assert later["slow"] >= 1


async def test_azure_openai_through_the_azure_client(e2e: Harness) -> None:
    config = {
        "name": "openai",
        "id": "azure-eastus",
        "apiKey": API_KEY,
        "azureEndpoint": e2e.emulator.azure_endpoint,
        "apiVersion": "2024-10-21",
        "rateLimits": {"requestsPerMinute": 1_000},
        "models": ["my-gpt4o-deployment"],
        "defaultModel": "my-gpt4o-deployment",
    }
    async with Router(options("azure-eastus"), [config], store=e2e.store_url) as router:
        reply = await router.execute(REQUEST)
        text = await router.stream(REQUEST).text()
    assert reply.provider == "azure-eastus"
    assert reply.content
    assert text
    assert reply.cost is None  # an unknown model costs None, never a crash


async def test_gemini_on_vertex_ai_in_api_key_mode(e2e: Harness) -> None:
    config = {
        "name": "gemini",
        "id": "vertex",
        "apiKey": API_KEY,
        "vertex": True,
        "baseUrl": e2e.emulator.vertex_base_url,
        "rateLimits": {"requestsPerMinute": 1_000},
        "models": ["gemini-2.5-flash"],
        "defaultModel": "gemini-2.5-flash",
    }
    async with Router(options("vertex"), [config]) as router:
        reply = await router.execute(REQUEST)
        text = await router.stream(REQUEST).text()
    assert reply.provider == "vertex"
    assert reply.content
    assert text


async def test_bad_references_fail_at_open_naming_the_entry(e2e: Harness) -> None:
    base = e2e.emulator.openai_base_url
    with pytest.raises(ConfigurationError, match=r"nope.*configured groups: openai"):
        await Router(options("openai", "nope"), [openai(base, "openai")]).open()
    with pytest.raises(ConfigurationError, match=r"'twin' is configured twice"):
        await Router(options("twin"), [openai(base, "twin"), openai(base, "twin")]).open()
    with pytest.raises(ConfigurationError, match=r"ghost/gpt-4o"):
        await Router(options("openai", "ghost/gpt-4o"), [openai(base, "openai")]).open()


async def test_hedging_wins_on_a_late_reply_and_keeps_to_its_budget(
    e2e: Harness, second: EmulatorServer
) -> None:
    # The primary's 11th and 12th replies are 3 s late; the budget (10% of recent requests)
    # has room for the first hedge only.
    second.app.state.scenario = Scenario([Rule(provider="openai", requests=(11, 12), latency=3.0)])
    configs = [
        openai(second.openai_base_url, "primary"),
        openai(e2e.emulator.openai_base_url, "backup"),
    ]
    hedged = options("primary", "backup", hedging={"afterMs": 200, "maxExtraPercent": 10})
    async with Router(hedged, configs, store=e2e.store_url) as router:
        warm = [await router.execute(REQUEST) for _ in range(10)]
        late = await router.execute(REQUEST)
        waited = await router.execute(REQUEST)  # no budget left: it waits for the primary
    assert {r.provider for r in warm} == {"primary"}
    assert late.provider == "backup"
    assert waited.provider == "primary"
    row = await e2e.stored(late.request_id)
    assert sorted((a.provider, a.outcome) for a in row.attempts) == [
        ("backup", "success"),
        ("primary", "cancelled_hedge"),
    ]
    assert e2e.scenario.count("openai") == 1  # one extra request in twelve
