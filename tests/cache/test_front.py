"""The router's view of the cache (ResponseCache): which requests use it, modes, single
flight, what is stored, and a failing or lying backend turned into a miss with a warning."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from automatosx.cache import CachedReply, MemoryCache
from automatosx.cache._front import ResponseCache, open_cache
from automatosx.errors import ConfigurationError
from automatosx.schemas import CacheOptions, ProviderRequest, ProviderResponse, TokenUsage


def request(**fields: Any) -> ProviderRequest:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], **fields}
    )


def response(**fields: Any) -> ProviderResponse:
    values: dict[str, Any] = {
        "request_id": "7b0c5f0e-1111-4a2b-9c3d-000000000001",
        "provider": "claude",
        "model": "claude-sonnet-4-6",
        "content": "hello",
        "tokens": TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4),
        "finish_reason": "stop",
        "duration": 10,
        "cost": 0.01,
        **fields,
    }
    return ProviderResponse(**values)


class DictCache:
    """A user's Cache object: bytes in a dict, optionally failing."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.fail: BaseException | None = None
        self.sets = 0

    async def get(self, key: str) -> bytes | None:
        if self.fail is not None:
            raise self.fail
        return self.data.get(key)  # type: ignore[no-any-return]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self.fail is not None:
            raise self.fail
        self.sets += 1
        self.data[key] = value


def test_without_cache_by_default_only_requests_that_carry_cache_use_it() -> None:
    front = ResponseCache(MemoryCache())
    assert front.begin(request(), "claude", None) is None
    assert front.begin(request(cache={}), "claude", None) is not None
    assert front.begin(request(cache={"mode": "off"}), "claude", None) is None
    on = ResponseCache(MemoryCache(), CacheOptions(cache_by_default=True))
    assert on.begin(request(), "claude", None) is not None
    assert on.begin(request(cache={"mode": "off"}), "claude", None) is None


def test_modes_ttl_and_defaults() -> None:
    front = ResponseCache(MemoryCache(), CacheOptions(default_ttl_s=42))
    rw = front.begin(request(cache={}), "c", None)
    r = front.begin(request(cache={"mode": "read", "ttlS": 7}), "c", None)
    w = front.begin(request(cache={"mode": "write"}), "c", None)
    assert rw is not None
    assert (rw.reads, rw.writes, rw.ttl_s) == (True, True, 42)
    assert r is not None
    assert (r.reads, r.writes, r.ttl_s) == (True, False, 7)
    assert w is not None
    assert (w.reads, w.writes) == (False, True)


async def test_a_miss_then_a_hit_and_read_only_and_write_only_requests() -> None:
    front = ResponseCache(MemoryCache())
    first = front.begin(request(cache={"mode": "read"}), "c", None)
    assert first is not None
    assert await front.fetch(first) is None
    front.complete(first, response())  # a read-only request stores nothing
    lk = front.begin(request(cache={}), "c", None)
    assert lk is not None
    assert await front.fetch(lk) is None
    front.complete(lk, response())
    again = front.begin(request(cache={}), "c", None)
    assert again is not None
    hit = await front.fetch(again)
    assert isinstance(hit, CachedReply)
    assert hit.response.content == "hello"
    refresh = front.begin(request(cache={"mode": "write"}), "c", None)
    assert refresh is not None
    assert await front.fetch(refresh) is None
    front.complete(refresh, response(content="newer"))
    newest = await front.fetch(front.begin(request(cache={}), "c", None))  # type: ignore[arg-type]
    assert newest is not None
    assert newest.response.content == "newer"
    assert (front.hits, front.misses) == (2, 3)
    assert front.saved_cost == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"finish_reason": "length"}, True),  # ended on maxTokens: complete, stored
        ({"finish_reason": "tool_calls"}, True),
        ({"finish_reason": "content_filter"}, False),  # a refusal: never
        ({"cached": True}, False),  # a served copy is not stored again
    ],
)
async def test_what_is_stored(fields: dict[str, Any], stored: bool) -> None:
    front = ResponseCache(MemoryCache())
    lk = front.begin(request(cache={}), "c", None)
    assert lk is not None
    await front.fetch(lk)
    front.complete(lk, response(**fields))
    assert (len(front.backend) == 1) is stored  # type: ignore[arg-type]


async def test_single_flight_100_identical_requests_make_one_call() -> None:
    front = ResponseCache(MemoryCache())
    calls = 0
    release = asyncio.Event()

    async def one() -> str:
        nonlocal calls
        lk = front.begin(request(cache={}), "c", None)
        assert lk is not None
        hit = await front.fetch(lk)
        if hit is not None:
            return "hit:" + hit.response.content
        try:
            calls += 1
            await release.wait()
            front.complete(lk, response())
            return "called"
        finally:
            front.abandon(lk)

    tasks = [asyncio.create_task(one()) for _ in range(100)]
    for _ in range(5):  # let every task reach the provider call or its wait
        await asyncio.sleep(0)
    assert calls == 1
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert sorted(results).count("hit:hello") == 99
    assert front.hits == 99
    assert front.misses == 1


