"""The SQL of the SQLite store: statements, and rows back into records.

Statements name their columns (never ``SELECT *``), so the column lists here are the one
contract between a query and its decoder.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from automatosx.schemas import ProviderHealth, ProviderResponse, TokenUsage, ToolCall
from automatosx.store.base import AttemptRecord, MetricsRow, RequestRecord

__all__ = [
    "ATTEMPT_COLUMNS",
    "INSERT_ATTEMPT",
    "INSERT_CHUNK",
    "INSERT_HEALTH",
    "INSERT_REQUEST",
    "INSERT_RESPONSE",
    "LABELS",
    "METRICS_COLUMNS",
    "REQUEST_COLUMNS",
    "RESPONSE_COLUMNS",
    "SUMMARY_STATES",
    "UPDATE_REQUEST_STATE",
    "attempt_from_row",
    "dumps",
    "history_json",
    "fetch_in",
    "fetchall",
    "health_from_row",
    "json_or_none",
    "loads",
    "metrics_from_row",
    "request_from_row",
    "response_from_row",
    "rich_response_values",
    "tool_calls_from_json",
    "where_clause",
]

INSERT_REQUEST = (
    "INSERT INTO provider_requests (id, provider, model, messages, max_tokens, temperature,"
    " stream, state, retry_count, error, error_code, history, created_at, updated_at, metadata)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_REQUEST_STATE = (
    "UPDATE provider_requests SET state = ?, retry_count = ?, history = ?, error = ?,"
    " error_code = ?, updated_at = ? WHERE id = ?"
)
INSERT_ATTEMPT = (
    "INSERT INTO provider_attempts (request_id, attempt, provider, model, outcome, error_code,"
    " error, status_code, duration, created_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_RESPONSE = (
    "INSERT INTO provider_responses (request_id, provider, model, content, input_tokens,"
    " output_tokens, total_tokens, finish_reason, duration, cost, created_at, metadata,"
    " tool_calls, cached_input_tokens, cache_write_tokens, reasoning_tokens)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_CHUNK = (
    "INSERT INTO stream_chunks (request_id, chunk_index, chunk_content, timestamp)"
    " VALUES (?, ?, ?, ?)"
)
INSERT_HEALTH = (
    "INSERT INTO provider_health (provider, status, latency, rate_limit_remaining,"
    " rate_limit_reset, error_message, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Also the order in which a batch runs its statements (all rows of one statement at once, in
# FIFO order among themselves): every row a statement refers to is inserted by an earlier one,
# so grouping never breaks a foreign key, and a batch costs one trip per statement, not per row.
LABELS = {
    INSERT_REQUEST: "save_request",
    INSERT_ATTEMPT: "save_attempt",
    INSERT_RESPONSE: "save_response",
    INSERT_CHUNK: "save_stream_chunks",
    INSERT_HEALTH: "save_health_check",
    UPDATE_REQUEST_STATE: "update_request_state",
}

REQUEST_COLUMNS = (
    "id, provider, model, messages, max_tokens, temperature, stream, state, retry_count,"
    " history, created_at, updated_at, metadata, error, error_code"
)
ATTEMPT_COLUMNS = (
    "request_id, attempt, provider, model, outcome, error_code, error, status_code, duration,"
    " created_at, kind"
)
RESPONSE_COLUMNS = (
    "request_id, provider, model, content, input_tokens, output_tokens, total_tokens,"
    " finish_reason, duration, cost, created_at, metadata, tool_calls, cached_input_tokens,"
    " cache_write_tokens, reasoning_tokens"
)
METRICS_COLUMNS = (
    "provider, model, date, request_count, success_count, failure_count, total_input_tokens,"
    " total_output_tokens, total_tokens, total_cost, total_duration"
)
SUMMARY_STATES = "SELECT state, COUNT(*) FROM provider_requests GROUP BY state"
IN_BATCH = 500  # ids per `IN (...)` query, well under SQLite's variable limit

# A value JSON cannot encode is stored as its str(); what still fails (a cycle, deep
# nesting, a non-string key) is left out by the store and reported, never raised.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


@functools.lru_cache(maxsize=1024)
def _history_json(history: tuple[str, ...]) -> str:
    return dumps(list(history))


def history_json(history: list[str]) -> str:
    """A state history as JSON. Requests share a handful of histories: cached."""
    return _history_json(tuple(history))


def json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else dumps(value)


# -- reads --------------------------------------------------------------------------------


async def fetchall(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    return list(await conn.execute_fetchall(sql, params))


async def fetch_in(
    conn: aiosqlite.Connection, select: str, ids: list[str], tail: str
) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    for start in range(0, len(ids), IN_BATCH):
        part = ids[start : start + IN_BATCH]
        marks = ", ".join("?" * len(part))
        rows += await fetchall(conn, f"{select} WHERE request_id IN ({marks}){tail}", part)
    return rows


def where_clause(**filters: object) -> tuple[str, list[object]]:
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{column} = ?" for column in used), list(used.values())


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def request_from_row(row: sqlite3.Row) -> RequestRecord:
    return RequestRecord(
        id=row[0],
        provider=row[1],
        model=row[2],
        messages=row[3],
        max_tokens=row[4],
        temperature=row[5],
        stream=bool(row[6]),
        state=row[7],
        retry_count=row[8],
        history=json.loads(row[9]),
        created_at=row[10],
        updated_at=row[11],
        metadata=loads(row[12]),
        error=row[13],
        error_code=row[14],
    )


def attempt_from_row(row: sqlite3.Row) -> AttemptRecord:
    return AttemptRecord(*row)


def rich_response_values(
    response: ProviderResponse,
) -> tuple[str | None, int | None, int | None, int | None]:
    """The columns of migration 003 (PostgreSQL 002) for a response: its tool calls as a
    JSON array (None when it made none) and the detailed token counts."""
    calls = response.tool_calls
    tokens = response.tokens
    return (
        dumps([call.model_dump(mode="json") for call in calls]) if calls else None,
        tokens.cached_input_tokens,
        tokens.cache_write_tokens,
        tokens.reasoning_tokens,
    )


def tool_calls_from_json(text: str | None) -> list[ToolCall]:
    """Tool calls read back from their JSON column (constructed: valid when written)."""
    if text is None:
        return []
    return [ToolCall.model_construct(**call) for call in json.loads(text)]


def response_from_row(row: sqlite3.Row) -> ProviderResponse:
    # Constructed, not validated: the row was valid when written, and a user's adapter may
    # have a provider name outside ProviderName (migration 002).
    return ProviderResponse.model_construct(
        request_id=row[0],
        provider=row[1],
        model=row[2],
        content=row[3],
        tokens=_tokens(row),
        finish_reason=row[7],
        duration=row[8],
        cost=row[9],
        created_at=row[10],
        metadata=loads(row[11]),
        tool_calls=tool_calls_from_json(row[12]),
    )


def _tokens(row: sqlite3.Row) -> TokenUsage:
    details = {
        name: value
        for name, value in (
            ("cached_input_tokens", row[13]),
            ("cache_write_tokens", row[14]),
            ("reasoning_tokens", row[15]),
        )
        if value is not None
    }  # only what was reported, so a dump of the row matches the response that was saved
    return TokenUsage.model_construct(
        input_tokens=row[4], output_tokens=row[5], total_tokens=row[6], **details
    )


def metrics_from_row(row: sqlite3.Row) -> MetricsRow:
    return MetricsRow(*row)


def health_from_row(row: sqlite3.Row) -> ProviderHealth:
    return ProviderHealth.model_construct(
        provider=row[0],
        status=row[1],
        latency=row[2],
        rate_limit_remaining=row[3],
        rate_limit_reset=row[4],
        error=row[5],
        last_checked=row[6],
    )
