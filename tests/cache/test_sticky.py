"""Sticky routing's parts: the pin key of a conversation, the bounded map of pins with TTLs,
and the map shared through a real redis-server (one pin for a fleet, no round trip per
request, Redis down or lying -> local pins)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

import _servers
from automatosx._routing.balance import MemberStats, WeightedBalancer
from automatosx.cache._sticky import StickyMap, pin_key
from automatosx.cache._sticky_routing import StickyBalancer, StickyRouting
from automatosx.cache._sticky_shared import SharedStickyMap
from automatosx.schemas import ProviderRequest, StickyRoutingOptions

SYSTEM = {"role": "system", "content": "You are a travel agent. " * 50}


def turn(n: int, system: dict[str, Any] = SYSTEM, **fields: Any) -> ProviderRequest:
    """The request of a conversation's turn n (1-based): system, then n user turns with the
    assistant's replies between them."""
    messages: list[dict[str, Any]] = [system]
    for i in range(1, n + 1):
        messages.append({"role": "user", "content": f"question {i}"})
        if i < n:
            messages.append({"role": "assistant", "content": f"answer {i}"})
    return ProviderRequest.model_validate({"messages": messages, **fields})


def opts(**fields: Any) -> StickyRoutingOptions:
    return StickyRoutingOptions.model_validate({"key": "prefix", **fields})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_every_turn_of_a_conversation_has_one_prefix_key() -> None:
    keys = {pin_key(turn(n), opts()) for n in range(1, 11)}
    assert len(keys) == 1


def test_conversations_with_other_system_prompts_tools_or_openings_differ() -> None:
    base = pin_key(turn(3), opts())
    other_system = {"role": "system", "content": "You are a chef."}
    assert pin_key(turn(3, other_system), opts()) != base
    assert pin_key(turn(3, tools=[{"name": "book"}]), opts()) != base
    assert pin_key(turn(3, model="gpt-4o"), opts()) != base
    first_q = turn(3)
    first_q.messages[1].content = "another opening"
    assert pin_key(first_q, opts()) != base


def test_prefix_messages_widens_the_prefix() -> None:
    two = opts(prefixMessages=2)
    # turns 2.. share their first two messages after the system prompt
    assert len({pin_key(turn(n), two) for n in range(2, 8)}) == 1
    assert pin_key(turn(2), opts(prefixMessages=0)) == pin_key(turn(9), opts(prefixMessages=0))


def test_user_and_tenant_keys_pin_by_those_fields_and_skip_requests_without_them() -> None:
    assert pin_key(turn(1, user="u1"), opts(key="user")) == "user:u1"
    assert pin_key(turn(1), opts(key="user")) is None
    assert pin_key(turn(1, tenant="acme"), opts(key="tenant")) == "tenant:acme"
    assert pin_key(turn(1, user="u1"), opts(key="tenant")) is None


def test_the_map_is_bounded_lru_and_pins_expire_after_the_last_use() -> None:
    clock = Clock()
    pins = StickyMap(ttl_s=10, max_entries=3, clock=clock)
    assert pins.set("a", "d1") is True
    assert pins.set("a", "d1") is False  # unchanged
    pins.set("b", "d2")
    pins.set("c", "d3")
    assert pins.get("a") == "d1"  # a is now the most recently used
    pins.set("d", "d4")
    assert pins.peek("b") is None
    assert len(pins) == 3
    clock.now += 9
    assert pins.get("a") == "d1"  # followed: its TTL starts again
    clock.now += 9
    assert pins.get("a") == "d1"
    assert pins.get("c") is None  # not followed for 18 s
    clock.now += 11
    assert pins.get("a") is None
    assert pins.set("a", "d1") is True  # an expired pin set again is a change


