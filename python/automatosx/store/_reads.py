"""The reads of a SQL store: the :class:`~automatosx.store.StoreReader` methods, once.

A mixin of :class:`~automatosx.store._engine.SQLStore`: each read first waits for the writes
made before it, then runs its queries through the dialect (``_fetch``; one read-only
snapshot where the database has them), with the dialect's placeholders (``_m(n)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date as Date
from typing import Any

from automatosx.schemas import ProviderHealth
from automatosx.store._dialect import Dialect
from automatosx.store._rows import (
    attempt_from_row,
    health_from_row,
    metrics_from_row,
    request_from_row,
    response_from_row,
)
from automatosx.store._schema import (
    ATTEMPT_COLUMNS,
    METRICS_COLUMNS,
    REQUEST_COLUMNS,
    RESPONSE_COLUMNS,
    SUMMARY_STATES,
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

__all__ = ["StoreReads"]


class StoreReads:
    """The reads, over ``_fetch`` (the engine's: drained writes, then the dialect)."""

    _dialect: Dialect

    async def _fetch(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        raise NotImplementedError

    def _m(self, n: int) -> str:
        return self._dialect.mark(n)

    def _where(self, **filters: object) -> tuple[str, list[object]]:
        """`` WHERE a = <mark> AND ...`` for the filters that are not None, and their values."""
        used = {column: value for column, value in filters.items() if value is not None}
        if not used:
            return "", []
        terms = [f"{column} = {self._m(i)}" for i, column in enumerate(used, 1)]
        return " WHERE " + " AND ".join(terms), list(used.values())

    async def get_request(self, request_id: str) -> RequestRow | None:
        rows, attempts, responses, chunks = await self._fetch(
            (
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests WHERE id = {self._m(1)}",
                (request_id,),
            ),
            (
                f"SELECT {ATTEMPT_COLUMNS} FROM provider_attempts WHERE request_id = {self._m(1)}"
                " ORDER BY attempt",
                (request_id,),
            ),
            (
                f"SELECT {RESPONSE_COLUMNS} FROM provider_responses"
                f" WHERE request_id = {self._m(1)}",
                (request_id,),
            ),
            (
                "SELECT chunk_index, chunk_content, timestamp FROM stream_chunks"
                f" WHERE request_id = {self._m(1)} ORDER BY chunk_index",
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
        where, params = self._where(state=state, provider=provider)
        n = len(params)
        # The page is chosen once (a CTE) and its children are read in the same snapshot.
        page = (
            f"WITH page AS (SELECT id FROM provider_requests{where}"
            f" ORDER BY created_at DESC, id LIMIT {self._m(n + 1)} OFFSET {self._m(n + 2)})"
        )
        args = (*params, limit, offset)
        rows, attempts, responses, counts = await self._fetch(
            (
                f"SELECT {REQUEST_COLUMNS} FROM provider_requests{where}"
                f" ORDER BY created_at DESC, id LIMIT {self._m(n + 1)} OFFSET {self._m(n + 2)}",
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
        where, params = self._where(provider=provider, date=day)
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
        where, params = self._where(provider=provider)
        [rows] = await self._fetch(
            (
                "SELECT provider, status, latency, rate_limit_remaining, rate_limit_reset,"
                f" error_message, checked_at FROM provider_health{where}"
                f" ORDER BY checked_at DESC, id DESC LIMIT {self._m(len(params) + 1)}",
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
            self._fetch_one,
            numbered=self._m(1) != "?",
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
        return await read_success_series(
            self._fetch_one,
            numbered=self._m(1) != "?",
            bucket_ms=bucket_ms,
            since_ms=since_ms,
            provider=provider,
        )

    async def count_requests_by_state(self) -> dict[str, int]:
        [rows] = await self._fetch((SUMMARY_STATES, ()))
        return {str(row[0]): int(row[1]) for row in rows}
