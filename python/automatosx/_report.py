"""What ``automatosx stats`` and the demo show, read through a :class:`StoreReader`.

Nothing here knows the database: the figures come from the reader's typed summaries, so the
same table (or JSON document) comes out of SQLite, PostgreSQL or a user's backend.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from automatosx.store.base import (
    LatencyBucket,
    LatencyHistogram,
    ProviderSummary,
    StoreReader,
    SuccessPoint,
    SuccessSeries,
    SummaryBy,
    check_summary_by,
)

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "Report",
    "console",
    "fitted_width",
    "print_fitted",
    "latency_chart",
    "provider_table",
    "read_report",
    "report_json",
    "stats_view",
    "success_chart",
]

BAR_WIDTH = 40  # cells of the longest histogram bar
_EIGHTHS = " ▏▎▍▌▋▊▉"  # a bar's last cell, by eighths of a cell
_LEVELS = "▁▂▃▄▅▆▇█"  # a success strip's cell: 0% .. 100%
NO_ATTEMPTS = "·"  # a success strip's cell without any attempt


@dataclass(frozen=True, slots=True)
class Report:
    """Per provider/model summaries, how many requests ended in each state, and the charts'
    figures: per provider latency histograms and success series.

    ``by`` says what the summaries' ``provider`` holds: the deployment id (the default) or
    the provider kind. The charts are per deployment either way."""

    providers: list[ProviderSummary]
    states: dict[str, int]
    latency: list[LatencyHistogram] = field(default_factory=list)
    success: list[SuccessSeries] = field(default_factory=list)
    by: SummaryBy = "deployment"


async def read_report(reader: StoreReader, *, by: SummaryBy = "deployment") -> Report:
    """Every figure of ``automatosx stats``, with the readers' fitted bounds and time step;
    the summaries grouped ``by`` deployment (the default) or provider kind."""
    check_summary_by(by)
    # Per deployment, the call a reader written before ``by`` existed still answers.
    if by == "deployment":
        providers = await reader.get_provider_summaries()
    else:
        providers = await reader.get_provider_summaries(by=by)
    return Report(
        providers=providers,
        states=await reader.count_requests_by_state(),
        latency=await reader.get_latency_histogram(),
        success=await reader.get_success_series(),
        by=by,
    )


def report_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready document: the same figures as the table and the charts,
    unrounded (histogram buckets with their bounds, series points with their start).
    ``grouped_by`` says whether each provider row's ``provider`` is a deployment id or a
    provider kind."""
    return {
        "grouped_by": report.by,
        "providers": [
            {**asdict(row), "success_rate": row.success_rate} for row in report.providers
        ],
        "requests_by_state": dict(sorted(report.states.items())),
        "requests": sum(report.states.values()),
        "latency": [{**asdict(h), "count": h.count} for h in report.latency],
        "success_series": [asdict(series) for series in report.success],
    }


def stats_view(report: Report, width: int | None = None) -> Group:
    """What ``automatosx stats`` prints: the table, then the charts of what was recorded;
    the table fitted to ``width`` columns (None: as wide as its figures need)."""
    from rich.console import Group

    parts: list[Any] = [provider_table(report, width=width)]
    if report.latency:
        parts.append(latency_chart(report, width=width))
    if report.success:
        parts.append(success_chart(report))
    return Group(*parts)


