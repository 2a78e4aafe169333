"""provider_metrics, kept by triggers on every backend: per attempt, per provider/model, per
UTC day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from store_records import T0, attempt_record, new_id, request_record, response

from automatosx.schemas import TokenUsage
from automatosx.store import MetricsRow

MIDNIGHT = T0 + 86_400_000  # 2026-01-02T00:00:00Z
DAY1, DAY2 = "2026-01-01", "2026-01-02"


def tokens(inp: int, out: int) -> TokenUsage:
    return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out)


async def test_metrics_match_hand_computed_sums_split_at_utc_midnight(
    any_store: Any,
) -> None:
    store = any_store
    # Request A (day 1): claude fails twice, then openai answers.
    a = new_id()
    await store.save_request(request_record(a))
    await store.save_attempt(
        attempt_record(a, 1, outcome="failure", duration=100, created_at=MIDNIGHT - 3_000)
    )
    await store.save_attempt(
        attempt_record(a, 2, outcome="failure", duration=200, created_at=MIDNIGHT - 2_000)
    )
    await store.save_attempt(
        attempt_record(
            a, 3, provider="openai", model="gpt-4o", duration=300, created_at=MIDNIGHT - 1
        )
    )
    await store.save_response(
        response(
            a,
            provider="openai",
            model="gpt-4o",
            tokens=tokens(10, 20),
            cost=0.25,
            created_at=MIDNIGHT - 1,
        )
    )
    # Request B (day 2, the first millisecond): claude answers at once.
    b = new_id()
    await store.save_request(request_record(b, created_at=MIDNIGHT))
    await store.save_attempt(attempt_record(b, 1, duration=50, created_at=MIDNIGHT))
    await store.save_response(response(b, tokens=tokens(7, 3), cost=0.5, created_at=MIDNIGHT))
    # Request C (day 2): claude succeeds, then a second claude model fails (a retried stream).
    c = new_id()
    await store.save_request(request_record(c, created_at=MIDNIGHT + 10))
    await store.save_attempt(attempt_record(c, 1, duration=70, created_at=MIDNIGHT + 20))
    await store.save_response(response(c, tokens=tokens(1, 1), cost=None, created_at=MIDNIGHT + 20))
    await store.save_attempt(
        attempt_record(
            c,
            2,
            model="claude-haiku-4-5",
            outcome="failure",
            duration=5,
            created_at=MIDNIGHT + 30,
        )
    )

    assert await store.get_provider_metrics() == [
        MetricsRow("claude", "claude-sonnet-4-5", DAY1, 2, 0, 2, 0, 0, 0, 0.0, 300),
        MetricsRow("openai", "gpt-4o", DAY1, 1, 1, 0, 10, 20, 30, 0.25, 300),
        MetricsRow("claude", "claude-haiku-4-5", DAY2, 1, 0, 1, 0, 0, 0, 0.0, 5),
        MetricsRow("claude", "claude-sonnet-4-5", DAY2, 2, 2, 0, 8, 4, 12, 0.5, 120),
    ]
    assert await store.get_provider_metrics(provider="openai") == [
        MetricsRow("openai", "gpt-4o", DAY1, 1, 1, 0, 10, 20, 30, 0.25, 300),
    ]
    day2 = await store.get_provider_metrics(provider="claude", date=DAY2)
    assert [(m.model, m.request_count) for m in day2] == [
        ("claude-haiku-4-5", 1),
        ("claude-sonnet-4-5", 2),
    ]
    assert await store.get_provider_metrics(
        date=dt.date(2026, 1, 2)
    ) == await store.get_provider_metrics(date=DAY2)


async def test_metrics_are_empty_for_an_unknown_day(
    any_store: Any,
) -> None:
    store = any_store
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.save_attempt(attempt_record(rid))
    assert await store.get_provider_metrics(date="1999-12-31") == []


@pytest.mark.parametrize(
    ("created_at", "day"),
    [(0, "1970-01-01"), (86_399_999, "1970-01-01"), (86_400_000, "1970-01-02")],
)
async def test_metrics_day_is_the_utc_day_of_the_attempt(
    any_store: Any, created_at: int, day: str
) -> None:
    store = any_store
    rid = new_id()
    await store.save_request(request_record(rid))
    await store.save_attempt(attempt_record(rid, created_at=created_at))
    [row] = await store.get_provider_metrics()
    assert row.date == day
