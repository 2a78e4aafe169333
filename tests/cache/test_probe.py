"""The memory cache's one-call lookup (``ResponseCache.probe``, a miss kept as a Ticket tuple,
``store``/``drop``): the same answers, counts and single flight as ``begin``/``fetch``/
``complete``/``abandon``, which the other backends (and a request that must wait) use."""

from __future__ import annotations

import asyncio
from typing import Any

from automatosx.cache import MemoryCache
from automatosx.cache._entry import CachedReply
from automatosx.cache._front import MISS, WAIT, ResponseCache
from automatosx.schemas import CacheOptions, ProviderRequest, ProviderResponse, TokenUsage


def request(content: str = "hi", **fields: Any) -> ProviderRequest:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": content}], **fields}
    )


def response(content: str = "hello", **fields: Any) -> ProviderResponse:
    values: dict[str, Any] = {
        "request_id": "7b0c5f0e-1111-4a2b-9c3d-000000000001",
        "provider": "claude",
        "model": "claude-sonnet-4-6",
        "content": content,
        "tokens": TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4),
        "finish_reason": "stop",
        "duration": 10,
        "cost": 0.01,
        **fields,
    }
    return ProviderResponse(**values)


def test_who_uses_it_is_decided_as_begin_decides() -> None:
    front = ResponseCache(MemoryCache())
    on = ResponseCache(MemoryCache(), CacheOptions(cache_by_default=True))
    for cache in (front, on):
        for req in (request(), request(cache={}), request(cache={"mode": "off"})):
            used = cache.probe(req, "c", None) is not None
            assert used == (cache.begin(req, "c", None) is not None)
            if used:  # let the flight it may lead go
                cache._flights.clear()


async def test_a_miss_leads_a_flight_a_waiter_gets_the_reply_then_it_is_a_hit() -> None:
    front = ResponseCache(MemoryCache())
    ticket = front.probe(request(cache={"ttlS": 5}), "c", None)
    assert isinstance(ticket, tuple)
    key, h, ttl, leads = ticket
    assert (ttl, leads) == (5, True)
    assert hash(key) == h
    # an identical request must wait: probe says so, and fetch waits for the leader
    assert front.probe(request(cache={}), "c", None) is WAIT
    lookup = front.begin(request(cache={}), "c", None)
    assert lookup is not None
    waiting = asyncio.create_task(front.fetch(lookup))
    await asyncio.sleep(0)
    assert not waiting.done()
    assert front.waiting == 1
    front.store(ticket, response(), None)
    got = await waiting
    assert got is not None
    assert got.response.content == "hello"
    hit = front.probe(request(cache={}), "c", None)
    assert isinstance(hit, CachedReply)
    assert hit.response.content == "hello"
    assert (front.hits, front.misses, front.saved_cost) == (2, 1, 0.02)
    assert not front._flights  # the flight left nothing behind
    assert not front._futures


async def test_a_dropped_miss_lets_its_waiters_go_on_and_the_next_one_leads() -> None:
    front = ResponseCache(MemoryCache())
    ticket = front.probe(request(cache={}), "c", None)
    assert isinstance(ticket, tuple)
    waiters = [front.begin(request(cache={}), "c", None) for _ in range(5)]
    pending = [asyncio.create_task(front.fetch(w)) for w in waiters]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert not any(t.done() for t in pending)
    front.drop(ticket)  # the leader failed, or was cancelled
    assert await asyncio.gather(*pending) == [None] * 5
    front.drop(ticket)  # idempotent
    front.store(ticket, response(), None)  # a late store still stores; no flight to land
    assert isinstance(front.probe(request(cache={}), "c", None), CachedReply)
    again = front.probe(request("other", cache={}), "c", None)
    assert isinstance(again, tuple)
    assert again[3]


