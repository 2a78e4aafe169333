"""What ``automatosx stats`` and the demo show, read through a :class:`StoreReader`.

Nothing here knows the database: the figures come from the reader's typed summaries, so the
same table (or JSON document) comes out of SQLite, PostgreSQL or a user's backend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from automatosx.store.base import ProviderSummary, StoreReader

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Report", "provider_table", "read_report", "report_json"]


@dataclass(frozen=True, slots=True)
class Report:
    """Per provider/model summaries, and how many requests ended in each state."""

    providers: list[ProviderSummary]
    states: dict[str, int]


async def read_report(reader: StoreReader) -> Report:
    return Report(
        providers=await reader.get_provider_summaries(),
        states=await reader.count_requests_by_state(),
    )


def report_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready document: the same figures as the table, unrounded."""
    return {
        "providers": [
            {**asdict(row), "success_rate": row.success_rate} for row in report.providers
        ],
        "requests_by_state": dict(sorted(report.states.items())),
        "requests": sum(report.states.values()),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def provider_table(report: Report, title: str = "per provider") -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ("provider", "model", "tries", "ok", "p50 ms", "p95 ms", "p99 ms", "tokens",
               "cost $", "retries", "fallbacks")  # fmt: skip
    for col in columns:
        left = col in ("provider", "model")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    for row in report.providers:
        rate = "-" if row.success_rate is None else f"{row.success_rate:.1%}"
        table.add_row(
            row.provider,
            row.model,
            str(row.attempts),
            rate,
            _ms(row.p50_ms),
            _ms(row.p95_ms),
            _ms(row.p99_ms),
            f"{row.total_tokens:,}",
            f"{row.cost:.4f}",
            str(row.retries),
            str(row.fallbacks),
        )
    states = report.states
    table.caption = "requests: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
    return table
