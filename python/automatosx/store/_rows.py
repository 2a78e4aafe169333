"""Records to rows and rows back to records, for every dialect.

A row builder returns the values of its :class:`~automatosx.store._schema.Write`'s columns,
in order; a decoder reads the columns of a ``*_COLUMNS`` list, in order. Values are what both
drivers bind as they are (``stream`` is a bool: SQLite stores it as 0/1).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from automatosx.schemas import ProviderHealth, ProviderResponse, TokenUsage, ToolCall
from automatosx.store.base import AttemptRecord, MetricsRow, RequestRecord

__all__ = [
    "attempt_from_row",
    "attempt_row",
    "dumps",
    "health_from_row",
    "health_row",
    "history_json",
    "loads",
    "metrics_from_row",
    "request_from_row",
    "request_row",
    "response_from_row",
    "response_row",
    "state_row",
]

# A value JSON cannot encode is stored as its str(); what still fails (a cycle, deep
# nesting, a non-string key) is left out by the store and reported, never raised.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


@functools.lru_cache(maxsize=1024)
def _history_json(history: tuple[str, ...]) -> str:
    return dumps(list(history))


def history_json(history: list[str]) -> str:
    """A state history as JSON. Requests share a handful of histories: cached."""
    return _history_json(tuple(history))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- records to rows (the caller's path: cheap) --------------------------------------------


def request_row(record: RequestRecord, metadata: str | None, owner: str) -> tuple[Any, ...]:
    """INSERT_REQUEST's values; ``messages`` may still be a LazyText (bound by the writer)."""
    return (
        record.id,
        record.provider,
        record.model,
        record.messages,
        record.max_tokens,
        record.temperature,
        bool(record.stream),
        record.state,
        record.retry_count,
        record.error,
        record.error_code,
        history_json(record.history),
        record.created_at,
        record.updated_at,
        metadata,
        record.tenant,
        record.user,
        owner,
    )


MESSAGES = 3  # the position of `messages` in request_row


def state_row(
    request_id: str,
    state: str,
    retry_count: int,
    history: list[str],
    error: str | None,
    error_code: str | None,
    updated_at: int,
) -> tuple[Any, ...]:
    """UPDATE_REQUEST_STATE's values (the id last)."""
    return (state, retry_count, history_json(history), error, error_code, updated_at, request_id)


def attempt_row(record: AttemptRecord) -> tuple[Any, ...]:
    return (
        record.request_id,
        record.attempt,
        record.provider,
        record.model,
        record.outcome,
        record.error_code,
        record.error,
        record.status_code,
        record.duration,
        record.created_at,
        record.kind,
    )


def response_row(response: ProviderResponse, metadata: str | None) -> tuple[Any, ...]:
    tokens = response.tokens
    calls = response.tool_calls
    return (
        response.request_id,
        response.provider,
        response.model,
        response.content,
        tokens.input_tokens,
        tokens.output_tokens,
        tokens.total_tokens,
        response.finish_reason,
        response.duration,
        response.cost,
        response.created_at,
        metadata,
        dumps([call.model_dump(mode="json") for call in calls]) if calls else None,
        tokens.cached_input_tokens,
        tokens.cache_write_tokens,
        tokens.reasoning_tokens,
    )


def health_row(health: ProviderHealth) -> tuple[Any, ...]:
    return (
        health.provider,
        health.status,
        health.latency,
        health.rate_limit_remaining,
        health.rate_limit_reset,
        health.error,
        health.last_checked,
    )


# -- rows to records (reads) ----------------------------------------------------------------


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
        metadata=loads(row[12]),
        error=row[13],
        error_code=row[14],
        tenant=row[15],
        user=row[16],
    )


def attempt_from_row(row: Sequence[Any]) -> AttemptRecord:
    return AttemptRecord(*row)


def response_from_row(row: Sequence[Any]) -> ProviderResponse:
    # Constructed, not validated: the row was valid when written, and a user's adapter may
    # have a provider name outside ProviderName.
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
        tool_calls=_tool_calls(row[12]),
    )


def _tool_calls(text: str | None) -> list[ToolCall]:
    if text is None:
        return []
    return [ToolCall.model_construct(**call) for call in json.loads(text)]


def _tokens(row: Sequence[Any]) -> TokenUsage:
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


def metrics_from_row(row: Sequence[Any]) -> MetricsRow:
    return MetricsRow(*row)


def health_from_row(row: Sequence[Any]) -> ProviderHealth:
    return ProviderHealth.model_construct(
        provider=row[0],
        status=row[1],
        latency=row[2],
        rate_limit_remaining=row[3],
        rate_limit_reset=row[4],
        error=row[5],
        last_checked=row[6],
    )