def _columns_env() -> int | None:
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def console(stderr: bool = False) -> Console:
    """The CLI's and the demo's console: a terminal's own width; in a pipe ``COLUMNS``
    when set, else 100 (rules, progress, text; a table asks for what it needs, see
    :func:`fitted_width`)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else (_columns_env() or 100)
    return Console(stderr=stderr, highlight=False, width=width)


def fitted_width(out: Console) -> int | None:
    """The width a table must fit in: the terminal's or ``COLUMNS``; None in a pipe without
    ``COLUMNS`` (a log or a file gets every column and every figure in full)."""
    if out.is_terminal or _columns_env() is not None:
        return out.width
    return None


def print_fitted(out: Console, report: Report, render: Callable[[int | None], Any]) -> None:
    """Print ``render(width)``: fitted to :func:`fitted_width`, or, when that is None (a pipe
    without ``COLUMNS``), at least as wide as the whole table needs."""
    width = fitted_width(out)
    if width is not None:
        out.print(render(width))
        return
    need = _natural_width([_cells(row) for row in report.providers], _COLUMNS)
    saved = out.width
    out.width = max(saved, need)
    try:
        out.print(render(None))
    finally:
        out.width = saved


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


_COLUMNS = ("provider", "model", "tries", "ok", "p50 ms", "p95 ms", "p99 ms", "tokens",
            "cost $", "retries", "fallbacks")  # fmt: skip
DROPPED_FIRST = ("p99 ms", "fallbacks", "retries", "p95 ms", "tokens", "p50 ms")
"""The columns a narrow table leaves out, in this order, before it stacks each row."""


def _cells(row: ProviderSummary) -> dict[str, str]:
    rate = "-" if row.success_rate is None else f"{row.success_rate:.1%}"
    return {
        "provider": row.provider,
        "model": row.model,
        "tries": str(row.attempts),
        "ok": rate,
        "p50 ms": _ms(row.p50_ms),
        "p95 ms": _ms(row.p95_ms),
        "p99 ms": _ms(row.p99_ms),
        "tokens": f"{row.total_tokens:,}",
        "cost $": f"{row.cost:.4f}",
        "retries": str(row.retries),
        "fallbacks": str(row.fallbacks),
    }


def _natural_width(rows: list[dict[str, str]], columns: tuple[str, ...]) -> int:
    """The width of the table of ``rows`` and ``columns`` when no cell is cut (measured by
    rich on an unbounded console)."""
    from rich.console import Console
    from rich.measure import Measurement

    table = _plain_table(columns)
    for cells in rows:
        table.add_row(*(cells[col] for col in columns))
    wide = Console(width=100_000, file=io.StringIO())
    return Measurement.get(wide, wide.options, table).maximum


def _plain_table(columns: tuple[str, ...], title: str | None = None, kind: bool = False) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        left = col in ("provider", "model")
        header = "kind" if col == "provider" and kind else col
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    return table


def provider_table(report: Report, title: str | None = None, *, width: int | None = None) -> Table:
    """The summaries as a table, titled ``title`` (by default: per provider, or per provider
    kind when the report is grouped by kind, its first column then headed ``kind``).

    With a ``width``, no figure is ever cut: when the whole table is wider, the columns of
    :data:`DROPPED_FIRST` are left out one by one (the caption names them; ``--json`` has
    all), and when even the narrowest table does not fit, each row is stacked as
    ``column value`` lines."""

    by_kind = report.by == "kind"
    if title is None:
        title = "per provider kind" if by_kind else "per provider"
    rows = [_cells(row) for row in report.providers]
    columns: tuple[str, ...] = _COLUMNS
    dropped: list[str] = []
    if width is not None:
        for col in DROPPED_FIRST:
            if _natural_width(rows, columns) <= width:
                break
            columns = tuple(c for c in columns if c != col)
            dropped.append(col)
        if _natural_width(rows, columns) > width:
            return _stacked_table(report, title, rows)
    table = _plain_table(columns, title, by_kind)
    for cells in rows:
        table.add_row(*(cells[col] for col in columns))
    table.caption = _caption(report)
    if dropped:
        table.caption += (
            f" (narrow: {', '.join(c for c in _COLUMNS if c in dropped)} left out; see --json)"
        )
    return table


def _caption(report: Report) -> str:
    states = report.states
    return "requests: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))


def _stacked_table(report: Report, title: str, rows: list[dict[str, str]]) -> Table:
    """The narrowest layout: one block per row, a ``column value`` line per figure."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_header=False)
    table.add_column(justify="left", overflow="fold")
    table.add_column(justify="right", overflow="fold")
    for i, cells in enumerate(rows):
        if i:
            table.add_section()
        head = "kind" if report.by == "kind" else "provider"
        table.add_row(head, cells["provider"], style="bold")
        for col in _COLUMNS[1:]:
            table.add_row(col, cells[col])
    table.caption = _caption(report)
    return table


