"""A rich response's tool calls and detailed token counts are written by both stores
(SQLite migration 003, PostgreSQL 002) and read back by ``get_request`` and
``list_requests``; a plain response reads back with none of them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from _servers import PostgresServer, create_database
from automatosx.schemas import ProviderResponse, TokenUsage, ToolCall
from automatosx.store import SQLiteStore
from automatosx.store.base import RequestRecord
from automatosx.store.postgres import PostgresStore

T0 = 1_767_225_600_000


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SQLiteStore | PostgresStore]:
    if request.param == "sqlite":
        opened: SQLiteStore | PostgresStore = SQLiteStore(tmp_path / "r.db", durability="sync")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        opened = PostgresStore(create_database(server), durability="sync")
    async with opened:
        yield opened


def record(rid: str) -> RequestRecord:
    return RequestRecord(
        id=rid,
        provider="claude",
        model="claude-sonnet-4-6",
        messages='[{"role":"user","content":"Weather?"}]',
        max_tokens=100,
        temperature=1.0,
        stream=False,
        state="completed",
        retry_count=0,
        history=["idle", "validating", "requesting", "completed"],
        created_at=T0,
        updated_at=T0,
        metadata=None,
    )


def rich_response(rid: str) -> ProviderResponse:
    return ProviderResponse(
        request_id=rid,
        provider="claude",
        model="claude-sonnet-4-6",
        content="Checking.",
        tokens=TokenUsage(
            input_tokens=1200,
            output_tokens=300,
            total_tokens=1500,
            cached_input_tokens=1000,
            cache_write_tokens=100,
            reasoning_tokens=250,
        ),
        finish_reason="tool_calls",
        duration=40,
        cost=0.001,
        created_at=T0 + 1,
        tool_calls=[
            ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris", "n": [1, 2]}),
            ToolCall(id="toolu_2", name="get_time", arguments={}),
        ],
    )


async def test_tool_calls_and_token_details_round_trip(store: SQLiteStore | PostgresStore) -> None:
    rid = str(uuid.uuid4())
    await store.save_request(record(rid))
    saved = rich_response(rid)
    await store.save_response(saved)
    row = await store.get_request(rid)
    assert row is not None
    assert row.response is not None
    assert row.response.tool_calls == saved.tool_calls
    assert row.response.tokens == saved.tokens
    assert row.response.model_dump() == saved.model_dump()
    [listed] = await store.list_requests()
    assert listed.response is not None
    assert listed.response.tool_calls == saved.tool_calls


async def test_plain_response_reads_back_without_rich_fields(
    store: SQLiteStore | PostgresStore,
) -> None:
    rid = str(uuid.uuid4())
    await store.save_request(record(rid))
    plain = rich_response(rid).model_copy(
        update={
            "tool_calls": [],
            "tokens": TokenUsage(input_tokens=1, output_tokens=2, total_tokens=3),
        }
    )
    await store.save_response(plain)
    row = await store.get_request(rid)
    assert row is not None
    assert row.response is not None
    assert row.response.tool_calls == []
    assert row.response.tokens.cached_input_tokens is None
    assert row.response.model_dump() == plain.model_dump()
