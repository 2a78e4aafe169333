"""The GCRA rate limiter's wait values."""

from __future__ import annotations

import pytest

from automatosx._core import RateLimiter


def test_no_limits_never_waits() -> None:
    r = RateLimiter()
    assert all(r.try_acquire(tokens=10_000, now_ms=0) == 0 for _ in range(1_000))


def test_requests_per_minute_paces_after_the_burst() -> None:
    r = RateLimiter(requests_per_minute=600)  # 10 per second: burst 10, then one per 100 ms
    assert [r.try_acquire(now_ms=0) for _ in range(10)] == [0] * 10
    assert r.try_acquire(now_ms=0) == 100
    assert r.try_acquire(now_ms=60) == 40
    assert r.try_acquire(now_ms=100) == 0


def test_tokens_per_minute_with_settle() -> None:
    r = RateLimiter(tokens_per_minute=6_000)  # 100 tokens per second
    assert r.try_acquire(tokens=50, now_ms=0) == 0
    r.settle(50, 150, now_ms=0)
    assert r.try_acquire(tokens=50, now_ms=0) == 1_000
    r.settle(150, 50, now_ms=0)
    assert r.try_acquire(tokens=50, now_ms=0) == 0


def test_a_refused_request_reserves_nothing() -> None:
    r = RateLimiter(requests_per_minute=60)
    assert r.try_acquire(now_ms=0) == 0
    assert [r.try_acquire(now_ms=0) for _ in range(3)] == [1_000] * 3
    assert r.try_acquire(now_ms=1_000) == 0


def test_an_oversized_request_is_admissible() -> None:
    r = RateLimiter(tokens_per_minute=6_000)
    assert r.try_acquire(tokens=1_000, now_ms=0) == 0
    assert r.try_acquire(tokens=1, now_ms=0) > 0


def test_explicit_bursts() -> None:
    r = RateLimiter(requests_per_minute=60, request_burst=3)
    assert [r.try_acquire(now_ms=0) for _ in range(4)] == [0, 0, 0, 1_000]
    assert r.requests_per_minute == 60
    assert r.tokens_per_minute is None


def test_zero_rates_are_rejected() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=0)
    with pytest.raises(ValueError, match="token_burst"):
        RateLimiter(tokens_per_minute=10, token_burst=0)
