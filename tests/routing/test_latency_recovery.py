"""The latency balancer looks back (issue 19, item 12): a deployment that was slow once gets
its traffic back within seconds of recovering, in real time (no clock jumps), through the
real SDKs over real HTTP to the emulator. Ids like ``east`` and ``west``, no price overrides."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from automatosx import Router
from automatosx.emulator import EmulatorServer, Rule, Scenario

KEY = "sk-test-latency-0123456789abcdef"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


def deployments(emulator: EmulatorServer) -> list[dict[str, Any]]:
    common: dict[str, Any] = {
        "apiKey": KEY,
        "group": "us",
        "maxRetries": 0,
        "timeout": 10_000,
        "rateLimits": {"requestsPerMinute": 1_000_000},
    }
    east = {
        **common,
        "name": "openai",
        "id": "east",
        "baseUrl": emulator.openai_base_url,
        "models": ["gpt-4o-mini"],
        "defaultModel": "gpt-4o-mini",
    }
    west = {
        **common,
        "name": "claude",
        "id": "west",
        "baseUrl": emulator.anthropic_base_url,
        "models": ["claude-sonnet-4-6"],
        "defaultModel": "claude-sonnet-4-6",
    }
    return [east, west]


REQUEST = {"messages": [{"role": "user", "content": "Hello"}]}


async def share_of_east(router: Router, emulator: EmulatorServer, calls: int) -> float:
    """Send ``calls`` requests one after another; the share that went to ``east``."""
    before = emulator.scenario.count("openai")
    for _ in range(calls):
        await router.execute(REQUEST)
    return (emulator.scenario.count("openai") - before) / calls


async def test_a_deployment_slow_once_gets_its_traffic_back_within_seconds(
    emulator: EmulatorServer,
) -> None:
    emulator.app.state.scenario = Scenario()
    options = {"primaryProvider": "us", "loadBalancing": "latency"}
    # West answers in 60 ms throughout; east in a few ms, except for one 500 ms spike.
    emulator.scenario.add(Rule(provider="claude", latency=0.06))
    async with Router(options, deployments(emulator), store=None) as router:
        assert await share_of_east(router, emulator, 10) >= 0.8  # east is the fast one
        spike = Rule(provider="openai", latency=0.5)
        emulator.scenario.add(spike)
        sent = emulator.scenario.count("openai")
        await router.execute(REQUEST)
        assert emulator.scenario.count("openai") == sent + 1  # east was sampled slow once
        emulator.scenario.remove(spike)
        loop = asyncio.get_running_loop()
        recovered_at = loop.time()
        share = 0.0
        while share < 0.8 and loop.time() - recovered_at < 5:
            share = await share_of_east(router, emulator, 10)
        # Without a probe, east's ~150 ms estimate decays below west's 60 ms only after
        # ~40 s (half-life 30 s), with 0% of the traffic meanwhile.
        assert share >= 0.8, f"east had {share:.0%} of the traffic 5 s after it recovered"


async def test_latency_balancing_answers_through_a_deployment_that_is_a_group_of_one(
    emulator: EmulatorServer,
) -> None:
    """A reply is told to its group's balancer; a deployment alone in its group has none of
    its own (it raised KeyError on every reply)."""
    east, west = deployments(emulator)
    alone = {key: value for key, value in west.items() if key != "group"} | {"id": "alone"}
    options = {"primaryProvider": "alone", "loadBalancing": "latency", "fallbackProviders": []}
    async with Router(options, [east, alone], store=None) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider == "alone"
