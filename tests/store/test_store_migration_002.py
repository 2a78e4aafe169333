"""Migration 002: provider names are free (non-empty); a database written by 001 keeps
every row, index, trigger and foreign key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest
from store_records import T0, attempt_record, new_id, request_record

from automatosx.errors import StoreError
from automatosx.schemas import ProviderHealth, ProviderResponse, TokenUsage
from automatosx.store import SQLiteStore, migrate
from automatosx.store.migrate import migration_files

TABLES = (
    "provider_requests",
    "provider_attempts",
    "provider_responses",
    "stream_chunks",
    "provider_health",
    "provider_metrics",
)
REQUEST_ID = "11111111-1111-4111-8111-111111111111"


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as raw:
        rows = {t: sorted(raw.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}
    raw.close()
    return rows


def schema_objects(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('index', 'trigger')"
        ).fetchall()
    raw.close()
    return {(str(a), str(b), str(c)) for a, b, c in rows}


@pytest.fixture
async def db_at_001(tmp_path: Path) -> Path:
    """A file migrated by 001 only, with rows in every table (metrics by its triggers)."""
    path = tmp_path / "v1.db"
    first = migration_files()[:1]
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        await migrate(conn, first)
        await conn.executescript(
            f"""
            INSERT INTO provider_requests (id, provider, model, messages, max_tokens,
                temperature, stream, state, retry_count, history, created_at, updated_at,
                metadata)
            VALUES ('{REQUEST_ID}', 'claude', 'claude-sonnet-4-5', '[]', 100, 1.0, 1,
                'completed', 1, '["idle"]', {T0}, {T0}, '{{"k": 1}}');
            INSERT INTO provider_attempts (request_id, attempt, provider, model, outcome,
                error_code, duration, created_at)
            VALUES ('{REQUEST_ID}', 1, 'claude', 'claude-sonnet-4-5', 'failure',
                'RATE_LIMITED', 50, {T0}),
                   ('{REQUEST_ID}', 2, 'openai', 'gpt-4o', 'success', NULL, 70, {T0});
            INSERT INTO provider_responses (request_id, provider, model, content,
                input_tokens, output_tokens, total_tokens, finish_reason, duration, cost,
                created_at)
            VALUES ('{REQUEST_ID}', 'openai', 'gpt-4o', 'hi', 3, 4, 7, 'stop', 70, 0.5, {T0});
            INSERT INTO stream_chunks VALUES ('{REQUEST_ID}', 0, 'h', {T0}),
                                             ('{REQUEST_ID}', 1, 'i', {T0});
            INSERT INTO provider_health (provider, status, latency, checked_at)
            VALUES ('gemini', 'down', 12.5, {T0});
            """
        )
    return path


# What later migrations add (005: request scopes and owners; 007: the response cache).
ADDED_SINCE = {
    ("index", "idx_provider_responses_cached", "provider_responses"),
    ("index", "idx_provider_requests_tenant", "provider_requests"),
    ("index", "idx_provider_requests_owner_open", "provider_requests"),
    ("index", "sqlite_autoindex_store_owners_1", "store_owners"),
    ("index", "idx_budget_definitions_budget", "budget_definitions"),  # 006_budgets
    ("index", "idx_budget_spend_request", "budget_spend"),
    ("index", "sqlite_autoindex_budget_totals_1", "budget_totals"),
    ("trigger", "budget_totals_add", "budget_spend"),
}


async def test_every_row_index_and_trigger_survives_002(db_at_001: Path) -> None:
    before, objects_before = dump(db_at_001), schema_objects(db_at_001)
    assert all(before[t] for t in TABLES)
    async with SQLiteStore(db_at_001):
        pass
    after = dump(db_at_001)  # later migrations (003) add columns: compare the 001 ones
    assert {t: [row[: len(before[t][0])] for row in rows] for t, rows in after.items()} == before
    assert schema_objects(db_at_001) - ADDED_SINCE == objects_before


async def test_after_002_a_provider_with_any_name_is_recorded_and_counted(
    db_at_001: Path,
) -> None:
    rid = new_id()
    async with SQLiteStore(db_at_001, durability="sync") as store:
        await store.save_request(request_record(rid, provider="my-llm", model="m1"))
        await store.save_attempt(attempt_record(rid, 1, provider="my-llm", model="m1"))
        await store.save_response(
            ProviderResponse.model_construct(
                request_id=rid,
                provider="my-llm",
                model="m1",
                content="ok",
                tokens=TokenUsage(input_tokens=1, output_tokens=2, total_tokens=3),
                finish_reason="stop",
                duration=9,
                cost=0.125,
                metadata=None,
                created_at=T0,
            )
        )
        await store.save_health_check(
            ProviderHealth.model_construct(
                provider="my-llm",
                status="healthy",
                latency=1.0,
                rate_limit_remaining=None,
                rate_limit_reset=None,
                last_checked=T0,
                error=None,
            )
        )
        metrics = await store.get_provider_metrics("my-llm")
        row = await store.get_request(rid)
        health = await store.get_provider_health("my-llm")
        # the old rows still feed the triggers: one more attempt at openai/gpt-4o
        other = new_id()
        await store.save_request(request_record(other))
        await store.save_attempt(attempt_record(other, 1, provider="openai", model="gpt-4o"))
        openai = await store.get_provider_metrics("openai")
    assert [(m.request_count, m.success_count, m.total_tokens, m.total_cost) for m in metrics] == [
        (1, 1, 3, 0.125)
    ]
    assert row is not None
    assert row.response is not None
    assert row.response.provider == "my-llm"
    assert [h.provider for h in health] == ["my-llm"]
    assert sum(m.request_count for m in openai) == 2


async def test_after_002_foreign_keys_still_hold_and_cascade(db_at_001: Path) -> None:
    async with SQLiteStore(db_at_001, durability="sync") as store:
        with pytest.raises(StoreError, match="FOREIGN KEY constraint failed"):
            await store.save_attempt(attempt_record(new_id(), 1))  # no such request
        assert [f.kind for f in store.drain_write_errors()] == ["save_attempt"]
    with sqlite3.connect(db_at_001) as raw:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("DELETE FROM provider_requests WHERE id = ?", (REQUEST_ID,))
        left = [
            raw.execute(f"SELECT COUNT(*) FROM {t} WHERE request_id = ?", (REQUEST_ID,)).fetchone()
            for t in ("provider_attempts", "provider_responses", "stream_chunks")
        ]
    raw.close()
    assert left == [(0,), (0,), (0,)]


async def test_after_002_an_empty_provider_name_is_still_refused(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "e.db") as store:
        await store.save_request(request_record(provider=""))
        with pytest.raises(StoreError, match="CHECK constraint failed"):
            await store.flush()
