"""Whatever is under the configured prefix, the router stays bounded and within its limits
(issue 19, item 7): hostile bucket values, foreign types, garbage on the events channel, keys
without a time-to-live, and a Redis that flaps, against a real redis-server, through the real
SDK to the emulator over real HTTP. The rate limits here BIND: the senders ask for far more
than the limit, so every excess admission is counted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from test_shared_router import OPTIONS, REQUEST, refused, until

import _servers
from automatosx import Router
from automatosx.emulator import EmulatorServer
from automatosx.errors import AllProvidersFailedError
from automatosx.shared import SharedState
from conftest import openai_config


def router(emulator: EmulatorServer, url: str, prefix: str, rpm: int, **options: Any) -> Router:
    config = openai_config(emulator, rate_limits={"requests_per_minute": rpm}, timeout=1_000)
    return Router(
        {**OPTIONS, **options},
        [config],
        store=None,
        shared=SharedState(url, prefix=prefix, poll_s=0.1, timeout_s=0.2),
    )


async def raw(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url)


async def server_ms(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def outcome_of(r: Router) -> str:
    """``ok``, or the type of the last attempt's error when every candidate failed."""
    try:
        await asyncio.wait_for(r.execute(REQUEST), timeout=5)
    except AllProvidersFailedError as exc:
        return type(exc.attempts[-1].error).__name__
    return "ok"


async def send_for(r: Router, seconds: float, senders: int = 8) -> dict[str, int]:
    """``senders`` tasks asking as fast as they can for ``seconds``: outcomes by kind."""
    outcome: dict[str, int] = {"ok": 0, "RateLimitError": 0}
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def send() -> None:
        while loop.time() < end:
            kind = await outcome_of(r)
            outcome[kind] = outcome.get(kind, 0) + 1
            if kind != "ok":
                await asyncio.sleep(0.005)

    await asyncio.gather(*(send() for _ in range(senders)))
    return outcome


# -- the bucket ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["-1e300", "-1e30", "-inf", "nan", "1e999", "zebra"])
async def test_a_hostile_bucket_level_never_makes_a_caller_wait_past_its_patience(
    emulator: EmulatorServer, redis_url: str, prefix: str, level: str
) -> None:
    client = await raw(redis_url)
    try:
        now = await server_ms(client)
        await client.hset(prefix + "openai:rpm", mapping={"level": level, "ts": str(now)})
    finally:
        await client.aclose()
    async with router(emulator, redis_url, prefix, rpm=600, maxRetryWaitMs=300) as r:
        started = time.monotonic()
        # Served, or refused as rate-limited: never a wait past the patience.
        outcomes = {await outcome_of(r) for _ in range(5)}
        assert outcomes <= {"ok", "RateLimitError"}
        assert time.monotonic() - started < 5 * (0.3 + 0.5)
        assert r._shared is not None
        assert not r._shared.degraded


