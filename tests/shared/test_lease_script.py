"""The Lua scripts against a real redis-server: the bucket is refilled by the server's clock,
grants never exceed what it holds, given-back units return to it, live processes expire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from automatosx.shared._scripts import HEARTBEAT, LEASE


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def lease(
    client: aioredis.Redis, key: str, per_minute: int, want: int, back: int = 0, reserve: int = 0
) -> Any:
    """(granted, wait) without reserving; (granted, reserved, wait) with."""
    script = client.register_script(LEASE)
    rate, cap = per_minute / 60_000, max(1.0, per_minute / 60)
    args = [repr(rate), repr(cap), want, back, 60_000, reserve]
    granted, reserved, wait = await script(keys=[key], args=args)
    if reserve:
        return int(granted), int(reserved), int(wait)
    assert reserved == 0
    return int(granted), int(wait)


async def server_ms(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_a_new_bucket_grants_its_one_second_capacity_then_says_how_long_to_wait(
    client: aioredis.Redis, prefix: str
) -> None:
    key = prefix + "rpm"
    assert await lease(client, key, 600, want=4) == (4, 0)
    granted, _ = await lease(client, key, 600, want=100)
    assert granted == 6  # 600 rpm: a bucket of 10
    granted, wait = await lease(client, key, 600, want=1)
    assert granted == 0
    assert 1 <= wait <= 100  # one unit every 100 ms


async def test_the_bucket_refills_by_the_servers_clock(client: aioredis.Redis, prefix: str) -> None:
    key = prefix + "rpm"
    # Empty, as of one second ago on the server's clock: 6000 rpm refills 100 in that second.
    await client.hset(key, mapping={"level": "0", "ts": str(await server_ms(client) - 1000)})
    granted, wait = await lease(client, key, 6000, want=1000)
    assert 100 <= granted <= 101
    assert wait >= 0


async def test_a_bucket_stamped_in_the_future_grants_nothing_more(
    client: aioredis.Redis, prefix: str
) -> None:
    key = prefix + "rpm"
    await client.hset(key, mapping={"level": "0", "ts": str(await server_ms(client) + 60_000)})
    assert (await lease(client, key, 6000, want=5))[0] == 0


async def test_given_back_units_return_to_the_bucket_up_to_its_capacity(
    client: aioredis.Redis, prefix: str
) -> None:
    key = prefix + "rpm"
    assert (await lease(client, key, 600, want=10))[0] == 10
    assert await lease(client, key, 600, want=0, back=3) == (0, 0)
    assert (await lease(client, key, 600, want=10))[0] == 3
    await lease(client, key, 600, want=0, back=50)
    assert (await lease(client, key, 600, want=50))[0] == 10  # capped at the capacity


async def test_the_bucket_key_expires(client: aioredis.Redis, prefix: str) -> None:
    key = prefix + "rpm"
    await lease(client, key, 600, want=1)
    assert 0 < await client.pttl(key) <= 60_000


async def test_heartbeat_counts_live_processes_and_drops_stale_ones(
    client: aioredis.Redis, prefix: str
) -> None:
    beat = client.register_script(HEARTBEAT)
    key = prefix + "live"
    assert await beat(keys=[key], args=["a", 3000, 1]) == 1
    assert await beat(keys=[key], args=["b", 3000, 1]) == 2
    await client.zadd(key, {"gone": await server_ms(client) - 10_000})
    assert await beat(keys=[key], args=["a", 3000, 1]) == 2
    assert await beat(keys=[key], args=["b", 3000, 0]) == 1


async def test_reservations_queue_in_turn_one_capacity_deep(
    client: aioredis.Redis, prefix: str
) -> None:
    key = prefix + "rpm"
    assert (await lease(client, key, 600, want=10))[0] == 10  # empty now; 100 ms a unit
    first = await lease(client, key, 600, want=2, reserve=1)
    second = await lease(client, key, 600, want=2, reserve=1)
    assert first[:2] == second[:2] == (0, 2)
    assert 100 < first[2] <= 200 < second[2] <= 400  # the second waits behind the first
    for _ in range(3):
        await lease(client, key, 600, want=2, reserve=1)
    granted, reserved, wait = await lease(client, key, 600, want=2, reserve=1)
    assert granted == 0
    assert reserved == 0  # the queue is one capacity (10 units) deep at most
    assert wait > 1000
