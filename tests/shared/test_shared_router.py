"""Routers sharing one Redis see one fleet: one budget, one breaker, one cool-down, and a
lost Redis costs no request. Each router has its own SharedState (its own connections), as a
separate process would; the provider is the emulator over real HTTP with the real SDK."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

import _servers
from automatosx import Router
from automatosx.emulator import EmulatorServer, Rule
from automatosx.errors import AllProvidersFailedError, ConfigurationError, RateLimitError
from automatosx.shared import SharedGuard, SharedState
from conftest import openai_config

OPTIONS: dict[str, Any] = {
    "primaryProvider": "openai",
    "fallbackProviders": [],
    "backoffBaseMs": 1,
    "backoffCapMs": 5,
    "maxRetryWaitMs": 300,
}
REQUEST: dict[str, Any] = {"messages": [{"role": "user", "content": "Hello"}]}


def router(
    emulator: EmulatorServer, url: str, prefix: str, rpm: int = 1_000_000, **options: Any
) -> Router:
    config = openai_config(emulator, rate_limits={"requests_per_minute": rpm})
    return Router(
        {**OPTIONS, **options},
        [config],
        store=None,
        shared=SharedState(url, prefix=prefix, poll_s=0.1),
    )


def guard(r: Router) -> SharedGuard:
    g = r._deployments["openai"].guard
    assert isinstance(g, SharedGuard)
    return g


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait for ``condition`` (polling); fail the test if it does not hold in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within_s} s")
        await asyncio.sleep(0.01)


async def refused(call: Awaitable[Any]) -> BaseException:
    with pytest.raises(AllProvidersFailedError) as info:
        await call
    return info.value.attempts[-1].error


def test_shared_must_be_a_url_or_a_shared_state() -> None:
    with pytest.raises(TypeError, match="shared: expected a Redis URL"):
        Router(OPTIONS, [], shared=42)  # type: ignore[arg-type]


def test_a_shared_state_url_must_be_a_redis_url_and_its_knobs_positive() -> None:
    with pytest.raises(ConfigurationError, match="redis://"):
        SharedState("http://user:secret@example.com")
    with pytest.raises(ConfigurationError, match="lease_fraction"):
        SharedState("redis://localhost", lease_fraction=0)


def test_the_shared_state_repr_hides_credentials() -> None:
    assert "secret" not in repr(SharedState("redis://user:secret@localhost:6379/0"))


async def test_the_rpm_budget_is_global_across_routers(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    # 6 rpm: a bucket of one request, refilled every 10 s; each router alone would admit one.
    async with (
        router(emulator, redis_url, prefix, rpm=6) as first,
        router(emulator, redis_url, prefix, rpm=6) as second,
    ):
        await first.execute(REQUEST)
        error = await refused(second.execute(REQUEST))
        assert isinstance(error, RateLimitError)
        assert "shared" in str(error)
        assert emulator.scenario.count("openai") == 1


async def test_unspent_leases_are_given_back_when_a_router_closes(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    async with router(emulator, redis_url, prefix, rpm=600) as r:
        await r.execute(REQUEST)
        held = guard(r).requests
        assert held is not None
        held_units = held.units
    client = aioredis.Redis.from_url(redis_url)
    try:
        level = float(await client.hget(prefix + "openai:rpm", "level") or 0)
    finally:
        await client.aclose()
    assert level >= 10 - 1 - 0.5  # all but the one spent request is back (capacity 10)
    assert held_units >= 0


async def test_a_breaker_opened_in_one_router_is_seen_open_in_the_other(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    emulator.scenario.add(Rule(provider="openai", status=500))
    opts = {"circuitBreakerThreshold": 2, "circuitBreakerTimeout": 60_000}
    async with (
        router(emulator, redis_url, prefix, **opts) as first,
        router(emulator, redis_url, prefix, **opts) as second,
    ):
        for _ in range(2):
            await refused(first.execute(REQUEST))
        assert first.breaker_state("openai") == "open"
        await until(lambda: second.breaker_state("openai") == "open")
        sent = emulator.scenario.count("openai")
        error = await refused(second.execute(REQUEST))
        assert type(error).__name__ == "CircuitOpenError"
        assert emulator.scenario.count("openai") == sent


async def test_a_breaker_opening_missed_on_the_channel_is_found_by_polling(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    async with router(emulator, redis_url, prefix) as r:
        client = aioredis.Redis.from_url(redis_url)
        try:  # what a publisher leaves behind, without the message
            await client.set(prefix + "openai:open", "elsewhere", px=60_000)
            await client.set(prefix + "openai:tripped", "elsewhere", px=120_000)
        finally:
            await client.aclose()
        await until(lambda: r.breaker_state("openai") == "open")


async def test_half_open_lets_one_probe_through_for_the_whole_fleet(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    emulator.scenario.add(Rule(provider="openai", status=500))
    opts = {"circuitBreakerThreshold": 1, "circuitBreakerTimeout": 300}
    routers = [router(emulator, redis_url, prefix, **opts) for _ in range(3)]
    for r in routers:
        await r.open()
    try:
        await refused(routers[0].execute(REQUEST))
        await until(lambda: all(r.breaker_state("openai") == "open" for r in routers))
        opened = emulator.scenario.count("openai")
        await until(lambda: any(r.breaker_state("openai") == "half_open" for r in routers))
        # Everyone tries until the probe reaches the provider; it fails and reopens the fleet.
        while emulator.scenario.count("openai") == opened:
            for r in routers:
                await refused(r.execute(REQUEST))
            await asyncio.sleep(0.01)
        await until(lambda: all(r.breaker_state("openai") == "open" for r in routers))
        for r in routers:
            await refused(r.execute(REQUEST))
        assert emulator.scenario.count("openai") == opened + 1
    finally:
        for r in routers:
            await r.aclose()


async def test_a_429_cool_down_in_one_router_cools_the_other(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    emulator.scenario.add(Rule(provider="openai", first=1, status=429, retry_after=30))
    async with (
        router(emulator, redis_url, prefix) as first,
        router(emulator, redis_url, prefix) as second,
    ):
        await refused(first.execute(REQUEST))
        await until(lambda: guard(second).cooled_until_ms > 0)
        error = await refused(second.execute(REQUEST))
        assert isinstance(error, RateLimitError)
        assert emulator.scenario.count("openai") == 1


async def test_redis_killed_and_restarted_fails_no_request_and_limits_resume(
    emulator: EmulatorServer,
    own_redis: _servers.RedisServer,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="automatosx.shared")
    async with router(emulator, own_redis.url, prefix, rpm=60_000) as r:
        shared = r._shared
        assert shared is not None
        done = 0

        async def keep_sending(stop: asyncio.Event) -> None:
            nonlocal done
            while not stop.is_set():
                await r.execute(REQUEST)  # any failure fails the test
                done += 1

        stop = asyncio.Event()
        senders = [asyncio.create_task(keep_sending(stop)) for _ in range(4)]
        # Generous windows: a loaded 2-core CI machine must not turn a wait into a failure.
        await until(lambda: done >= 20, 30)
        own_redis.kill()
        await until(lambda: shared.degraded, 30)
        before = done
        await until(lambda: done >= before + 20, 30)  # served under local limits
        own_redis.restart()
        await until(lambda: not shared.degraded, 30)
        rejoined = done
        await until(lambda: done >= rejoined + 20, 30)
        stop.set()
        await asyncio.gather(*senders)
        client = aioredis.Redis.from_url(own_redis.url)
        try:
            assert await client.exists(prefix + "openai:rpm")  # leases from Redis again
        finally:
            await client.aclose()
    unreachable = [m for m in caplog.messages if "unreachable" in m]
    assert len(unreachable) == 1
    assert any("is back" in m for m in caplog.messages)


async def test_a_router_whose_redis_is_down_opens_and_serves_under_local_limits(
    emulator: EmulatorServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="automatosx.shared")
    url = f"redis://127.0.0.1:{_servers.free_port()}/0"
    async with router(emulator, url, prefix, rpm=6) as r:
        await r.execute(REQUEST)
        error = await refused(r.execute(REQUEST))  # the local limiter: 6 rpm, a burst of 1
        assert isinstance(error, RateLimitError)
    assert len([m for m in caplog.messages if "unreachable" in m]) == 1