async def test_a_bucket_stamped_in_the_future_refills_all_the_same(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    client = await raw(redis_url)
    try:
        far = await server_ms(client) + 10**12
        await client.hset(prefix + "openai:rpm", mapping={"level": "0", "ts": str(far)})
    finally:
        await client.aclose()
    async with router(emulator, redis_url, prefix, rpm=600, maxRetryWaitMs=2_000) as r:
        for _ in range(15):  # 600 rpm: 10 a second; an empty bucket serves these in ~1.5 s
            await asyncio.wait_for(r.execute(REQUEST), timeout=5)


@pytest.mark.parametrize("kind", ["string", "list", "zset"])
async def test_a_foreign_value_under_the_rpm_key_neither_degrades_nor_lifts_the_limit(
    emulator: EmulatorServer, redis_url: str, prefix: str, kind: str
) -> None:
    key = prefix + "openai:rpm"
    client = await raw(redis_url)
    try:
        if kind == "string":
            await client.set(key, "not a bucket")
        elif kind == "list":
            await client.rpush(key, "a", "b")
        else:
            await client.zadd(key, {"a": 1})
    finally:
        await client.aclose()
    rate = 20  # 1,200 rpm: a bucket of 20, 20 a second
    async with router(emulator, redis_url, prefix, rpm=60 * rate) as r:
        shared = r._shared
        assert shared is not None
        started = time.monotonic()
        outcome = await send_for(r, 3.0)
        elapsed = time.monotonic() - started
        assert shared.outage == 0  # the script repaired the key; Redis never "failed"
    admitted = emulator.scenario.count("openai")
    assert set(outcome) == {"ok", "RateLimitError"}
    assert outcome["ok"] == admitted
    assert outcome["RateLimitError"] > 0  # the limit bound
    # The rate over the window plus one burst of the bucket (one second of it).
    assert admitted <= rate * elapsed * 1.05 + rate, (admitted, rate * elapsed)


# -- the breaker's keys ----------------------------------------------------------------------


async def test_tripped_and_probe_keys_without_a_ttl_do_not_open_the_breaker_forever(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    client = await raw(redis_url)
    try:
        await client.set(prefix + "openai:tripped", "someone")  # no TTL
        await client.set(prefix + "openai:probe", "someone")  # no TTL
        async with router(emulator, redis_url, prefix, rpm=600_000) as r:
            await until(lambda: r.breaker_state("openai") == "half_open")
            outcomes: set[str] = set()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while "ok" not in outcomes and loop.time() < deadline:
                outcomes.add(await outcome_of(r))
                await asyncio.sleep(0.05)
            assert outcomes <= {"ok", "CircuitOpenError"}
            assert "ok" in outcomes, "still CircuitOpenError after 10 s: a TTL-less key held it"
            await until(lambda: r.breaker_state("openai") == "closed")
        for name in ("tripped", "probe"):
            assert await client.pttl(prefix + "openai:" + name) != -1  # gone, or expiring
    finally:
        await client.aclose()


async def test_an_open_key_with_an_absurd_ttl_opens_for_at_most_the_breaker_timeout(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    client = await raw(redis_url)
    try:
        await client.set(prefix + "openai:open", "someone", px=10**12)
        await client.set(prefix + "openai:tripped", "someone", px=10**12)
    finally:
        await client.aclose()
    async with router(emulator, redis_url, prefix, rpm=600_000, circuitBreakerTimeout=500) as r:
        await until(lambda: r.breaker_state("openai") == "open")
        await until(lambda: r.breaker_state("openai") == "half_open", 5)


# -- the events channel ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xfe\xfd open 5 openai",
        "x open \u00b2 openai".encode(),  # a digit to str.isdigit, not to int()
        b"x open 99999999999999999999 openai",
        b"",
        b"x cool -5 openai",
        b"x \xff 5 openai",
    ],
)
async def test_the_listener_survives_any_message_on_the_events_channel(
    emulator: EmulatorServer, redis_url: str, prefix: str, garbage: bytes
) -> None:
    async with router(emulator, redis_url, prefix, rpm=600_000, circuitBreakerTimeout=60_000) as r:
        client = await raw(redis_url)
        try:
            channel = prefix + "events"
            await subscribed(client, channel)
            for _ in range(3):
                await client.publish(channel, garbage)
            # Only the listener can see this: no key is set, no poll would find it.
            await client.publish(channel, "elsewhere open 60000 openai")
            await until(lambda: r.breaker_state("openai") == "open")
        finally:
            await client.aclose()


async def subscribed(client: aioredis.Redis, channel: str) -> None:
    """Wait until the router's listener is subscribed (Redis counts it)."""
    for _ in range(500):
        [(_, count)] = await client.pubsub_numsub(channel)
        if count:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the router never subscribed to its events channel")


# -- a flapping Redis ------------------------------------------------------------------------


async def test_a_flapping_redis_hands_out_no_fresh_burst_at_each_degrade_and_rejoin(
    emulator: EmulatorServer, own_redis: _servers.RedisServer, prefix: str
) -> None:
    rate = 20  # 1,200 rpm: 20 a second, a bucket of 20
    async with router(emulator, own_redis.url, prefix, rpm=60 * rate) as r:
        shared = r._shared
        assert shared is not None
        stop = asyncio.Event()

        async def flap() -> None:  # 0.6 s down, 0.4 s up (restarted empty), until told
            while not stop.is_set():
                await asyncio.to_thread(own_redis.kill)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.6)
                await asyncio.to_thread(own_redis.restart)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.4)

        await until(lambda: not shared.degraded)
        flapper = asyncio.create_task(flap())
        seconds = 8.0
        started = time.monotonic()
        outcome = await send_for(r, seconds)
        elapsed = time.monotonic() - started
        stop.set()
        await flapper
        outages = shared.outage
    admitted = emulator.scenario.count("openai")
    assert outages >= 4  # it did flap
    assert outcome["RateLimitError"] > 0  # the limit bound
    # The global rate over the window, plus one burst of the bucket and one of the local
    # limiter: not a fresh burst at every degrade and every rejoin.
    assert admitted <= rate * elapsed * 1.1 + 2 * rate, (admitted, rate * elapsed)


async def test_every_key_a_router_writes_has_a_ttl(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    from automatosx.emulator import Rule

    emulator.scenario.add(Rule(provider="openai", first=1, status=429, retry_after=30))
    emulator.scenario.add(Rule(provider="openai", requests=(2, 3), status=500))
    opts = {"circuitBreakerThreshold": 2, "circuitBreakerTimeout": 60_000}
    async with router(emulator, redis_url, prefix, rpm=600, **opts) as r:
        await refused(r.execute(REQUEST))  # 429: a cool-down
        guard = r._deployments["openai"].guard
        guard.cooled_until_ms = 0  # type: ignore[union-attr]  # let the next two through
        for _ in range(2):
            await refused(r.execute(REQUEST))  # two 500s: the breaker opens
        await until(lambda: r.breaker_state("openai") == "open")
        client = await raw(redis_url)
        try:
            for _ in range(100):  # the background task writes the keys: wait for them
                keys = [k async for k in client.scan_iter(match=prefix + "*")]
                if len(keys) >= 5:
                    break
                await asyncio.sleep(0.02)
            names = sorted(k.decode()[len(prefix) :] for k in keys)
            assert {"live", "openai:rpm", "openai:open", "openai:tripped", "openai:cool"} <= set(
                names
            ), names
            ttls = {name: await client.pttl(prefix + name) for name in names}
        finally:
            await client.aclose()
    assert all(ttl > 0 for ttl in ttls.values()), ttls


# -- a fleet member forked from a preloaded parent ---------------------------------------------


def test_a_forked_sync_router_rejoins_the_fleet_with_its_own_shared_state(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    from automatosx import SyncRouter
    from test_sync_router import in_child

    config = openai_config(emulator)
    shared = SharedState(redis_url, prefix=prefix, poll_s=0.1)
    with SyncRouter(OPTIONS, [config], store=None, shared=shared) as parent:
        parent.execute(REQUEST)
        outcome = in_child(parent)  # a new router, a new SharedState, its own connections
        assert outcome == "ok openai", outcome
        assert parent.execute(REQUEST).provider == "openai"
    assert emulator.scenario.count("openai") == 3
