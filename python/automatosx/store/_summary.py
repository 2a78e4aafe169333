"""The reader's figures that every backend computes the same way: shared SQL and logic.

* :func:`summarize`: per provider/model summaries. A backend runs the three aggregate
  queries of :func:`summary_sql` (attempts, responses, successful durations, each by
  deployment or kind, and model) and hands the rows here; the percentiles are computed in
  Python so the figures are the same whatever the database.
* :func:`read_latency_histograms` and :func:`read_success_series`: the charts of
  ``automatosx stats``. A backend passes a ``fetch(sql, params) -> rows`` and its placeholder
  style; the SQL here is portable (SQLite 3.25+, PostgreSQL) and aggregates in the database:
  a ``GROUP BY`` for the counts, ``ROW_NUMBER()`` for the percentiles (only the rows at the
  percentile ranks come back), ``MIN``/``MAX`` to fit the bounds and the time step.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from automatosx.store.base import (
    LatencyBucket,
    LatencyHistogram,
    ProviderSummary,
    SuccessPoint,
    SuccessSeries,
    SummaryBy,
    check_summary_by,
)

__all__ = [
    "GROUP_COLUMN",
    "MAX_SERIES_POINTS",
    "Fetch",
    "auto_bounds",
    "auto_bucket_ms",
    "percentile",
    "read_latency_histograms",
    "read_success_series",
    "summarize",
    "summary_sql",
]

GROUP_COLUMN = "provider"
"""The ``provider_attempts`` column the charts group by: ``deployment`` once attempts record
one (the figures' ``provider`` field then holds the deployment id)."""
HISTOGRAM_BUCKETS = 10  # buckets of a fitted histogram, at most
SERIES_POINTS = 40  # points of a series with a fitted step, at most
MAX_SERIES_POINTS = 10_000  # points of any series: a larger one is refused, not built
_SECOND, _MINUTE, _HOUR, _DAY = 1_000, 60_000, 3_600_000, 86_400_000
_STEPS_MS = (
    100,
    200,
    500,
    *(n * _SECOND for n in (1, 2, 5, 10, 15, 30)),
    *(n * _MINUTE for n in (1, 2, 5, 10, 15, 30)),
    *(n * _HOUR for n in (1, 2, 3, 6, 12)),
    *(n * _DAY for n in (1, 2, 7)),
)
_PERMILLES = (500, 950, 990)  # p50, p95, p99, as integers so SQL and Python rank alike

Fetch = Callable[[str, Sequence[Any]], Awaitable[Sequence[Sequence[Any]]]]
"""``fetch(sql, params) -> rows``: runs one query of a backend's reader."""

AttemptTotals = tuple[str, str, int, int, int]
"""``(provider, model, attempts, successes, distinct requests)``."""
ResponseTotals = tuple[str, str, int, int, int, float, int]
"""``(provider, model, input tokens, output tokens, total tokens, cost, fallbacks served)``."""


# What a summary groups attempts by: the deployment id, or its kind. Rows written before
# kinds were recorded have a NULL kind and count as their deployment id.
_ATTEMPT_GROUP = {"deployment": "provider", "kind": "COALESCE(kind, provider)"}
# A response row names only its deployment: its kind is that of the request's attempts there.
_RESPONSE_GROUP = {
    "deployment": "s.provider",
    "kind": "COALESCE((SELECT MAX(a.kind) FROM provider_attempts a"
    " WHERE a.request_id = s.request_id AND a.provider = s.provider), s.provider)",
}


def summary_sql(by: SummaryBy = "deployment") -> tuple[str, str, str]:
    """The portable (SQLite, PostgreSQL) queries whose rows :func:`summarize` takes:
    attempt totals, response totals and successful durations, grouped ``by`` deployment
    or kind. ``fallbacks`` compares deployments either way (served by another deployment
    than the request asked for). Raises ``ValueError`` for another ``by``."""
    check_summary_by(by)
    group, served_by = _ATTEMPT_GROUP[by], _RESPONSE_GROUP[by]
    return (
        f"SELECT {group}, model, COUNT(*), SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END),"
        " COUNT(DISTINCT request_id) FROM provider_attempts GROUP BY 1, 2",
        f"SELECT {served_by}, s.model, SUM(s.input_tokens), SUM(s.output_tokens),"
        " SUM(s.total_tokens), COALESCE(SUM(s.cost), 0),"
        " SUM(CASE WHEN s.provider <> r.provider THEN 1 ELSE 0 END)"
        " FROM provider_responses s JOIN provider_requests r ON r.id = s.request_id"
        " WHERE NOT s.cached GROUP BY 1, 2",  # a served reply is not a deployment's usage
        f"SELECT {group}, model, duration FROM provider_attempts WHERE outcome = 'success'",
    )


def percentile(values: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated; ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def summarize(
    attempts: Iterable[AttemptTotals],
    responses: Iterable[ResponseTotals],
    durations: Iterable[tuple[str, str, int]],
) -> list[ProviderSummary]:
    """One :class:`ProviderSummary` per provider/model seen in either table, sorted."""
    by_attempts = {(str(r[0]), str(r[1])): r[2:] for r in attempts}
    by_responses = {(str(r[0]), str(r[1])): r[2:] for r in responses}
    latencies: dict[tuple[str, str], list[int]] = {}
    for provider, model, duration in durations:
        latencies.setdefault((str(provider), str(model)), []).append(int(duration))
    summaries = []
    for key in sorted(set(by_attempts) | set(by_responses)):
        tries, ok, requests = by_attempts.get(key, (0, 0, 0))
        tokens_in, tokens_out, tokens, cost, fallbacks = by_responses.get(key, (0, 0, 0, 0.0, 0))
        values = latencies.get(key, [])
        summaries.append(
            ProviderSummary(
                provider=key[0],
                model=key[1],
                attempts=int(tries),
                successes=int(ok or 0),
                failures=int(tries) - int(ok or 0),
                requests=int(requests),
                retries=int(tries) - int(requests),
                fallbacks=int(fallbacks or 0),
                p50_ms=percentile(values, 0.50),
                p95_ms=percentile(values, 0.95),
                p99_ms=percentile(values, 0.99),
                input_tokens=int(tokens_in or 0),
                output_tokens=int(tokens_out or 0),
                total_tokens=int(tokens or 0),
                cost=float(cost or 0.0),
            )
        )
    return summaries


# -- the charts ------------------------------------------------------------------------


class _Params:
    """Collects a query's parameters and writes their placeholders (``?`` or ``$n``)."""

    def __init__(self, numbered: bool) -> None:
        self.values: list[Any] = []
        self._numbered = numbered

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self._numbered else "?"


def _where(mark: _Params, *, provider: str | None, since_ms: int | None, success_only: bool) -> str:
    terms = ["outcome = 'success'"] if success_only else []
    if provider is not None:
        terms.append(f"{GROUP_COLUMN} = {mark(provider)}")
    if since_ms is not None:
        terms.append(f"created_at >= {mark(int(since_ms))}")
    return " WHERE " + " AND ".join(terms) if terms else ""


def _check_bounds(bounds: Sequence[int]) -> tuple[int, ...]:
    values = tuple(bounds)
    ok = all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in values)
    if not values or not ok or any(a >= b for a, b in itertools.pairwise(values)):
        raise ValueError(
            f"bounds must be strictly increasing positive integers (ms), got {list(values)!r}"
        )
    return values


def auto_bounds(lowest: int, highest: int, buckets: int = HISTOGRAM_BUCKETS) -> tuple[int, ...]:
    """Bounds splitting ``lowest..highest`` (ms) into at most ``buckets`` log-spaced buckets,
    each bound rounded to two significant digits: the first bucket holds ``lowest``, the
    last ``highest`` (when all durations are one, the first holds them all)."""
    start, stop = max(lowest, 1), highest + 1
    if highest <= start:
        return (stop if highest >= 1 else 1,)
    bounds: list[int] = []
    for i in range(1, buckets):
        edge = start * (stop / start) ** (i / buckets)
        digits = max(0, math.floor(math.log10(edge)) - 1)
        rounded = round(edge / 10**digits) * 10**digits
        if start < rounded <= highest and (not bounds or rounded > bounds[-1]):
            bounds.append(rounded)
    return tuple(bounds) or (highest,)


def _interpolate(values: dict[int, int], n: int, permille: int) -> float:
    """The linearly interpolated quantile from the values at its two ranks (as
    :func:`percentile` computes it from every value)."""
    lo, frac = divmod(permille * (n - 1), 1000)
    low = values[lo]
    high = values.get(lo + 1, low)
    return low + (high - low) * frac / 1000


async def read_latency_histograms(
    fetch: Fetch,
    *,
    numbered: bool,
    provider: str | None = None,
    bounds: Sequence[int] | None = None,
    since_ms: int | None = None,
) -> list[LatencyHistogram]:
    """:meth:`StoreReader.get_latency_histogram` over ``fetch`` (``numbered``: ``$n``
    placeholders, else ``?``)."""
    filters: dict[str, Any] = {"provider": provider, "since_ms": since_ms, "success_only": True}
    if bounds is None:
        mark = _Params(numbered)
        where = _where(mark, **filters)
        [(lowest, highest)] = await fetch(
            f"SELECT MIN(duration), MAX(duration) FROM provider_attempts{where}", mark.values
        )
        if lowest is None:
            return []
        edges = auto_bounds(int(lowest), int(highest))
    else:
        edges = _check_bounds(bounds)
    mark = _Params(numbered)
    where = _where(mark, **filters)
    cases = " ".join(f"WHEN duration < {edge} THEN {i}" for i, edge in enumerate(edges))
    counted = await fetch(
        f"SELECT {GROUP_COLUMN}, CASE {cases} ELSE {len(edges)} END, COUNT(*)"
        f" FROM provider_attempts{where} GROUP BY 1, 2",
        mark.values,
    )
    mark = _Params(numbered)
    where = _where(mark, **filters)
    ranks = " OR ".join(
        f"idx = ({p} * (n - 1)) / 1000 OR idx = ({p} * (n - 1)) / 1000 + 1" for p in _PERMILLES
    )
    ranked = await fetch(
        f"SELECT grp, n, idx, duration FROM (SELECT {GROUP_COLUMN} AS grp, duration,"
        f" ROW_NUMBER() OVER (PARTITION BY {GROUP_COLUMN} ORDER BY duration) - 1 AS idx,"
        f" COUNT(*) OVER (PARTITION BY {GROUP_COLUMN}) AS n"
        f" FROM provider_attempts{where}) ranked WHERE {ranks}",
        mark.values,
    )
    return _histograms(edges, counted, ranked)


def _histograms(
    edges: tuple[int, ...],
    counted: Iterable[Sequence[Any]],
    ranked: Iterable[Sequence[Any]],
) -> list[LatencyHistogram]:
    counts: dict[str, list[int]] = {}
    for name, index, count in counted:
        counts.setdefault(str(name), [0] * (len(edges) + 1))[int(index)] = int(count)
    at_rank: dict[str, tuple[int, dict[int, int]]] = {}
    for name, n, index, duration in ranked:
        at_rank.setdefault(str(name), (int(n), {}))[1][int(index)] = int(duration)
    lowers = (0, *edges)
    uppers: tuple[int | None, ...] = (*edges, None)
    histograms = []
    for name in sorted(counts):
        n, values = at_rank.get(name, (0, {}))
        p50, p95, p99 = (_interpolate(values, n, p) if n else None for p in _PERMILLES)
        buckets = tuple(map(LatencyBucket, lowers, uppers, counts[name]))
        histograms.append(LatencyHistogram(name, buckets, p50, p95, p99))
    return histograms


def auto_bucket_ms(first_ms: int, last_ms: int, points: int = SERIES_POINTS) -> int:
    """The smallest round step (100 ms, 200 ms, 500 ms, 1 s... 1 min... 1 h... 7 days, then
    whole weeks)
    that covers ``first_ms..last_ms`` in at most ``points`` buckets."""
    for step in _STEPS_MS:
        if last_ms // step - first_ms // step + 1 <= points:
            return step
    week = 7 * _DAY
    return week * math.ceil((last_ms - first_ms + 1) / (week * (points - 1)))


async def read_success_series(
    fetch: Fetch,
    *,
    numbered: bool,
    bucket_ms: int | None = None,
    since_ms: int | None = None,
    provider: str | None = None,
) -> list[SuccessSeries]:
    """:meth:`StoreReader.get_success_series` over ``fetch`` (``numbered``: ``$n``
    placeholders, else ``?``)."""
    if bucket_ms is not None and (
        not isinstance(bucket_ms, int) or isinstance(bucket_ms, bool) or bucket_ms <= 0
    ):
        raise ValueError(f"bucket_ms must be a positive integer (ms), got {bucket_ms!r}")
    filters: dict[str, Any] = {"provider": provider, "since_ms": since_ms, "success_only": False}
    mark = _Params(numbered)
    where = _where(mark, **filters)
    [(first, last)] = await fetch(
        f"SELECT MIN(created_at), MAX(created_at) FROM provider_attempts{where}", mark.values
    )
    if first is None:
        return []
    step = auto_bucket_ms(int(first), int(last)) if bucket_ms is None else bucket_ms
    points = int(last) // step - int(first) // step + 1
    if points > MAX_SERIES_POINTS:
        raise ValueError(
            f"bucket_ms={step} makes {points:,} points over the recorded window (at most"
            f" {MAX_SERIES_POINTS:,}): pass a larger bucket_ms or a later since_ms"
        )
    mark = _Params(numbered)
    where = _where(mark, **filters)
    rows = await fetch(
        f"SELECT {GROUP_COLUMN}, created_at / {step},"
        " SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN outcome = 'success' THEN 0 ELSE 1 END)"
        f" FROM provider_attempts{where} GROUP BY 1, 2",
        mark.values,
    )
    return _series(step, rows)


def _series(step: int, rows: Iterable[Sequence[Any]]) -> list[SuccessSeries]:
    """Dense series over the buckets the rows span (not the first read's window: a row
    written between the two queries widens it rather than falling outside)."""
    cells: dict[str, dict[int, tuple[int, int]]] = {}
    for name, index, ok, failed in rows:
        cells.setdefault(str(name), {})[int(index)] = (int(ok), int(failed))
    if not cells:
        return []
    first = min(min(by_index) for by_index in cells.values())
    last = max(max(by_index) for by_index in cells.values())
    return [
        SuccessSeries(
            name,
            step,
            tuple(
                SuccessPoint(index * step, *cells[name].get(index, (0, 0)))
                for index in range(first, last + 1)
            ),
        )
        for name in sorted(cells)
    ]