async def test_sticky_routing_puts_the_pin_first_only_among_the_groups_members() -> None:
    sticky = StickyRouting(opts())
    key = sticky.key(turn(1), "pool")
    assert key is not None
    assert key.startswith("pool:")
    assert await sticky.pinned(key, {"a", "b"}) is None
    await sticky.served(key, "b")
    assert await sticky.pinned(key, {"a", "b"}) == "b"
    assert await sticky.pinned(key, {"a", "c"}) is None  # b left the group
    members = [Member("a"), Member("b"), Member("c")]
    balancer = StickyBalancer(WeightedBalancer(), sticky, "pool")
    req = turn(1)
    await sticky.served(key, "c")
    assert [m.name for m in balancer.order(members, req)] == ["c", "a", "b"]
    assert sticky.notes[req.request_id]["pool"] == (key, "c")
    other = turn(1, system={"role": "system", "content": "another conversation"})
    first = [m.name for m in balancer.order(members, other)]  # not pinned: weighted
    third = turn(1, system={"role": "system", "content": "a third conversation"})
    second = [m.name for m in balancer.order(members, third)]
    assert sticky.notes[other.request_id]["pool"][1] is None
    assert sorted(first) == ["a", "b", "c"]
    assert second[0] != first[0]  # the round robin moved on


class Member:
    def __init__(self, name: str) -> None:
        self.name = name
        self.weight = 1
        self.stats = MemberStats()


# -- shared through Redis -------------------------------------------------------------------


def shared(url: str, prefix: str, **kw: Any) -> SharedStickyMap:
    return SharedStickyMap(url, StickyMap(ttl_s=kw.pop("ttl_s", 300)), prefix=prefix, **kw)


async def test_a_pin_made_by_one_process_is_followed_by_another(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a, b = shared(redis_url, prefix), shared(redis_url, prefix)
    await a.open()
    await b.open()
    members = {"d1", "d2", "d3", "d4"}
    try:
        assert await a.get("pool:k", members) is None
        a.set("pool:k", "d3")
        await a._flush()
        assert await b.get("pool:k", members) == "d3"
        trips = b.round_trips
        for _ in range(100):  # confirmed recently: no round trip per request
            assert await b.get("pool:k", members) == "d3"
        assert b.round_trips == trips
        b.set("pool:k", "d2")  # e.g. d3's breaker opened for b: b moves, and says so
        await b._flush()
        a.recheck_s = 0  # a re-reads on its next request
        assert await a.get("pool:k", members) == "d2"
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_pin_in_redis_that_names_no_member_is_ignored(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from redis.asyncio import Redis

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    m = shared(redis_url, prefix)
    await m.open()
    async with Redis.from_url(redis_url) as client:
        await client.set(prefix + "sticky:pool:x", b"\xff\xfe")
        await client.hset(prefix + "sticky:pool:y", "f", "v")
        await client.set(prefix + "sticky:pool:z", "not-a-member")
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        for key in ("pool:x", "pool:y", "pool:z"):
            assert await m.get(key, {"d1"}) is None
    assert "following local pins" in caplog.text
    await m.aclose()


async def test_redis_down_follows_local_pins_and_rejoins(caplog: pytest.LogCaptureFixture) -> None:
    server = _servers.start_redis()
    try:
        m = shared(server.url, "p:", timeout_s=0.2, recheck_s=0)
        await m.open()
        members = {"d1", "d2"}
        m.set("pool:k", "d1")
        await m._flush()
        server.kill()
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
            began = loop.time()
            assert await m.get("pool:k", members) == "d1"  # the local pin; Redis is gone
            m.set("pool:k2", "d2")
            await m._flush()
            assert loop.time() - began < 2
        assert "following local pins" in caplog.text
        server.restart()  # an empty Redis: the local pin is written back on the next get
        assert await m.get("pool:k", members) == "d1"
        await m._flush()
        other = shared(server.url, "p:")
        await other.open()
        assert await other.get("pool:k", members) == "d1"
        await other.aclose()
        await m.aclose()
    finally:
        server.stop()
