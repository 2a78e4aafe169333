"""The reads of the SQLite store: the :class:`~automatosx.store.StoreReader` methods.

A mixin of :class:`~automatosx.store.sqlite.SQLiteStore`: each read first waits for the writes
made before it (``_reader()``), then runs under the connection's lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date as Date
from functools import partial

import aiosqlite

from automatosx.schemas import ProviderHealth
from automatosx.store._sql import (
    ATTEMPT_COLUMNS,
    METRICS_COLUMNS,
    REQUEST_COLUMNS,
    RESPONSE_COLUMNS,
    SUMMARY_STATES,
    attempt_from_row,
    fetch_in,
    fetchall,
    health_from_row,
    metrics_from_row,
    request_from_row,
    response_from_row,
    where_clause,
)
from automatosx.store._summary import (
    read_latency_histograms,
    read_success_series,
    summarize,
    summary_sql,
)
from automatosx.store.base import (
    AttemptRecord,
    LatencyHistogram,
    MetricsRow,
    ProviderSummary,
    RequestRow,
    SuccessSeries,
    SummaryBy,
)

__all__ = ["SQLiteReads"]


class SQLiteReads:
    """The reads, over the connection ``_reader()`` returns once writes are drained."""

    _lock: asyncio.Lock

    async def _reader(self) -> aiosqlite.Connection:
        raise NotImplementedError

    async def get_request(self, request_id: str) -> RequestRow | None:
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests WHERE id = ?",
                (request_id,),
            )
            if not rows:
                return None
            attempts = await fetchall(
                conn,
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts WHERE request_id = ?"
                " ORDER BY attempt",
                (request_id,),
            )
            responses = await fetchall(
                conn,
                f"SELECT {RESPONSE_COLUMNS} FROM provider_responses WHERE request_id = ?",
                (request_id,),
            )
            chunks = await fetchall(
                conn,
                "SELECT chunk_index, chunk_content, timestamp FROM stream_chunks"
                " WHERE request_id = ? ORDER BY chunk_index",
                (request_id,),
            )
        chunk_rows = [(int(i), str(text), int(ts)) for i, text, ts in chunks]
        return RequestRow(
            request=request_from_row(rows[0]),
            attempts=[attempt_from_row(row) for row in attempts],
            response=response_from_row(responses[0]) if responses else None,
            chunk_count=len(chunk_rows),
            chunks=chunk_rows,
        )

    async def list_requests(
        self,
        *,
        state: str | None = None,
        provider: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RequestRow]:
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, not {limit} and {offset}")
        where, params = where_clause(state=state, provider=provider)
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests{where}"
                " ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            ids = [str(row[0]) for row in rows]
            attempts = await fetch_in(
                conn,
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts",
                ids,
                " ORDER BY request_id, attempt",
            )
            responses = await fetch_in(
                conn, f"SELECT {RESPONSE_COLUMNS} FROM provider_responses", ids, ""
            )
            counts = await fetch_in(
                conn, "SELECT request_id, COUNT(*) FROM stream_chunks", ids, " GROUP BY request_id"
            )
        attempts_by_id: dict[str, list[AttemptRecord]] = {}
        for row in attempts:
            attempts_by_id.setdefault(str(row[0]), []).append(attempt_from_row(row))
        response_by_id = {str(row[0]): response_from_row(row) for row in responses}
        count_by_id = {str(row[0]): int(row[1]) for row in counts}
        return [
            RequestRow(
                request=request_from_row(row),
                attempts=attempts_by_id.get(str(row[0]), []),
                response=response_by_id.get(str(row[0])),
                chunk_count=count_by_id.get(str(row[0]), 0),
            )
            for row in rows
        ]

    async def get_provider_metrics(
        self, provider: str | None = None, date: str | Date | None = None
    ) -> list[MetricsRow]:
        day = date.isoformat() if isinstance(date, Date) else date
        where, params = where_clause(provider=provider, date=day)
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                f"SELECT {METRICS_COLUMNS} FROM provider_metrics{where}"
                " ORDER BY date, provider, model",
                params,
            )
        return [metrics_from_row(row) for row in rows]

    async def get_provider_summaries(
        self, *, by: SummaryBy = "deployment"
    ) -> list[ProviderSummary]:
        attempts_sql, responses_sql, durations_sql = summary_sql(by)
        conn = await self._reader()
        async with self._lock:
            attempts = await fetchall(conn, attempts_sql)
            responses = await fetchall(conn, responses_sql)
            durations = await fetchall(conn, durations_sql)
        return summarize(
            (tuple(row) for row in attempts),
            (tuple(row) for row in responses),
            (tuple(row) for row in durations),
        )

    async def count_requests_by_state(self) -> dict[str, int]:
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(conn, SUMMARY_STATES)
        return {str(row[0]): int(row[1]) for row in rows}

    async def get_latency_histogram(
        self,
        provider: str | None = None,
        *,
        bounds: Sequence[int] | None = None,
        since_ms: int | None = None,
    ) -> list[LatencyHistogram]:
        conn = await self._reader()
        async with self._lock:
            return await read_latency_histograms(
                partial(fetchall, conn),
                numbered=False,
                provider=provider,
                bounds=bounds,
                since_ms=since_ms,
            )

    async def get_success_series(
        self,
        *,
        bucket_ms: int | None = None,
        since_ms: int | None = None,
        provider: str | None = None,
    ) -> list[SuccessSeries]:
        conn = await self._reader()
        async with self._lock:
            return await read_success_series(
                partial(fetchall, conn),
                numbered=False,
                bucket_ms=bucket_ms,
                since_ms=since_ms,
                provider=provider,
            )

    async def get_provider_health(
        self, provider: str | None = None, limit: int = 100
    ) -> list[ProviderHealth]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        where, params = where_clause(provider=provider)
        conn = await self._reader()
        async with self._lock:
            rows = await fetchall(
                conn,
                "SELECT provider, status, latency, rate_limit_remaining, rate_limit_reset,"
                f" error_message, checked_at FROM provider_health{where}"
                " ORDER BY checked_at DESC, id DESC LIMIT ?",
                (*params, limit),
            )
        return [health_from_row(row) for row in rows]
