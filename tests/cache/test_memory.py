"""The memory cache: LRU within max_entries and max_bytes, TTLs, and the stored reply's
snapshot and serving rules."""

from __future__ import annotations

from typing import Any

import pytest

from automatosx.cache import CacheDataError, CachedReply, MemoryCache
from automatosx.schemas import ProviderResponse, TokenUsage, ToolCall


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def response(text: str = "hi", **fields: Any) -> ProviderResponse:
    values: dict[str, Any] = {
        "request_id": "7b0c5f0e-1111-4a2b-9c3d-000000000001",
        "provider": "claude",
        "model": "claude-sonnet-4-6",
        "content": text,
        "tokens": TokenUsage(input_tokens=10, output_tokens=2, total_tokens=12),
        "finish_reason": "stop",
        "duration": 300,
        "cost": 0.002,
        **fields,
    }
    return ProviderResponse(**values)


def test_lru_evicts_the_least_recently_used_past_max_entries() -> None:
    cache = MemoryCache(max_entries=3, max_bytes=10**9)
    for k in "abc":
        cache.keep(k, k, 1, 60)
    assert cache.lookup("a") == "a"  # a is now the most recent
    cache.keep("d", "d", 1, 60)
    assert "b" not in cache
    assert [k for k in "acd" if k in cache] == ["a", "c", "d"]
    assert len(cache) == 3
    assert cache.evictions == 1


def test_lru_stays_within_max_bytes_and_refuses_a_value_larger_than_the_cache() -> None:
    cache = MemoryCache(max_entries=1000, max_bytes=1000)
    for i in range(10):
        cache.keep(str(i), i, 300, 60)
        assert cache.bytes <= 1000
    assert len(cache) == 3
    assert [str(i) in cache for i in (7, 8, 9)] == [True, True, True]
    assert cache.keep("huge", "x", 1001, 60) is False
    assert "huge" not in cache
    assert len(cache) == 3


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = MemoryCache(max_entries=10, max_bytes=1000)
    cache.keep("a", 1, 400, 60)
    cache.keep("a", 2, 500, 60)
    assert cache.bytes == 500
    assert cache.lookup("a") == 2


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    cache.keep("a", "v", 1, ttl_s=5)
    clock.now += 4.9
    assert cache.lookup("a") == "v"
    clock.now += 0.2
    assert cache.lookup("a") is None
    assert len(cache) == 0
    assert cache.bytes == 0


def test_a_reply_size_counts_its_utf8_text_and_chunks() -> None:
    ascii_reply = CachedReply(response("a" * 1000), None)
    wide = CachedReply(response("é" * 1000), None)
    assert wide.size - ascii_reply.size == 1000  # two bytes each
    streamed = CachedReply(response("ab"), [("a", None), ("b", None)])
    assert streamed.size > CachedReply(response("ab"), None).size


def test_a_stored_reply_is_a_snapshot_the_caller_cannot_change() -> None:
    original = response(tool_calls=[ToolCall(id="c1", name="f", arguments={"x": 1})])
    reply = CachedReply.of(original, None)
    original.content = "changed"
    original.tokens.input_tokens = 999
    assert original.tool_calls is not None
    original.tool_calls[0].arguments["x"] = 2
    served = reply.served("7b0c5f0e-1111-4a2b-9c3d-000000000002", 0)
    assert served.content == "hi"
    assert served.tokens.input_tokens == 10
    assert served.tool_calls is not None
    assert served.tool_calls[0].arguments == {"x": 1}
    served.tool_calls[0].arguments["x"] = 3  # nor can a hit's caller
    again = reply.served("7b0c5f0e-1111-4a2b-9c3d-000000000003", 0)
    assert again.tool_calls is not None
    assert again.tool_calls[0].arguments == {"x": 1}


def test_a_hit_is_cached_costs_nothing_and_says_what_it_saved() -> None:
    reply = CachedReply.of(response(), None)
    served = reply.served("7b0c5f0e-1111-4a2b-9c3d-000000000002", 0)
    assert served.cached is True
    assert served.cost == 0
    assert served.saved_cost == pytest.approx(0.002)
    assert served.request_id == "7b0c5f0e-1111-4a2b-9c3d-000000000002"
    dumped = served.model_dump(by_alias=True)
    assert dumped["cached"] is True
    assert dumped["savedCost"] == pytest.approx(0.002)
    assert "cached" not in response().model_dump(by_alias=True)  # seed documents unchanged


def test_a_stream_replays_its_items_in_order_and_an_execute_reply_as_one() -> None:
    call = ToolCall(id="c1", name="f", arguments={"q": "x"})
    streamed = CachedReply(response("Hello world"), [("Hello", None), (" world", None), ("", call)])
    assert streamed.items() == ["Hello", " world", call]
    executed = CachedReply(response("Hello world", tool_calls=[call]), None)
    assert executed.items() == ["Hello world", call]
    items = executed.items()
    assert isinstance(items[1], ToolCall)
    items[1].arguments["q"] = "changed"  # a copy: the stored call is untouched
    assert executed.items()[1] == call


def test_a_finished_streams_texts_become_its_chunks_tool_calls_in_their_places() -> None:
    call = ToolCall(id="c1", name="f", arguments={"q": "x"})
    reply = response("Hi", tool_calls=[call])
    assert CachedReply.chunks_of(["H", "i", ""], reply) == [("H", None), ("i", None), ("", call)]
    assert CachedReply.chunks_of(None, reply) is None  # execute: replayed from the response
    assert CachedReply.chunks_of(["H", "", ""], reply) is None  # a mismatch: not trusted
    assert CachedReply.chunks_of(["Hi"], reply) is None


def test_bytes_round_trip_and_foreign_values_are_refused() -> None:
    call = ToolCall(id="c1", name="f", arguments={"q": "é"})
    reply = CachedReply(response("Hé", tool_calls=[call]), [("H", None), ("é", None), ("", call)])
    back = CachedReply.from_bytes(reply.to_bytes())
    assert back.response.content == "Hé"
    assert back.chunks == reply.chunks
    assert back.response.tokens == reply.response.tokens
    for bad in (
        b"\xff\xfe not utf-8",
        b"not json",
        b"[1, 2]",
        b'{"format": 2, "response": {}}',
        b'{"format": 1, "response": {"content": 5}}',
        b'{"format": 1, "response": ' + reply.to_bytes()[30:],
        42,
        None,
    ):
        with pytest.raises(CacheDataError):
            CachedReply.from_bytes(bad)
    bad_chunks = reply.to_bytes().replace(b'"chunks":[[', b'"chunks":[[1,')
    with pytest.raises(CacheDataError):
        CachedReply.from_bytes(bad_chunks)


def test_the_bytes_protocol_of_the_memory_cache() -> None:
    import asyncio

    async def main() -> None:
        cache = MemoryCache()
        await cache.set("k", b"v", 60)
        assert await cache.get("k") == b"v"
        assert await cache.get("missing") is None

    asyncio.run(main())
