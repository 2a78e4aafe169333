"""Each attempt row records its deployment's provider kind (migration 004 / PostgreSQL 003),
and the summaries add up by deployment (the default) or by kind, the same in both backends.

Rows written before kinds were recorded read back ``kind=None`` and count as their provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from store_records import attempt_record, new_id, request_record, response

from _servers import PostgresServer, create_database
from automatosx import Router
from automatosx.emulator import EmulatorServer, Rule, Scenario
from automatosx.store import AttemptRecord, SQLiteStore, migrate, open_store
from automatosx.store.migrate import migration_files
from automatosx.store.postgres import PostgresStore

API_KEY = "sk-test-kind-0123456789abcdefghij"
GPT = "gpt-4o"
REQUEST = {"messages": [{"role": "user", "content": "Hello there"}]}


def openai(base_url: str, dep_id: str) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": dep_id,
        "apiKey": API_KEY,
        "baseUrl": base_url,
        "timeout": 5_000,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": [GPT],
        "defaultModel": GPT,
    }


@pytest.fixture
def failing() -> Iterator[EmulatorServer]:
    """An emulator whose openai endpoint always answers 500."""
    with EmulatorServer(Scenario([Rule(provider="openai", status=500)])) as server:
        yield server


@pytest.fixture
def healthy() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


async def test_a_router_records_the_deployment_id_and_its_kind_on_every_attempt(
    tmp_path: Path, failing: EmulatorServer, healthy: EmulatorServer
) -> None:
    url = f"sqlite:///{tmp_path / 'kind.db'}"
    configs = [
        openai(failing.openai_base_url, "openai-a"),
        openai(healthy.openai_base_url, "openai-b"),
    ]
    options = {
        "primaryProvider": "openai-a",
        "fallbackProviders": ["openai-b"],
        "backoffBaseMs": 1,
        "backoffCapMs": 2,
    }
    async with Router(options, configs, store=url) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider == "openai-b"
    async with open_store(url) as store:
        row = await store.get_request(reply.request_id)
        assert row is not None
        assert [(a.provider, a.kind, a.outcome) for a in row.attempts] == [
            ("openai-a", "openai", "failure"),
            ("openai-b", "openai", "success"),
        ]
        per_deployment = await store.get_provider_summaries()
        per_kind = await store.get_provider_summaries(by="kind")
    assert [(s.provider, s.attempts, s.successes) for s in per_deployment] == [
        ("openai-a", 1, 0),
        ("openai-b", 1, 1),
    ]
    [openai_kind] = per_kind
    assert (openai_kind.provider, openai_kind.model) == ("openai", GPT)
    assert (openai_kind.attempts, openai_kind.successes, openai_kind.requests) == (2, 1, 1)
    assert openai_kind.retries == 1  # the second try of the request, at another deployment
    assert openai_kind.total_tokens == reply.tokens.total_tokens  # the response joins its kind
    assert openai_kind.fallbacks == 1  # served by openai-b for a request that asked openai-a


async def write_kinds(store: Any) -> None:
    """Two deployments of openai with kinds, a legacy row without one, a claude request."""
    a, b, c, d = new_id(), new_id(), new_id(), new_id()
    for rid, provider in ((a, "openai-eu"), (b, "openai-us"), (c, "openai"), (d, "claude")):
        await store.save_request(request_record(rid, provider=provider, state="completed"))
    await store.save_attempt(
        attempt_record(a, 1, provider="openai-eu", model=GPT, kind="openai", duration=10)
    )
    await store.save_attempt(
        attempt_record(b, 1, provider="openai-us", model=GPT, kind="openai", duration=30)
    )
    await store.save_response(response(b, provider="openai-us", model=GPT, cost=0.5))
    await store.save_attempt(attempt_record(c, 1, provider="openai", model=GPT, duration=20))
    await store.save_response(response(c, provider="openai", model=GPT, cost=0.25))
    await store.save_attempt(attempt_record(d, 1, kind="claude", outcome="failure"))


async def test_summaries_by_kind_add_up_deployments_and_count_kindless_rows_as_their_provider(
    tmp_path: Path,
) -> None:
    async with SQLiteStore(tmp_path / "k.db") as store:
        await write_kinds(store)
        per_deployment = await store.get_provider_summaries()
        per_kind = await store.get_provider_summaries(by="kind")
    assert [s.provider for s in per_deployment] == ["claude", "openai", "openai-eu", "openai-us"]
    assert [(s.provider, s.attempts, s.successes) for s in per_kind] == [
        ("claude", 1, 0),
        ("openai", 3, 3),
    ]
    openai_kind = per_kind[1]
    assert openai_kind.cost == pytest.approx(0.75)
    assert (openai_kind.p50_ms, openai_kind.requests) == (20, 3)


async def test_an_attempt_built_without_a_kind_reads_back_none(tmp_path: Path) -> None:
    rid = new_id()
    async with SQLiteStore(tmp_path / "p.db") as store:
        await store.save_request(request_record(rid))
        # positional, as before kinds existed: kind is the last field and defaults to None
        await store.save_attempt(
            AttemptRecord(rid, 1, "claude", "m", "success", None, None, None, 5, 1)
        )
        row = await store.get_request(rid)
    assert row is not None
    assert [(a.provider, a.kind) for a in row.attempts] == [("claude", None)]


async def test_a_database_written_before_kinds_keeps_its_attempts_as_their_provider(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    before = [f for f in migration_files() if not f[0].startswith("004")]
    rid = new_id()
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        await migrate(conn, before)
        await conn.execute(
            "INSERT INTO provider_requests (id, provider, model, messages, temperature, stream,"
            " state, retry_count, history, created_at, updated_at)"
            " VALUES (?, 'my-llm', 'm', '[]', 1.0, 0, 'completed', 0, '[]', 1, 1)",
            (rid,),
        )
        await conn.execute(
            "INSERT INTO provider_attempts (request_id, attempt, provider, model, outcome,"
            " duration, created_at) VALUES (?, 1, 'my-llm', 'm', 'success', 7, 1)",
            (rid,),
        )
    async with SQLiteStore(path) as store:  # applies 004
        row = await store.get_request(rid)
        per_kind = await store.get_provider_summaries(by="kind")
    assert row is not None
    assert [(a.provider, a.kind) for a in row.attempts] == [("my-llm", None)]
    assert [(s.provider, s.attempts) for s in per_kind] == [("my-llm", 1)]


async def test_an_unknown_grouping_is_a_value_error_naming_by(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "v.db") as store:
        with pytest.raises(ValueError, match="by must be 'deployment' or 'kind', got 'model'"):
            await store.get_provider_summaries(by="model")  # type: ignore[arg-type]


async def test_postgres_records_kinds_and_groups_by_kind_as_sqlite_does(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    async with PostgresStore(create_database(postgres_server)) as pg_store:
        await write_kinds(pg_store)
        rid = new_id()
        await pg_store.save_request(request_record(rid))
        await pg_store.save_attempt(attempt_record(rid, kind="claude"))
        await pg_store.save_attempt(attempt_record(rid, 2))  # no kind: NULL
        await pg_store.flush()
        row = await pg_store.get_request(rid)
        pg = [await pg_store.get_provider_summaries(by=by) for by in ("deployment", "kind")]
    async with SQLiteStore(tmp_path / "same.db") as sqlite_store:
        await write_kinds(sqlite_store)
        await sqlite_store.save_request(request_record(rid))
        await sqlite_store.save_attempt(attempt_record(rid, kind="claude"))
        await sqlite_store.save_attempt(attempt_record(rid, 2))
        lite = [await sqlite_store.get_provider_summaries(by=by) for by in ("deployment", "kind")]
    assert row is not None
    assert [a.kind for a in row.attempts] == ["claude", None]
    assert pg == lite
    assert [s.provider for s in pg[1]] == ["claude", "openai"]