def _bar(count: int, most: int, cells: int = BAR_WIDTH) -> str:
    """``count`` as a bar of up to ``cells`` cells (eighths); a count > 0 shows."""
    eighths = 0 if most == 0 else max(1 if count else 0, round(count * cells * 8 / most))
    full, rest = divmod(eighths, 8)
    return ("█" * full + _EIGHTHS[rest]).rstrip()


def _bucket_label(bucket: LatencyBucket) -> str:
    if bucket.upper_ms is None:
        return f"≥ {bucket.lower_ms:,}"
    return f"{bucket.lower_ms:,}-{bucket.upper_ms:,}"


def latency_chart(report: Report, width: int | None = None) -> Group:
    """Per provider, a histogram of its successful attempts' durations, bars drawn to one
    scale (the largest bucket of all), headed by the count and p50/p95/p99."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    most = max((b.count for h in report.latency for b in h.buckets), default=0)
    # A narrow width shortens the bars (to 10 cells at least): the counts are never cut.
    labels = max((len(_bucket_label(b)) for h in report.latency for b in h.buckets), default=0)
    counts = len(f"{most}")
    cells = BAR_WIDTH if width is None else max(10, min(BAR_WIDTH, width - labels - counts - 6))
    parts: list[Any] = [Text("latency of successful attempts (ms)", style="italic")]
    for hist in report.latency:
        head = (
            f"{hist.provider} · {hist.count:,} ok · p50 {_ms(hist.p50_ms)} · "
            f"p95 {_ms(hist.p95_ms)} · p99 {_ms(hist.p99_ms)}"
        )
        parts.append(Text(head, style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(justify="left", no_wrap=True, min_width=cells)
        grid.add_column(justify="right", no_wrap=True)
        for bucket in hist.buckets:
            bar = Text(_bar(bucket.count, most, cells), style="cyan")
            grid.add_row(f"  {_bucket_label(bucket)}", bar, str(bucket.count))
        parts.append(grid)
    return Group(*parts)


def _cell(point: SuccessPoint) -> Text:
    from rich.text import Text

    rate = point.success_rate
    if rate is None:
        return Text(NO_ATTEMPTS, style="dim")
    style = "green" if rate >= 0.99 else "yellow" if rate >= 0.9 else "red"
    return Text(_LEVELS[round(rate * (len(_LEVELS) - 1))], style=style)


def _step(ms: int) -> str:
    for unit, size in (("day", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000)):
        if ms % size == 0:
            count = ms // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{ms} ms"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def success_chart(report: Report) -> Group:
    """Per provider, its attempts' success rate over time as a strip of cells (one per time
    bucket, the same buckets for every provider): ``▁`` 0% .. ``█`` 100%, ``·`` none."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title="success rate over time", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("provider", no_wrap=True)
    table.add_column("attempts over time", overflow="fold")  # narrow: the strip wraps
    for col in ("tries", "ok"):
        table.add_column(col, justify="right", no_wrap=True)
    for series in report.success:
        strip = Text().join(_cell(point) for point in series.points)
        ok = sum(p.successes for p in series.points)
        tries = ok + sum(p.failures for p in series.points)
        table.add_row(series.provider, strip, str(tries), f"{ok / tries:.1%}" if tries else "-")
    first = report.success[0]
    legend = (
        f"one cell = {_step(first.bucket_ms)} from {_utc(first.points[0].start_ms)} UTC;"
        f" {_LEVELS[0]} 0% .. {_LEVELS[-1]} 100% ok, {NO_ATTEMPTS} no try"
    )
    return Group(table, Text(legend, style="dim"))
