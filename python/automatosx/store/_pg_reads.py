"""The reads of the PostgreSQL store: the :class:`~automatosx.store.StoreReader` methods.

A mixin of :class:`~automatosx.store.postgres.PostgresStore`: each read first waits for the
writes the store made before it (``_drained()``), then runs on a pooled connection in one
read-only snapshot, so the rows of one read agree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date as Date
from typing import Any

from automatosx.schemas import ProviderHealth
from automatosx.store._pg_sql import (
    ATTEMPT_COLUMNS,
    METRICS_COLUMNS,
    REQUEST_COLUMNS,
    RESPONSE_COLUMNS,
    attempt_from_row,
    health_from_row,
    metrics_from_row,
    request_from_row,
    response_from_row,
    where_clause,
)
from automatosx.store._sql import SUMMARY_STATES
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

__all__ = ["PgReads"]


class PgReads:
    """The six reads, over the pool once the writes made so far are committed."""

    _pool: Any | None

    async def _drained(self) -> None:
        raise NotImplementedError

    async def _fetch(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        """Run queries on one pooled connection, in one read-only snapshot, after the writes
        made so far are committed."""
        await self._drained()
        assert self._pool is not None
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return [await conn.fetch(sql, *params) for sql, params in queries]

    async def get_request(self, request_id: str) -> RequestRow | None:
        rows, attempts, responses, chunks = await self._fetch(
            (f"SELECT {REQUEST_COLUMNS} FROM provider_requests WHERE id = $1", (request_id,)),
            (
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts WHERE request_id = $1"
                " ORDER BY attempt",
                (request_id,),
            ),
            (
                f"SELECT {RESPONSE_COLUMNS} FROM provider_responses WHERE request_id = $1",
                (request_id,),
            ),
            (
                "SELECT chunk_index, chunk_content, timestamp FROM stream_chunks"
                " WHERE request_id = $1 ORDER BY chunk_index",
                (request_id,),
            ),
        )
        if not rows:
            return None
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
        n = len(params)
        # The page is chosen once (a CTE) and its children are read in the same snapshot.
        page = (
            f"WITH page AS (SELECT id FROM provider_requests{where}"
            f" ORDER BY created_at DESC, id LIMIT ${n + 1} OFFSET ${n + 2})"
        )
        args = (*params, limit, offset)
        rows, attempts, responses, counts = await self._fetch(
            (
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests{where}"
                f" ORDER BY created_at DESC, id LIMIT ${n + 1} OFFSET ${n + 2}",
                args,
            ),
            (
                f"{page} SELECT {ATTEMPT_COLUMNS} FROM provider_attempts"
                " WHERE request_id IN (SELECT id FROM page) ORDER BY request_id, attempt",
                args,
            ),
            (
                f"{page} SELECT {RESPONSE_COLUMNS} FROM provider_responses"
                " WHERE request_id IN (SELECT id FROM page)",
                args,
            ),
            (
                f"{page} SELECT request_id, COUNT(*) FROM stream_chunks"
                " WHERE request_id IN (SELECT id FROM page) GROUP BY request_id",
                args,
            ),
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
        [rows] = await self._fetch(
            (
                f"SELECT {METRICS_COLUMNS} FROM provider_metrics{where}"
                " ORDER BY date, provider, model",
                params,
            )
        )
        return [metrics_from_row(row) for row in rows]

    async def get_provider_health(
        self, provider: str | None = None, limit: int = 100
    ) -> list[ProviderHealth]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        where, params = where_clause(provider=provider)
        [rows] = await self._fetch(
            (
                "SELECT provider, status, latency, rate_limit_remaining, rate_limit_reset,"
                f" error_message, checked_at FROM provider_health{where}"
                f" ORDER BY checked_at DESC, id DESC LIMIT ${len(params) + 1}",
                (*params, limit),
            )
        )
        return [health_from_row(row) for row in rows]

    async def get_provider_summaries(
        self, *, by: SummaryBy = "deployment"
    ) -> list[ProviderSummary]:
        # The same aggregate SQL as SQLite's (portable), summed up by the shared code.
        attempts_sql, responses_sql, durations_sql = summary_sql(by)
        attempts, responses, durations = await self._fetch(
            (attempts_sql, ()), (responses_sql, ()), (durations_sql, ())
        )
        return summarize(
            (tuple(row) for row in attempts),
            (tuple(row) for row in responses),
            (tuple(row) for row in durations),
        )

    async def _fetch_one(self, sql: str, params: Sequence[Any]) -> list[Any]:
        [rows] = await self._fetch((sql, params))
        return rows

    async def get_latency_histogram(
        self,
        provider: str | None = None,
        *,
        bounds: Sequence[int] | None = None,
        since_ms: int | None = None,
    ) -> list[LatencyHistogram]:
        return await read_latency_histograms(
            self._fetch_one, numbered=True, provider=provider, bounds=bounds, since_ms=since_ms
        )

    async def get_success_series(
        self,
        *,
        bucket_ms: int | None = None,
        since_ms: int | None = None,
        provider: str | None = None,
    ) -> list[SuccessSeries]:
        return await read_success_series(
            self._fetch_one,
            numbered=True,
            bucket_ms=bucket_ms,
            since_ms=since_ms,
            provider=provider,
        )

    async def count_requests_by_state(self) -> dict[str, int]:
        [rows] = await self._fetch((SUMMARY_STATES, ()))
        return {str(row[0]): int(row[1]) for row in rows}
