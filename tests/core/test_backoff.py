"""Backoff delays and the retry-after parsers."""

from __future__ import annotations

import pytest

from automatosx._core import Backoff, parse_duration, parse_retry_after


def test_full_jitter_bounds() -> None:
    b = Backoff(base_ms=100, cap_ms=1_000, max_wait_ms=10_000, seed=1)
    for attempt in range(8):
        ceiling = min(1_000, 100 * 2**attempt)
        draws = [b.delay_ms(attempt) for _ in range(500)]
        assert all(d is not None and 0 <= d <= ceiling for d in draws)
        assert len(set(draws)) > 50


def test_seed_makes_delays_repeatable() -> None:
    first = [Backoff(seed=7).delay_ms(a) for a in range(10)]
    second = [Backoff(seed=7).delay_ms(a) for a in range(10)]
    assert first == second


def test_retry_after_wins_and_max_wait_means_fall_back() -> None:
    b = Backoff(base_ms=500, cap_ms=30_000, max_wait_ms=10_000)
    assert b.delay_ms(0, retry_after_ms=7_000) == 7_000
    assert b.delay_ms(0, retry_after_ms=10_001) is None
    assert (b.base_ms, b.cap_ms, b.max_wait_ms) == (500, 30_000, 10_000)


@pytest.mark.parametrize(
    ("retry_after_ms", "retry_after", "expected"),
    [
        ("1500", "30", 1_500),
        ("250.5", None, 251),
        (None, "30", 30_000),
        (None, "1.5", 1_500),
        ("nope", "2", 2_000),
        (None, "Wed, 21 Oct 2015 07:28:05 GMT", 5_000),
        (None, "Wed, 21 Oct 2015 07:27:00 GMT", 0),
        (None, "soon", None),
        (None, "-1", None),
        (None, None, None),
    ],
)
def test_parse_retry_after(
    retry_after_ms: str | None, retry_after: str | None, expected: int | None
) -> None:
    now = 1_445_412_480_000  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(retry_after_ms, retry_after, now) == expected


def test_parse_retry_after_defaults_to_the_wall_clock() -> None:
    assert parse_retry_after(retry_after="Thu, 01 Jan 1970 00:00:00 GMT") == 0
    assert parse_retry_after(retry_after="Fri, 31 Dec 9999 23:59:59 GMT") is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5s", 1_500), ("30s", 30_000), ("0.250s", 250), ("6m0s", 360_000), ("x", None)],
)
def test_parse_duration(value: str, expected: int | None) -> None:
    assert parse_duration(value) == expected
