"""The response cache through the router, end to end: the real SDKs over real HTTP to the
emulator, the request store in a real SQLite file. Provider calls are counted at the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from tests.e2e.conftest import NAMES, Harness

from automatosx import Router
from automatosx.cache import MemoryCache
from automatosx.emulator import Rule
from automatosx.errors import AllProvidersFailedError, ConfigurationError, OutputValidationError

WEATHER = {
    "name": "get_weather",
    "description": "The weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def router(
    e2e: Harness,
    primary: str = "openai",
    backend: Any = "memory",
    retries: int = 0,
    telemetry: Any = False,
    **options: Any,
) -> Router:
    """A router over the three emulated providers with ``cache=backend``; ``options`` are
    RouterOptions fields (``cache={...}`` among them)."""
    slow = {"timeout": 60_000, "max_retries": retries}
    r = e2e.router(
        primary,
        (),
        providers=dict.fromkeys(NAMES, slow),
        firstTokenTimeoutMs=60_000,
        streamIdleTimeoutMs=60_000,
        **options,
    )
    return Router(
        r.options, list(r._entries or ()), store=e2e.store_url, cache=backend, telemetry=telemetry
    )


def ask(
    e2e: Harness, text: str = "What is the capital of France?", **fields: Any
) -> dict[str, Any]:
    """A request that uses the cache (``cache: {}`` unless ``fields`` say otherwise)."""
    fields.setdefault("cache", {})
    return e2e.request(text, **fields)


@pytest.mark.parametrize("name", NAMES)
async def test_an_identical_request_is_served_from_the_cache_and_recorded(
    e2e: Harness, name: str
) -> None:
    first_req, second_req = ask(e2e), ask(e2e)
    async with router(e2e, name) as r:
        first = await r.execute(first_req)
        second = await r.execute(second_req)
    assert e2e.count(name) == 1
    assert not first.cached
    assert first.cost is not None
    assert first.cost > 0
    assert second.cached
    assert second.cost == 0
    assert second.saved_cost == first.cost
    assert second.content == first.content
    assert second.request_id == second_req["requestId"]
    row = e2e.request_row(second_req["requestId"])
    assert row["state"] == "completed"
    assert e2e.rows("SELECT * FROM provider_attempts WHERE request_id = ?", (row["id"],)) == []
    served = response_row(e2e, second_req["requestId"])
    assert served["cached"] == 1
    assert served["cost"] == 0
    assert served["saved_cost"] == pytest.approx(first.cost)
    stored = await e2e.stored(second_req["requestId"])
    assert stored.response is not None
    assert stored.response.cached
    assert stored.response.saved_cost == pytest.approx(first.cost)
    assert response_row(e2e, first_req["requestId"])["cached"] == 0
    # a served reply is not usage: the deployment's metrics count the one provider reply
    metrics = e2e.rows("SELECT SUM(total_tokens) AS t, SUM(total_cost) AS c FROM provider_metrics")
    assert metrics[0]["t"] == first.tokens.total_tokens
    assert metrics[0]["c"] == pytest.approx(first.cost)


def response_row(e2e: Harness, request_id: str) -> dict[str, Any]:
    rows = e2e.rows("SELECT * FROM provider_responses WHERE request_id = ?", (request_id,))
    assert len(rows) == 1
    return rows[0]


async def test_a_stream_hit_replays_the_chunks_in_order_marked_cached(e2e: Harness) -> None:
    async with router(e2e, "claude") as r:
        first = [c async for c in r.stream(ask(e2e))]
        again = r.stream(ask(e2e))
        replay = [c async for c in again]
    assert e2e.count("claude") == 1
    assert [c.chunk for c in replay] == [c.chunk for c in first]
    assert len(replay) > 2
    assert all(c.cached for c in replay)
    assert not any(c.cached for c in first)
    assert [c.index for c in replay] == list(range(len(replay)))
    assert replay[-1].done
    assert again.response is not None
    assert again.response.cached
    assert again.response.cost == 0


@pytest.mark.parametrize("name", NAMES)
async def test_a_tool_call_stream_replays_its_tool_call_chunk(e2e: Harness, name: str) -> None:
    req = {"tools": [WEATHER], "toolChoice": {"name": "get_weather"}}
    async with router(e2e, name) as r:
        first = [c async for c in r.stream(ask(e2e, "Weather in Paris?", **req))]
        replay = [c async for c in r.stream(ask(e2e, "Weather in Paris?", **req))]
    assert e2e.count(name) == 1
    assert [(c.chunk, c.tool_call) for c in replay] == [(c.chunk, c.tool_call) for c in first]
    assert any(c.tool_call is not None for c in replay)


async def test_execute_and_stream_share_an_entry(e2e: Harness) -> None:
    async with router(e2e, "gemini") as r:
        executed = await r.execute(ask(e2e))
        chunks = [c async for c in r.stream(ask(e2e))]
        streamed_first = [c async for c in r.stream(ask(e2e, "Another question?"))]
        executed_after = await r.execute(ask(e2e, "Another question?"))
    assert e2e.count("gemini") == 2
    assert "".join(c.chunk for c in chunks) == executed.content
    assert all(c.cached for c in chunks)
    assert executed_after.cached
    assert executed_after.content == "".join(c.chunk for c in streamed_first)


async def test_tenants_never_share_entries_unless_they_name_one_namespace(e2e: Harness) -> None:
    async with router(e2e) as r:
        a = await r.execute(ask(e2e, tenant="acme"))
        b = await r.execute(ask(e2e, tenant="globex"))
        assert e2e.count("openai") == 2
        assert not a.cached
        assert not b.cached
        a2 = await r.execute(ask(e2e, tenant="acme"))
        assert a2.cached
        shared = {"namespace": "faq"}
        await r.execute(e2e.request("FAQ?", tenant="acme", cache=shared))
        g = await r.execute(e2e.request("FAQ?", tenant="globex", cache=shared))
        n = await r.execute(e2e.request("FAQ?", tenant="globex"))
    assert g.cached
    assert not n.cached
    assert e2e.count("openai") == 4


async def test_100_concurrent_identical_requests_make_one_provider_call(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", latency=0.5))
    async with router(e2e) as r:

        def call(i: int) -> Any:
            if i % 2:
                return r.execute(ask(e2e))
            return _text(r.stream(ask(e2e)))

        results = await asyncio.gather(*(call(i) for i in range(100)))
    assert e2e.count("openai") == 1
    texts = {x if isinstance(x, str) else x.content for x in results}
    assert len(texts) == 1
    rows = e2e.rows(
        "SELECT r.state, p.cached FROM provider_requests r "
        "JOIN provider_responses p ON p.request_id = r.id"
    )
    assert len(rows) == 100
    assert all(row["state"] == "completed" for row in rows)
    assert sum(row["cached"] for row in rows) == 99


async def until(condition: Any, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds (checked every loop turn and 5 ms), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def _text(stream: Any) -> str:
    return "".join([c.chunk async for c in stream])


async def test_when_the_one_call_fails_the_waiters_go_on_by_themselves(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, status=500, latency=0.5))
    async with router(e2e) as r:
        results = await asyncio.gather(
            *(r.execute(ask(e2e)) for _ in range(10)), return_exceptions=True
        )
    failures = [x for x in results if isinstance(x, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], AllProvidersFailedError)
    assert e2e.count("openai") == 10  # the leader, then each waiter by itself
    assert all(not x.cached for x in results if not isinstance(x, BaseException))


async def test_a_cancelled_leader_lets_its_waiters_go_on(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, latency=30))
    async with router(e2e) as r:
        leader = asyncio.create_task(r.execute(ask(e2e)))
        await until(lambda: e2e.count("openai") == 1)  # the leader's call reached the emulator
        waiters = [asyncio.create_task(r.execute(ask(e2e))) for _ in range(3)]
        await until(lambda: r.cache is not None and r.cache.waiting == 3)
        leader.cancel()
        done = await asyncio.wait_for(asyncio.gather(*waiters), 30)
    assert e2e.count("openai") >= 2
    assert all(x.content for x in done)


async def test_entries_expire_after_their_ttl(e2e: Harness) -> None:
    clock = Clock()
    async with router(e2e, backend=MemoryCache(clock=clock)) as r:
        await r.execute(ask(e2e, cache={"ttlS": 60}))
        clock.now += 59
        assert (await r.execute(ask(e2e, cache={"ttlS": 60}))).cached
        clock.now += 2
        assert not (await r.execute(ask(e2e, cache={"ttlS": 60}))).cached
    assert e2e.count("openai") == 2


async def test_the_memory_cache_stays_within_max_entries(e2e: Harness) -> None:
    async with router(e2e, cache={"maxEntries": 3}) as r:
        for i in range(4):
            await r.execute(ask(e2e, f"question {i}?"))
        assert (await r.execute(ask(e2e, "question 3?"))).cached
        assert not (await r.execute(ask(e2e, "question 0?"))).cached  # evicted, least used
    assert e2e.count("openai") == 5


async def test_cache_by_default_and_modes(e2e: Harness) -> None:
    async with router(e2e, cache={"cacheByDefault": True}) as r:
        await r.execute(e2e.request("Q?"))
        assert (await r.execute(e2e.request("Q?"))).cached  # no cache field: the default
        off = await r.execute(e2e.request("Q?", cache={"mode": "off"}))
        refresh = await r.execute(e2e.request("Q?", cache={"mode": "write"}))
        read_only = await r.execute(e2e.request("New?", cache={"mode": "read"}))
        assert not (await r.execute(e2e.request("New?", cache={"mode": "read"}))).cached
    assert not off.cached
    assert not refresh.cached
    assert not read_only.cached
    assert e2e.count("openai") == 5


async def test_without_a_cache_configured_the_cache_field_does_nothing(e2e: Harness) -> None:
    async with router(e2e, backend=None) as r:
        await r.execute(ask(e2e))
        assert not (await r.execute(ask(e2e))).cached
    assert e2e.count("openai") == 2


async def test_a_reply_that_ended_on_max_tokens_is_stored(e2e: Harness) -> None:
    async with router(e2e) as r:
        first = await r.execute(ask(e2e, "Tell me a long story.", maxTokens=3))
        second = await r.execute(ask(e2e, "Tell me a long story.", maxTokens=3))
    assert first.finish_reason == "length"
    assert second.cached


async def test_refusals_and_errors_are_never_stored(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="openai", request=1, refusal="content_filter"))
    e2e.scenario.add(Rule(provider="openai", request=2, status=500))
    async with router(e2e) as r:
        refused = await _maybe(r.execute(ask(e2e)))
        failed = await _maybe(r.execute(ask(e2e)))
        third = await r.execute(ask(e2e))
        fourth = await r.execute(ask(e2e))
    assert refused is not None
    assert failed is not None
    assert not third.cached
    assert fourth.cached
    assert e2e.count("openai") == 3


async def _maybe(call: Any) -> Any:
    try:
        return await call
    except Exception as exc:
        return exc


class Verdict(BaseModel):
    verdict: bool


async def test_a_reply_that_fails_response_model_is_not_stored(e2e: Harness) -> None:
    fmt = {
        "type": "json_schema",
        "name": "City",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
    }
    async with router(e2e) as r:
        for _ in range(2):
            with pytest.raises(OutputValidationError):
                await r.execute(ask(e2e, "Is it true?", responseFormat=fmt), response_model=Verdict)
    assert e2e.count("openai") == 2


async def test_a_cut_stream_is_not_stored_and_a_restart_stores_only_the_final_attempt(
    e2e: Harness,
) -> None:
    e2e.scenario.add(Rule(provider="claude", request=1, cut_after=2))
    async with router(e2e, "claude", retries=2, restartStreams=True) as r:
        first = [c async for c in r.stream(ask(e2e))]
        replay = [c async for c in r.stream(ask(e2e))]
    assert any(c.restart for c in first)
    restarted_at = max(i for i, c in enumerate(first) if c.restart)
    assert [c.chunk for c in replay] == [c.chunk for c in first[restarted_at:]]
    assert not any(c.restart for c in replay)
    assert e2e.count("claude") == 2


async def test_a_stream_abandoned_mid_reply_is_not_stored(e2e: Harness) -> None:
    async with router(e2e, "claude") as r:
        async with r.stream(ask(e2e)) as s:
            async for _ in s:
                break
        full = await _text(r.stream(ask(e2e)))
    assert full
    assert e2e.count("claude") == 2


async def test_a_corrupt_sqlite_entry_is_a_miss_with_a_warning(
    e2e: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.db"
    async with router(e2e, backend=f"sqlite:///{path}") as r:
        await r.execute(ask(e2e))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE automatosx_response_cache SET value = x'00ff00'")
    with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
        async with router(e2e, backend=f"sqlite:///{path}") as r:
            again = await r.execute(ask(e2e))
            third = await r.execute(ask(e2e))
    assert not again.cached
    assert third.cached
    assert "served as a miss" in caplog.text
    assert e2e.count("openai") == 2


async def test_a_foreign_object_in_the_memory_cache_is_a_miss_then_replaced(
    e2e: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    memory = MemoryCache()
    async with router(e2e, backend=memory) as r:
        await r.execute(ask(e2e))
        for h, (key, _, size, expires) in list(memory._entries.items()):
            memory._entries[h] = (key, "someone else's value", size, expires)
        with caplog.at_level(logging.WARNING, logger="automatosx.cache"):
            again = await r.execute(ask(e2e))
        third = await r.execute(ask(e2e))
    assert not again.cached
    assert third.cached
    assert "served as a miss" in caplog.text
    assert e2e.count("openai") == 2


async def test_the_sqlite_cache_may_be_the_request_stores_file(e2e: Harness) -> None:
    async with router(e2e, backend=e2e.store_url) as r:
        await r.execute(ask(e2e))
        assert (await r.execute(ask(e2e))).cached
    assert len(e2e.rows("SELECT * FROM automatosx_response_cache")) == 1


def test_a_bad_cache_argument_is_refused_naming_the_fix(e2e: Harness) -> None:
    with pytest.raises(TypeError, match="cache: expected"):
        router(e2e, backend=42)
    with pytest.raises(ConfigurationError, match="'memory'"):
        router(e2e, backend="memcached://x")


async def test_stats_report_the_hit_rate_and_the_saved_cost(e2e: Harness) -> None:
    from automatosx._report import read_report, report_json, stats_view
    from automatosx.store import open_store

    async with router(e2e) as r:
        first = await r.execute(ask(e2e))
        for _ in range(3):
            await r.execute(ask(e2e))
    async with open_store(e2e.store_url) as store:
        report = await read_report(store)
    assert report.cache is not None
    assert (report.cache.replies, report.cache.hits) == (4, 3)
    assert report.cache.hit_rate == 0.75
    assert first.cost is not None
    assert report.cache.saved_cost == pytest.approx(3 * first.cost)
    (row,) = report.providers  # the deployment's usage is the one reply it made
    assert row.total_tokens == first.tokens.total_tokens
    assert row.cost == pytest.approx(first.cost)
    assert report_json(report)["cache"]["hit_rate"] == 0.75
    from rich.console import Console

    out = Console(width=120, record=True)
    out.print(stats_view(report, width=120))
    assert "3 of 4 replies served from the cache (75.0%)" in out.export_text()


def test_two_router_processes_share_a_redis_cache(e2e: Harness, redis_url: str) -> None:
    import json
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    worker = Path(__file__).with_name("_cache_worker.py")
    prefix = f"t{uuid.uuid4().hex[:8]}:"

    def run() -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, str(worker), redis_url, e2e.base_url("openai"), "Shared?", prefix],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    first = run()  # process 1 pays for the reply
    second = run()  # process 2 is served what process 1 stored
    assert e2e.count("openai") == 1
    assert not first["cached"]
    assert second["cached"]
    assert second["content"] == first["content"]
    assert second["cost"] == 0
    assert second["saved"] == first["cost"]


def test_the_sync_router_takes_a_cache(e2e: Harness) -> None:
    from automatosx import SyncRouter

    r = router(e2e)
    with SyncRouter(r.options, list(r._entries or ()), cache="memory") as sync:
        first = sync.execute(ask(e2e))
        second = sync.execute(ask(e2e))
    assert not first.cached
    assert second.cached
    assert e2e.count("openai") == 1
