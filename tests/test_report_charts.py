"""The charts' figures of ``automatosx stats``: latency histograms and success series read
from a real SQLite store (rows written through the store API), counted exactly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from io import StringIO
from pathlib import Path

import pytest

from automatosx._report import BAR_WIDTH, Report, latency_chart, success_chart
from automatosx.store import AttemptRecord, NullStore, Outcome, RequestRecord, SQLiteStore
from automatosx.store._summary import MAX_SERIES_POINTS, auto_bounds, percentile
from automatosx.store.base import LatencyBucket, SuccessPoint

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a whole minute
MINUTE = 60_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "charts.db") as opened:
        yield opened


async def record(
    store: SQLiteStore,
    provider: str,
    duration: int,
    *,
    at: int = T0,
    outcome: Outcome = "success",
) -> None:
    """One request with one attempt of ``provider``."""
    rid = str(uuid.uuid4())
    await store.save_request(
        RequestRecord(rid, provider, "m", "[]", None, 1.0, False, "completed", 0, [], at, at, None)
    )
    await store.save_attempt(
        AttemptRecord(rid, 1, provider, "m", outcome, None, None, None, duration, at)
    )


CLAUDE_OK = [5, 9, 10, 99, 100, 250, 1000]


async def record_latencies(store: SQLiteStore) -> None:
    for duration in CLAUDE_OK:
        await record(store, "claude", duration, at=T0 + duration)
    await record(store, "claude", 50, outcome="failure")  # failures have no latency bar
    await record(store, "openai", 40, at=T0 + 5 * MINUTE)


async def test_latency_histogram_counts_each_successful_attempt_in_its_bucket(
    store: SQLiteStore,
) -> None:
    await record_latencies(store)
    claude, openai = await store.get_latency_histogram(bounds=[10, 100, 500])
    assert claude.provider == "claude"
    assert claude.buckets == (
        LatencyBucket(0, 10, 2),
        LatencyBucket(10, 100, 2),
        LatencyBucket(100, 500, 2),
        LatencyBucket(500, None, 1),
    )
    assert [b.count for b in openai.buckets] == [0, 1, 0, 0]
    assert (claude.count, openai.count) == (7, 1)


async def test_latency_percentiles_are_exact_and_match_the_summary_table(
    store: SQLiteStore,
) -> None:
    await record_latencies(store)
    [claude, _] = await store.get_latency_histogram(bounds=[100])
    assert (claude.p50_ms, claude.p95_ms, claude.p99_ms) == (99, 775, 955)
    for q, value in ((0.5, claude.p50_ms), (0.95, claude.p95_ms), (0.99, claude.p99_ms)):
        assert value == pytest.approx(percentile(CLAUDE_OK, q))
    [summary, _] = await store.get_provider_summaries()
    assert summary.p50_ms == claude.p50_ms
    assert summary.p95_ms == pytest.approx(claude.p95_ms)


async def test_latency_histogram_filters_by_provider_and_start(store: SQLiteStore) -> None:
    await record_latencies(store)
    [only] = await store.get_latency_histogram("openai", bounds=[100])
    assert (only.provider, only.count) == ("openai", 1)
    late, openai = await store.get_latency_histogram(bounds=[100], since_ms=T0 + 100)
    assert (late.provider, late.count, late.p50_ms) == ("claude", 3, 250)  # 100, 250, 1000
    assert openai.count == 1
    assert await store.get_latency_histogram(since_ms=T0 + 10 * MINUTE) == []


async def test_fitted_bounds_are_shared_and_span_the_recorded_durations(
    store: SQLiteStore,
) -> None:
    await record_latencies(store)
    claude, openai = await store.get_latency_histogram()
    assert [b.upper_ms for b in claude.buckets] == [b.upper_ms for b in openai.buckets]
    assert 2 <= len(claude.buckets) <= 10
    first, last = claude.buckets[0], claude.buckets[-1]
    assert first.lower_ms <= 5 < (first.upper_ms or 0)
    assert last.lower_ms <= 1000
    assert last.upper_ms is None
    assert claude.count == len(CLAUDE_OK)
    for lower, upper in zip(claude.buckets, claude.buckets[1:], strict=False):
        assert lower.upper_ms == upper.lower_ms  # no gap, no overlap


def test_fitted_bounds_of_one_repeated_duration_keep_it_in_the_first_bucket() -> None:
    assert auto_bounds(80, 80) == (81,)
    assert auto_bounds(0, 0) == (1,)
    bounds = auto_bounds(1, 30_000)
    assert list(bounds) == sorted(set(bounds))
    assert len(bounds) == 9


async def test_success_series_counts_outcomes_per_bucket_with_empty_buckets_between(
    store: SQLiteStore,
) -> None:
    await record(store, "claude", 1, at=T0 + 1_000)
    await record(store, "claude", 1, at=T0 + MINUTE - 1, outcome="failure")
    await record(store, "claude", 1, at=T0 + MINUTE)
    await record(store, "claude", 1, at=T0 + 3 * MINUTE + 5, outcome="failure")
    await record(store, "openai", 1, at=T0 + 2 * MINUTE)
    claude, openai = await store.get_success_series(bucket_ms=MINUTE)
    starts = [T0 + i * MINUTE for i in range(4)]
    assert claude.points == tuple(
        SuccessPoint(start, ok, failed)
        for start, ok, failed in zip(starts, (1, 1, 0, 0), (1, 0, 0, 1), strict=True)
    )
    assert openai.points == tuple(
        SuccessPoint(start, ok, 0) for start, ok in zip(starts, (0, 0, 1, 0), strict=True)
    )
    assert (claude.bucket_ms, claude.points[0].success_rate, claude.points[2].success_rate) == (
        MINUTE,
        0.5,
        None,
    )
    [late] = await store.get_success_series(bucket_ms=MINUTE, since_ms=T0 + 2 * MINUTE + 1)
    assert (late.provider, late.points) == ("claude", (SuccessPoint(T0 + 3 * MINUTE, 0, 1),))


async def test_success_series_fits_a_round_step_to_the_recorded_window(
    store: SQLiteStore,
) -> None:
    await record(store, "claude", 1, at=T0)
    await record(store, "claude", 1, at=T0 + 59 * MINUTE, outcome="failure")
    [series] = await store.get_success_series()
    assert series.bucket_ms == 2 * MINUTE  # 1 min would make 60 points; at most 40
    assert len(series.points) == 30
    assert (series.points[0].successes, series.points[-1].failures) == (1, 1)


async def test_bad_chart_arguments_are_refused_naming_the_argument(store: SQLiteStore) -> None:
    await record(store, "claude", 1, at=T0)
    await record(store, "claude", 1, at=T0 + MAX_SERIES_POINTS * 1_000)
    with pytest.raises(ValueError, match="bounds must be strictly increasing"):
        await store.get_latency_histogram(bounds=[100, 100])
    with pytest.raises(ValueError, match="bounds"):
        await store.get_latency_histogram(bounds=[0, 10])
    with pytest.raises(ValueError, match="bucket_ms must be a positive integer"):
        await store.get_success_series(bucket_ms=0)
    with pytest.raises(ValueError, match="pass a larger bucket_ms"):
        await store.get_success_series(bucket_ms=1_000)


async def test_empty_stores_have_no_charts(store: SQLiteStore) -> None:
    assert await store.get_latency_histogram() == []
    assert await store.get_success_series() == []
    assert await NullStore().get_latency_histogram() == []
    assert await NullStore().get_success_series(bucket_ms=1_000) == []


def rendered(renderable: object) -> str:
    from rich.console import Console

    out = StringIO()
    Console(file=out, width=100, no_color=True, color_system=None).print(renderable)
    return out.getvalue()


async def test_latency_chart_draws_one_bar_per_bucket_to_one_scale(store: SQLiteStore) -> None:
    await record_latencies(store)
    report = Report([], {}, latency=await store.get_latency_histogram(bounds=[10, 100, 500]))
    lines = [" ".join(line.split()) for line in rendered(latency_chart(report)).splitlines()]
    full, half = "█" * BAR_WIDTH, "█" * (BAR_WIDTH // 2)
    claude_at = lines.index("claude · 7 ok · p50 99 · p95 775 · p99 955")
    assert lines[claude_at + 1 : claude_at + 5] == [
        f"0-10 {full} 2",
        f"10-100 {full} 2",
        f"100-500 {full} 2",
        f"≥ 500 {half} 1",
    ]
    openai_at = lines.index("openai · 1 ok · p50 40 · p95 40 · p99 40")
    assert lines[openai_at + 1 : openai_at + 3] == ["0-10 0", f"10-100 {half} 1"]


async def test_success_chart_draws_a_cell_per_bucket_for_every_provider(
    store: SQLiteStore,
) -> None:
    await record(store, "claude", 1, at=T0)
    await record(store, "claude", 1, at=T0 + 1, outcome="failure")
    await record(store, "claude", 1, at=T0 + 3 * MINUTE, outcome="failure")
    await record(store, "openai", 1, at=T0 + 2 * MINUTE)
    report = Report([], {}, success=await store.get_success_series(bucket_ms=MINUTE))
    text = rendered(success_chart(report))
    assert "claude     ▅··▁" in text  # 50%, none, none, 0%
    assert "openai     ··█·" in text
    assert "one cell = 1 min from 2026-01-01 00:00:00 UTC" in text
    assert "\x1b[" not in text
