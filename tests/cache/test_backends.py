"""The SQLite and Redis backends with real SQLite files and a real redis-server: stored replies
read back, TTLs, a file shared with the request store, corrupt rows and foreign keys as misses
with a warning, a Redis that is down as misses, and two processes sharing one Redis cache."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import _servers
from automatosx.cache import CachedReply, RedisCache
from automatosx.cache._front import ResponseCache, open_cache
from automatosx.schemas import ProviderRequest, ProviderResponse, TokenUsage
from automatosx.store import open_store


def request(text: str = "hi", **fields: Any) -> ProviderRequest:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": text}], "cache": {}, **fields}
    )


def response(text: str = "hello") -> ProviderResponse:
    return ProviderResponse(
        request_id="7b0c5f0e-1111-4a2b-9c3d-000000000001",
        provider="claude",
        model="claude-sonnet-4-6",
        content=text,
        tokens=TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4),
        finish_reason="stop",
        duration=10,
        cost=0.01,
    )


async def store_and_read(front: ResponseCache, text: str = "hi") -> CachedReply | None:
    lk = front.begin(request(text), "c", None)
    assert lk is not None
    if await front.fetch(lk) is None:
        front.complete(lk, response("reply to " + text))
    for task in list(front._writes):
        await task
    again = front.begin(request(text), "c", None)
    assert again is not None
    return await front.fetch(again)


# -- SQLite ---------------------------------------------------------------------------------


async def test_sqlite_cache_stores_and_reads_back_across_instances(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    front = open_cache(url)
    await front.open()
    hit = await store_and_read(front)
    assert hit is not None
    assert hit.response.content == "reply to hi"
    await front.aclose()
    other = open_cache(url)  # another router (process) on the same file
    await other.open()
    lk = other.begin(request(), "c", None)
    assert lk is not None
    found = await other.fetch(lk)
    assert found is not None
    assert found.response.content == "reply to hi"
    await other.aclose()


async def test_sqlite_cache_shares_the_request_stores_file(tmp_path: Path) -> None:
    path = tmp_path / "requests.db"
    async with open_store(f"sqlite:///{path}") as store:
        front = open_cache(f"sqlite:///{path}")
        await front.open()
        assert await store_and_read(front) is not None
        await store.flush()
        await front.aclose()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"provider_requests", "automatosx_response_cache"} <= tables


async def test_sqlite_entries_expire(tmp_path: Path) -> None:
    front = open_cache(f"sqlite:///{tmp_path / 'c.db'}")
    await front.open()
    lk = front.begin(request(cache={"ttlS": 0.2}), "c", None)
    assert lk is not None
    await front.fetch(lk)
    front.complete(lk, response())
    await asyncio.gather(*front._writes)
    assert await front.backend.get(lk.key) is not None  # type: ignore[union-attr]
    await asyncio.sleep(0.3)
    assert await front.backend.get(lk.key) is None  # type: ignore[union-attr]
    await front.aclose()


async def test_sqlite_corrupt_rows_are_misses_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.db"
    front = open_cache(f"sqlite:///{path}")
    await front.open()
    lk = front.begin(request(), "c", None)
    assert lk is not None
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO automatosx_response_cache VALUES (?, ?, ?, ?)",
            (lk.key, b"\x00\x01 torn page", 2**62, 0),
        )
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        assert await front.fetch(lk) is None
    assert "bad value" in caplog.text
    front.complete(lk, response())  # the provider's reply replaces it
    await asyncio.gather(*front._writes)
    again = front.begin(request(), "c", None)
    assert again is not None
    assert await front.fetch(again) is not None
    await front.aclose()


async def test_sqlite_cache_whose_file_is_gone_is_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.db"
    front = open_cache(f"sqlite:///{path}")
    await front.open()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE automatosx_response_cache")
    lk = front.begin(request(), "c", None)
    assert lk is not None
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        assert await front.fetch(lk) is None
        front.complete(lk, response())
        await asyncio.gather(*front._writes)
    assert "read failed" in caplog.text
    assert "write failed" in caplog.text
    await front.aclose()


# -- Redis ----------------------------------------------------------------------------------


@pytest.fixture
async def redis_front(redis_url: str) -> AsyncIterator[ResponseCache]:
    front = ResponseCache(RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex[:8]}:"))
    await front.open()
    yield front
    await front.aclose()


async def test_redis_cache_stores_with_a_ttl(redis_front: ResponseCache, redis_url: str) -> None:
    hit = await store_and_read(redis_front)
    assert hit is not None
    assert hit.response.content == "reply to hi"
    from redis.asyncio import Redis

    backend = redis_front.backend
    assert isinstance(backend, RedisCache)
    lk = redis_front.begin(request(), "c", None)
    assert lk is not None
    async with Redis.from_url(redis_url) as client:
        ttl_ms = await client.pttl(backend.prefix + lk.key)
    assert 86_000_000 < ttl_ms <= 86_400_000  # the default: a day


async def test_redis_wrong_type_and_foreign_values_are_misses(
    redis_front: ResponseCache, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from redis.asyncio import Redis

    backend = redis_front.backend
    assert isinstance(backend, RedisCache)
    lk = redis_front.begin(request("a"), "c", None)
    lk2 = redis_front.begin(request("b"), "c", None)
    assert lk is not None
    assert lk2 is not None
    async with Redis.from_url(redis_url) as client:
        await client.hset(backend.prefix + lk.key, "field", "value")  # WRONGTYPE on GET
        await client.set(backend.prefix + lk2.key, json.dumps({"format": 1, "response": 5}))
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        assert await redis_front.fetch(lk) is None
        assert await redis_front.fetch(lk2) is None
    assert "read failed" in caplog.text
    assert "bad value" in caplog.text
    redis_front.abandon(lk)
    redis_front.abandon(lk2)


async def test_a_redis_that_is_down_is_a_miss_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = _servers.start_redis()
    front = ResponseCache(RedisCache(server.url, timeout_s=0.2))
    await front.open()
    assert await store_and_read(front) is not None
    server.stop()
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        began = loop.time()
        lk = front.begin(request(), "c", None)
        assert lk is not None
        assert await front.fetch(lk) is None
        front.complete(lk, response())
        await asyncio.gather(*front._writes)
        took = loop.time() - began
    assert took < 2.0
    assert "read failed" in caplog.text
    await front.aclose()


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from automatosx.cache._front import ResponseCache
    from automatosx.cache import RedisCache
    from automatosx.schemas import ProviderRequest, ProviderResponse, TokenUsage

    async def main(url, prefix, role):
        front = ResponseCache(RedisCache(url, prefix=prefix))
        await front.open()
        req = ProviderRequest.model_validate(
            {"messages": [{"role": "user", "content": "shared"}], "cache": {}})
        lk = front.begin(req, "claude", None)
        hit = await front.fetch(lk)
        if hit is None and role == "writer":
            front.complete(lk, ProviderResponse(
                request_id=req.request_id, provider="claude", model="m",
                content="from the writer", tokens=TokenUsage(input_tokens=1, output_tokens=1,
                total_tokens=2), duration=1, cost=0.5))
        await front.aclose()
        print(json.dumps(None if hit is None else [hit.response.content, hit.response.cost]))

    asyncio.run(main(*sys.argv[1:]))
    """
)


def test_two_processes_share_one_redis_cache(redis_url: str, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    prefix = f"shared-{uuid.uuid4().hex[:8]}:"

    def run(role: str) -> Any:
        out = subprocess.run(
            [sys.executable, str(script), redis_url, prefix, role],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run("writer") is None  # the first process misses and stores
    assert run("reader") == ["from the writer", 0.5]  # the second reads what the first paid for