async def test_when_the_leader_fails_the_waiters_go_on_by_themselves() -> None:
    front = ResponseCache(MemoryCache())
    leader = front.begin(request(cache={}), "c", None)
    assert leader is not None
    assert await front.fetch(leader) is None
    waiters = [front.begin(request(cache={}), "c", None) for _ in range(10)]
    pending = [asyncio.create_task(front.fetch(w)) for w in waiters]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert not any(t.done() for t in pending)
    front.abandon(leader)  # e.g. AllProvidersFailedError, or the caller cancelled
    assert await asyncio.gather(*pending) == [None] * 10
    front.abandon(leader)  # idempotent
    # a failed flight left nothing behind: the next request leads a new one
    nxt = front.begin(request(cache={}), "c", None)
    assert nxt is not None
    assert await front.fetch(nxt) is None
    assert nxt.leads


async def test_a_waiter_cancelled_does_not_cancel_the_flight() -> None:
    front = ResponseCache(MemoryCache())
    leader = front.begin(request(cache={}), "c", None)
    assert leader is not None
    await front.fetch(leader)
    waiter = asyncio.create_task(front.fetch(front.begin(request(cache={}), "c", None)))  # type: ignore[arg-type]
    other = asyncio.create_task(front.fetch(front.begin(request(cache={}), "c", None)))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    waiter.cancel()
    front.complete(leader, response())
    got = await other
    assert got is not None
    assert got.response.content == "hello"


async def test_a_users_cache_object_stores_bytes_and_failures_are_misses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = DictCache()
    front = open_cache(backend)
    lk = front.begin(request(cache={}), "c", None)
    assert lk is not None
    assert await front.fetch(lk) is None
    front.complete(lk, response())
    await front.aclose()  # waits for the write behind
    assert backend.sets == 1
    hit = await front.fetch(front.begin(request(cache={}), "c", None))  # type: ignore[arg-type]
    assert hit is not None
    assert hit.response.content == "hello"
    backend.fail = ConnectionError(
        "connection refused to 10.0.0.1:6379 sk-ant-api03-SECRETSECRETSECRETSECRET"
    )
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        for _ in range(5):
            lk1 = front.begin(request(cache={}), "c", None)
            assert lk1 is not None
            assert await front.fetch(lk1) is None
            front.abandon(lk1)
        lk2 = front.begin(request(cache={"mode": "write"}), "c", None)
        assert lk2 is not None
        front.complete(lk2, response())
        await front.aclose()
    warnings = [r for r in caplog.records if r.name == "automatosx.cache"]
    assert len(warnings) == 2  # one read failure (then throttled), one write failure
    assert "served as a miss" in warnings[0].getMessage()
    assert "SECRET" not in caplog.text
    assert front.errors == 6


@pytest.mark.parametrize(
    "value",
    [b"garbage", b'{"format": 1, "response": {"content": 1}}', "text", 12, ["x"]],
)
async def test_corrupt_or_foreign_values_are_a_miss_with_a_warning(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    backend = DictCache()
    front = open_cache(backend)
    lk = front.begin(request(cache={}), "c", None)
    assert lk is not None
    backend.data[lk.key] = value
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        assert await front.fetch(lk) is None
    assert "served as a miss" in caplog.text
    # the miss leads a flight, and the provider's reply replaces the bad value
    front.complete(lk, response())
    await front.aclose()
    assert (await front.fetch(front.begin(request(cache={}), "c", None))) is not None  # type: ignore[arg-type]


async def test_a_foreign_object_in_the_memory_cache_is_a_miss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = MemoryCache()
    front = ResponseCache(memory)
    lk = front.begin(request(cache={}), "c", None)
    assert lk is not None
    await memory.set(lk.key, b"someone else's bytes", 60)
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        assert await front.fetch(lk) is None
    assert "served as a miss" in caplog.text


def test_open_cache_refuses_what_is_not_a_cache_naming_the_fix() -> None:
    with pytest.raises(ConfigurationError, match=r"'memory', 'sqlite:///path\.db'"):
        open_cache("memcached://x")
    with pytest.raises(TypeError, match="cache: expected"):
        open_cache(42)
    with pytest.raises(ConfigurationError, match=r"sqlite:///path/to/cache\.db"):
        open_cache("sqlite://")
    assert isinstance(open_cache("memory", CacheOptions(max_entries=5)).backend, MemoryCache)
    assert open_cache("memory", CacheOptions(max_entries=5)).backend.max_entries == 5  # type: ignore[union-attr]