def test_modes_read_write_and_a_second_miss_beside_a_flight() -> None:
    front = ResponseCache(MemoryCache())
    assert front.probe(request(cache={"mode": "read"}), "c", None) is MISS  # stores nothing
    assert not front._flights
    writer = front.probe(request(cache={"mode": "write"}), "c", None)
    assert isinstance(writer, tuple)
    assert writer[3]
    # a write-only request never reads, so it does not wait either: it writes alongside
    second = front.probe(request(cache={"mode": "write"}), "c", None)
    assert isinstance(second, tuple)
    assert not second[3]
    front.store(second, response("second"), None)
    front.store(writer, response("first"), None)
    got = front.probe(request(cache={"mode": "read"}), "c", None)
    assert isinstance(got, CachedReply)
    assert got.response.content == "first"
    front.store(  # a refusal is never stored
        front.probe(request("x", cache={"mode": "write"}), "c", None),  # type: ignore[arg-type]
        response(finish_reason="content_filter"),
        None,
    )
    assert front.probe(request("x", cache={"mode": "read"}), "c", None) is MISS
    assert (front.hits, front.misses) == (1, 5)


def test_an_expired_entry_is_a_miss_and_is_dropped() -> None:
    now = [100.0]
    memory = MemoryCache(clock=lambda: now[0])
    front = ResponseCache(memory)
    ticket = front.probe(request(cache={"ttlS": 10}), "c", None)
    front.store(ticket, response(), None)  # type: ignore[arg-type]
    assert isinstance(front.probe(request(cache={}), "c", None), CachedReply)
    now[0] = 110.0
    expired = front.probe(request(cache={}), "c", None)
    assert isinstance(expired, tuple)  # a miss that leads a new flight
    assert expired[3]
    assert len(memory) == 0
    assert memory.bytes == 0


def test_a_foreign_value_under_the_key_is_one_miss_and_is_replaced() -> None:
    memory = MemoryCache()
    front = ResponseCache(memory)
    ticket = front.probe(request(cache={}), "c", None)
    assert isinstance(ticket, tuple)
    front.drop(ticket)
    memory.keep(ticket[0], b"someone else's", 16, 60.0, ticket[1])
    bad = front.probe(request(cache={}), "c", None)
    assert isinstance(bad, tuple)  # a miss that writes, leading no flight
    assert not bad[3]
    assert (front.hits, front.misses, front.errors) == (0, 2, 1)
    front.store(bad, response(), None)
    assert isinstance(front.probe(request(cache={}), "c", None), CachedReply)


def test_probe_and_the_general_path_count_the_same() -> None:
    """One sequence of requests through probe/store and through begin/fetch_now/complete:
    the same hits, misses and saved cost, and the same replies stored."""
    fronts = [ResponseCache(MemoryCache()) for _ in range(2)]
    reqs = [
        request(f"q{i % 4}", cache={"mode": ("read_write", "read", "write")[i % 3]})
        for i in range(24)
    ]
    for req in reqs:
        found = fronts[0].probe(req, "c", "m")
        if isinstance(found, tuple):
            fronts[0].store(found, response(req.messages[0].content), None)  # type: ignore[arg-type]
        lookup = fronts[1].begin(req, "c", "m")
        assert lookup is not None
        if fronts[1].fetch_now(lookup) is None and lookup.writes:
            fronts[1].complete(lookup, response(req.messages[0].content))  # type: ignore[arg-type]
    a, b = fronts
    assert (a.hits, a.misses, a.saved_cost) == (b.hits, b.misses, b.saved_cost)
    assert a.hits > 0
    assert a.misses > 0
    assert len(a.backend) == len(b.backend)  # type: ignore[arg-type]


def test_a_memory_cache_subclass_is_asked_through_its_own_lookup() -> None:
    """``probe`` reads the LRU directly, so only the MemoryCache itself takes it: a subclass
    that looks up its own way is asked through ``lookup`` (begin/fetch_now)."""
    from automatosx.cache._step import CacheStep

    class Counting(MemoryCache):
        __slots__ = ("asked",)

        def __init__(self) -> None:
            super().__init__()
            self.asked = 0

        def lookup(self, key: Any, h: int | None = None) -> Any:
            self.asked += 1
            return super().lookup(key, h)

    assert ResponseCache(MemoryCache()).probes
    backend = Counting()
    step = CacheStep(ResponseCache(backend), {})
    assert not step.cache.probes
    req = request(cache={}, provider="claude", model="m")
    assert step.lookup_now(req, False) is None  # a miss
    step.completed_now(req, response(), None)
    answer = step.lookup_now(request(cache={}, provider="claude", model="m"), False)
    assert answer is not None
    assert backend.asked == 2
