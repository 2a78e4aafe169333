"""The SQL of the PostgreSQL store: statements, and rows back into records.

Each write is a :class:`Statement` with two forms: ``one`` for a single row (``$1..$n``) and
``many`` for a whole batch of rows in ONE statement, the rows passed as one array per column
and expanded with ``unnest`` (one round trip and one run of the metrics triggers per batch,
instead of one per row). Statements name their columns (never ``SELECT *``), so the column
lists here are the one contract between a query and its decoder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automatosx.schemas import ProviderHealth, ProviderResponse
from automatosx.store.base import AttemptRecord, MetricsRow, RequestRecord

__all__ = [
    "ATTEMPT_COLUMNS",
    "INSERT_ATTEMPT",
    "INSERT_CHUNK",
    "INSERT_HEALTH",
    "INSERT_REQUEST",
    "INSERT_RESPONSE",
    "METRICS_COLUMNS",
    "ORDER",
    "REQUEST_COLUMNS",
    "RESPONSE_COLUMNS",
    "Statement",
    "UPDATE_REQUEST_STATE",
    "attempt_from_row",
    "health_from_row",
    "metrics_from_row",
    "request_from_row",
    "response_from_row",
    "where_clause",
]


@dataclass(frozen=True, slots=True)
class Statement:
    """One kind of write. ``label`` names it in errors (the Store method that made it).
    Values are bound as given: the writer's ``prepare`` turns a
    :class:`~automatosx.store.base.LazyText` into text first, off the caller's path."""

    label: str
    one: str
    many: str
    key: int | None = None  # updates: the id column; only the last update per id is sent

    def columns(self, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """Rows turned into one list per column (the ``many`` form's parameters)."""
        if self.key is not None:
            rows = list({row[self.key]: row for row in rows}.values())  # last update wins
        return [list(column) for column in zip(*rows, strict=True)]

    def row(self, row: Sequence[Any]) -> list[Any]:
        """One row's parameters for the ``one`` form."""
        return list(row)


def _insert(label: str, table: str, columns: str, types: str) -> Statement:
    names = [c.strip() for c in columns.split(",")]
    kinds = [t.strip() for t in types.split(",")]
    assert len(names) == len(kinds), table
    marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(kinds, 1))
    return Statement(
        label,
        f"INSERT INTO {table} ({columns}) VALUES ({marks})",
        f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})",
    )


INSERT_REQUEST = _insert(
    "save_request",
    "provider_requests",
    "id, provider, model, messages, max_tokens, temperature, stream, state, retry_count,"
    " error, error_code, history, created_at, updated_at, metadata",
    "text, text, text, text, int4, float8, bool, text, int4, text, text, text, int8, int8, text",
)
INSERT_ATTEMPT = _insert(
    "save_attempt",
    "provider_attempts",
    "request_id, attempt, provider, model, outcome, error_code, error, status_code, duration,"
    " created_at, kind",
    "text, int4, text, text, text, text, text, int4, int4, int8, text",
)
INSERT_RESPONSE = _insert(
    "save_response",
    "provider_responses",
    "request_id, provider, model, content, input_tokens, output_tokens, total_tokens,"
    " finish_reason, duration, cost, created_at, metadata, tool_calls, cached_input_tokens,"
    " cache_write_tokens, reasoning_tokens",
    "text, text, text, text, int4, int4, int4, text, int4, float8, int8, text, text, int4,"
    " int4, int4",
)
INSERT_CHUNK = _insert(
    "save_stream_chunks",
    "stream_chunks",
    "request_id, chunk_index, chunk_content, timestamp",
    "text, int4, text, int8",
)
INSERT_HEALTH = _insert(
    "save_health_check",
    "provider_health",
    "provider, status, latency, rate_limit_remaining, rate_limit_reset, error_message, checked_at",
    "text, text, float8, int4, int8, text, int8",
)
# Parameters: state, retry_count, history, error, error_code, updated_at, id (as in SQLite).
UPDATE_REQUEST_STATE = Statement(
    "update_request_state",
    "UPDATE provider_requests SET state = $1, retry_count = $2, history = $3, error = $4,"
    " error_code = $5, updated_at = $6 WHERE id = $7",
    "UPDATE provider_requests AS r SET state = u.state, retry_count = u.retry_count,"
    " history = u.history, error = u.error, error_code = u.error_code,"
    " updated_at = u.updated_at"
    " FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::int8[],"
    " $7::text[]) AS u(state, retry_count, history, error, error_code, updated_at, id)"
    " WHERE r.id = u.id",
    key=6,
)
# The order in which a batch runs its statements: every row a statement refers to is
# inserted by an earlier one, so grouping a batch by statement never breaks a foreign key.
ORDER = (
    INSERT_REQUEST,
    INSERT_ATTEMPT,
    INSERT_RESPONSE,
    INSERT_CHUNK,
    INSERT_HEALTH,
    UPDATE_REQUEST_STATE,
)

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


def where_clause(first: int = 1, **filters: object) -> tuple[str, list[object]]:
    """`` WHERE a = $first AND ...`` for the filters that are not None, and their values."""
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", []
    terms = [f"{column} = ${i}" for i, column in enumerate(used, first)]
    return " WHERE " + " AND ".join(terms), list(used.values())


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def request_from_row(row: Sequence[Any]) -> RequestRecord:
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
        metadata=_loads(row[12]),
        error=row[13],
        error_code=row[14],
    )


def attempt_from_row(row: Sequence[Any]) -> AttemptRecord:
    return AttemptRecord(*row)


def response_from_row(row: Sequence[Any]) -> ProviderResponse:
    return ProviderResponse.model_validate(
        {
            "request_id": row[0],
            "provider": row[1],
            "model": row[2],
            "content": row[3],
            "tokens": {
                "input_tokens": row[4],
                "output_tokens": row[5],
                "total_tokens": row[6],
                **{
                    name: value
                    for name, value in (
                        ("cached_input_tokens", row[13]),
                        ("cache_write_tokens", row[14]),
                        ("reasoning_tokens", row[15]),
                    )
                    if value is not None
                },
            },
            "finish_reason": row[7],
            "duration": row[8],
            "cost": row[9],
            "created_at": row[10],
            "metadata": _loads(row[11]),
            "tool_calls": _loads(row[12]) or [],
        }
    )


def metrics_from_row(row: Sequence[Any]) -> MetricsRow:
    return MetricsRow(*row)


def health_from_row(row: Sequence[Any]) -> ProviderHealth:
    return ProviderHealth.model_validate(
        {
            "provider": row[0],
            "status": row[1],
            "latency": row[2],
            "rate_limit_remaining": row[3],
            "rate_limit_reset": row[4],
            "error": row[5],
            "last_checked": row[6],
        }
    )
