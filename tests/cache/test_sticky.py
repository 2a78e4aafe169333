"""Sticky routing's parts: the pin key of a conversation, the bounded map of pins with TTLs,
and the map shared through a real redis-server (one pin for a fleet, no round trip per
request, Redis down or lying -> local pins)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import _servers
from automatosx._routing.balance import MemberStats, WeightedBalancer
from automatosx.cache._sticky import StickyMap, opens, pin_key
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


def test_text_is_hashed_unambiguously_and_other_messages_by_their_canonical_form() -> None:
    ab = turn(1, system={"role": "system", "content": "ab"})
    ab.messages[1].content = "c"
    a = turn(1, system={"role": "system", "content": "a"})
    a.messages[1].content = "bc"
    assert pin_key(ab, opts()) != pin_key(a, opts())
    parts = ProviderRequest.model_validate(
        {
            "messages": [
                SYSTEM,
                {"role": "user", "content": [{"type": "text", "text": "question 1"}]},
            ]
        }
    )
    assert pin_key(parts, opts()) != pin_key(turn(1), opts())  # another form, another key
    assert pin_key(parts, opts()) == pin_key(parts.model_copy(), opts())


def test_an_opening_is_a_request_with_nothing_after_its_prefix() -> None:
    assert opens(turn(1), 1)
    assert not opens(turn(2), 1)
    assert opens(turn(2), 3)


def test_sticky_routing_puts_the_pin_first_only_among_the_groups_members() -> None:
    sticky = StickyRouting(opts())
    balancer = StickyBalancer(WeightedBalancer(), sticky, "pool")
    key = sticky.key(turn(1), "pool")
    assert key is not None
    assert key.startswith("pool:")
    assert sticky.pinned(key, {"a", "b"}) is None
    sticky.served(key, "b")
    assert sticky.pinned(key, {"a", "b"}) == "b"
    assert sticky.pinned(key, {"a", "c"}) is None  # b left the group
    members = [Member("a"), Member("b"), Member("c")]
    req = turn(1)
    sticky.served(key, "c")
    assert [m.name for m in balancer.order(members, req)] == ["c", "a", "b"]
    assert balancer.notes[req.request_id] == (key, "c", None)
    other = turn(1, system={"role": "system", "content": "another conversation"})
    first = [m.name for m in balancer.order(members, other)]  # not pinned: weighted
    third = turn(1, system={"role": "system", "content": "a third conversation"})
    second = [m.name for m in balancer.order(members, third)]
    assert balancer.notes[other.request_id][1] is None
    assert sorted(first) == ["a", "b", "c"]
    assert second[0] != first[0]  # the round robin moved on


def test_the_member_that_answers_becomes_the_pin() -> None:
    sticky = StickyRouting(opts())
    balancer = StickyBalancer(WeightedBalancer(), sticky, "pool")
    members = [Member("a"), Member("b"), Member("c")]
    req = turn(1)
    chosen = balancer.order(members, req)
    balancer.observe(chosen[1], 5.0, req)  # the first failed: the second answered
    assert req.request_id not in balancer.notes
    key = sticky.key(turn(3), "pool")
    assert key is not None
    assert sticky.local.peek(key) == chosen[1].name
    later = turn(3)
    assert balancer.order(members, later)[0] is chosen[1]
    balancer.observe(chosen[1], 5.0, later)  # answered again (a re-ask): still the pin
    balancer.observe(chosen[1], 5.0, later)
    assert sticky.local.peek(key) == chosen[1].name


class Member:
    def __init__(self, name: str) -> None:
        self.name = name
        self.weight = 1
        self.stats = MemberStats()


# -- shared through Redis -------------------------------------------------------------------


def shared(url: str, prefix: str, **kw: Any) -> SharedStickyMap:
    return SharedStickyMap(url, StickyMap(ttl_s=kw.pop("ttl_s", 300)), prefix=prefix, **kw)


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait (at most 10 s) for a message from another connection to have been applied."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.005)


async def opened(*maps: SharedStickyMap) -> None:
    for m in maps:
        await m.open()
    await until(lambda: all(m.warming for m in maps), "subscribed")


async def test_a_pin_made_by_one_process_is_followed_by_another(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a, b = shared(redis_url, prefix), shared(redis_url, prefix)
    await opened(a, b)
    members = {"d1", "d2", "d3", "d4"}
    try:
        a.claim("pool:k", "d3")  # a new conversation: its group chose d3
        a.served("pool:k", "d3", None, "d3")
        await until(lambda: b.local.peek("pool:k") == "d3", "the claim reached b")
        trips = b.round_trips
        for _ in range(100):  # known here: no round trip per request
            assert await b.fetch("pool:k", members) == "d3"
            b.served("pool:k", "d3", "d3", None)
        assert b.round_trips == trips
        b.served("pool:k", "d2", "d3", None)  # e.g. d3's breaker opened for b: b moves
        await until(lambda: a.local.peek("pool:k") == "d2", "the move reached a")
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_process_that_joins_later_reads_a_continuing_conversations_pin_once(
    redis_url: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a = shared(redis_url, prefix)
    await opened(a)
    a.claim("pool:k", "d2")
    await a._flush()
    late = shared(redis_url, prefix)  # it missed the message: still warming
    await opened(late)
    try:
        assert late.warming
        assert await late.fetch("pool:k", {"d1", "d2"}) == "d2"
        assert await late.fetch("pool:k", {"d1", "d2"}) == "d2"
        assert late.reads == 1
    finally:
        await a.aclose()
        await late.aclose()


async def test_two_processes_claiming_one_conversation_agree_on_the_first_claim(
    redis_url: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a, b = shared(redis_url, prefix), shared(redis_url, prefix)
    await opened(a, b)
    try:
        a.claim("pool:k", "d1")
        a.served("pool:k", "d1", None, "d1")
        await a._flush()
        b.claim("pool:k", "d2")  # at the same time, in b: its group chose d2
        b.served("pool:k", "d2", None, "d2")
        await b._flush()
        assert b.local.peek("pool:k") == "d1"  # b adopts the fleet's pin for the next turn
        assert a.local.peek("pool:k") == "d1"
    finally:
        await a.aclose()
        await b.aclose()


async def test_pins_made_by_many_requests_are_written_in_a_few_batches(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    m = shared(redis_url, prefix)
    await opened(m)
    try:
        trips = m.round_trips
        for i in range(1_000):  # one event-loop turn: one batch
            m.claim(f"pool:k{i}", "d1")
            m.served(f"pool:k{i}", "d1", None, "d1")
        await m._flush()
        assert m.round_trips - trips <= 2  # the script's load, the pipeline
        assert m.reads == 0
        other = shared(redis_url, prefix)
        await opened(other)
        assert await other.fetch("pool:k999", {"d1"}) == "d1"
        await other.aclose()
    finally:
        await m.aclose()


async def test_a_pin_in_redis_that_names_no_member_is_ignored(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from redis.asyncio import Redis

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    m = shared(redis_url, prefix)
    await opened(m)
    async with Redis.from_url(redis_url) as client:
        await client.set(prefix + "sticky:pool:x", b"\xff\xfe")
        await client.hset(prefix + "sticky:pool:y", "f", "v")
        await client.set(prefix + "sticky:pool:z", "not-a-member")
        await client.publish(prefix + "sticky", b"garbage")
        await client.publish(prefix + "sticky", b"\xff\n\n")
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        for key in ("pool:x", "pool:y", "pool:z"):
            assert await m.fetch(key, {"d1"}) is None
    assert "following local pins" in caplog.text
    assert len(m.local) == 0
    await m.aclose()


async def test_redis_down_follows_local_pins_and_rejoins(caplog: pytest.LogCaptureFixture) -> None:
    server = _servers.start_redis()
    try:
        m = shared(server.url, "p:", timeout_s=0.2)
        await opened(m)
        members = {"d1", "d2"}
        m.claim("pool:k", "d1")
        m.served("pool:k", "d1", None, "d1")
        await m._flush()
        server.kill()
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
            began = loop.time()
            await until(lambda: not m.warming, "the subscription is lost")
            assert await m.fetch("pool:k", members) == "d1"  # the local pin; Redis is gone
            m.claim("pool:k2", "d2")
            m.served("pool:k2", "d2", None, "d2")
            await m._flush()
            assert loop.time() - began < 5
        assert "following local pins" in caplog.text
        server.restart()  # an empty Redis: new pins reach the fleet again once resubscribed
        await until(lambda: m.warming, "resubscribed")
        m.claim("pool:k3", "d2")
        await m._flush()
        other = shared(server.url, "p:")
        await opened(other)
        assert await other.fetch("pool:k3", members) == "d2"
        await other.aclose()
        await m.aclose()
    finally:
        server.stop()


def test_a_map_of_one_process_keys_conversations_by_a_cheaper_hash_of_the_same_fields() -> None:
    local = {pin_key(turn(n), opts(), stable=False) for n in range(1, 6)}
    assert len(local) == 1
    assert local != {pin_key(turn(1), opts())}
    other = turn(1, system={"role": "system", "content": "another"})
    assert pin_key(other, opts(), stable=False) not in local
    assert pin_key(turn(1, tools=[{"name": "book"}]), opts(), stable=False) not in local
