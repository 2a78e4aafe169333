"""Per provider/model summaries from aggregate rows: shared by every backend's reader.

A backend runs three aggregate queries (attempts, responses, successful durations, each by
provider and model) and hands the rows here; the percentiles are computed in Python so the
figures are the same whatever the database.
"""

from __future__ import annotations

from collections.abc import Iterable

from automatosx.store.base import ProviderSummary

__all__ = ["percentile", "summarize"]

AttemptTotals = tuple[str, str, int, int, int]
"""``(provider, model, attempts, successes, distinct requests)``."""
ResponseTotals = tuple[str, str, int, int, int, float, int]
"""``(provider, model, input tokens, output tokens, total tokens, cost, fallbacks served)``."""


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
