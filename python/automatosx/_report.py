"""Tables read back from a request database, for the CLI (``stats`` and the demo)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["ProviderSummary", "provider_summaries", "provider_table", "request_states"]

_ATTEMPTS = """
SELECT provider,
       COUNT(*) AS attempts,
       SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS successes,
       COUNT(*) - COUNT(DISTINCT request_id) AS retries
FROM provider_attempts GROUP BY provider
"""
_RESPONSES = """
SELECT s.provider,
       COALESCE(SUM(s.total_tokens), 0) AS tokens,
       COALESCE(SUM(s.cost), 0.0) AS cost,
       SUM(CASE WHEN s.provider <> r.provider THEN 1 ELSE 0 END) AS fallbacks
FROM provider_responses s JOIN provider_requests r ON r.id = s.request_id
GROUP BY s.provider
"""
_DURATIONS = "SELECT provider, duration FROM provider_attempts WHERE outcome = 'success'"


class ProviderSummary(dict[str, Any]):
    """One provider's row: attempts, successes, success_rate, p50_ms, p95_ms, tokens, cost,
    retries, fallbacks."""


def _percentile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def provider_summaries(db: Path) -> list[ProviderSummary]:
    """Per provider: what the attempts and responses tables say, in provider order."""
    with _connect(db) as conn:
        attempts = {row[0]: row[1:] for row in conn.execute(_ATTEMPTS)}
        responses = {row[0]: row[1:] for row in conn.execute(_RESPONSES)}
        durations: dict[str, list[int]] = {}
        for provider, duration in conn.execute(_DURATIONS):
            durations.setdefault(provider, []).append(int(duration))
    rows = []
    for provider in sorted(set(attempts) | set(responses)):
        n, ok, retries = attempts.get(provider, (0, 0, 0))
        tokens, cost, fallbacks = responses.get(provider, (0, 0.0, 0))
        rows.append(
            ProviderSummary(
                provider=provider,
                attempts=n,
                successes=ok,
                success_rate=(ok / n) if n else None,
                p50_ms=_percentile(durations.get(provider, []), 0.50),
                p95_ms=_percentile(durations.get(provider, []), 0.95),
                tokens=tokens,
                cost=cost,
                retries=retries,
                fallbacks=fallbacks,
            )
        )
    return rows


def request_states(db: Path) -> dict[str, int]:
    """How many requests ended in each state."""
    with _connect(db) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM provider_requests GROUP BY state"))


def provider_table(db: Path, title: str = "per provider") -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in (
        "provider",
        "tries",
        "ok",
        "p50 ms",
        "p95 ms",
        "tokens",
        "cost $",
        "retries",
        "fallbacks",
    ):
        table.add_column(col, justify="left" if col == "provider" else "right", no_wrap=True)
    for row in provider_summaries(db):
        rate = "-" if row["success_rate"] is None else f"{row['success_rate']:.1%}"
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}"
        p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:.0f}"
        table.add_row(
            row["provider"],
            str(row["attempts"]),
            rate,
            p50,
            p95,
            f"{row['tokens']:,}",
            f"{row['cost']:.4f}",
            str(row["retries"]),
            str(row["fallbacks"]),
        )
    states = request_states(db)
    table.caption = "requests: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
    return table
