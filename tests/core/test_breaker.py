"""The circuit breaker on explicit clocks, and shared between threads."""

from __future__ import annotations

import threading

import pytest

from automatosx._core import BreakerState, CircuitBreaker


def test_closed_open_half_open_closed() -> None:
    b = CircuitBreaker(failure_threshold=3, reset_timeout_ms=1_000)
    assert b.state == BreakerState.closed
    for t in range(3):
        assert b.allow_request(now_ms=t)
        b.record_failure(now_ms=t)
    assert str(b.state) == "open"
    assert b.consecutive_failures == 3
    assert not b.allow_request(now_ms=1_001)
    assert b.state_at(now_ms=2_002) == BreakerState.half_open
    assert b.allow_request(now_ms=2_002)
    assert b.state is BreakerState.half_open
    assert not b.allow_request(now_ms=2_003), "one probe at a time"
    b.record_success(now_ms=2_010)
    assert str(b.state) == "closed"
    assert b.consecutive_failures == 0


def test_probe_failure_reopens() -> None:
    b = CircuitBreaker(failure_threshold=1, reset_timeout_ms=100)
    b.record_failure(now_ms=0)
    assert b.allow_request(now_ms=100)
    b.record_failure(now_ms=150)
    assert b.state == BreakerState.open
    assert not b.allow_request(now_ms=249)
    assert b.allow_request(now_ms=250)


def test_neutral_frees_the_probe_slot() -> None:
    b = CircuitBreaker(failure_threshold=1, reset_timeout_ms=100)
    b.record_failure(now_ms=0)
    assert b.allow_request(now_ms=100)
    assert not b.allow_request(now_ms=100)
    b.record_neutral(now_ms=101)
    assert b.state == BreakerState.half_open
    assert b.allow_request(now_ms=102)


def test_failure_rate_window() -> None:
    b = CircuitBreaker(
        failure_threshold=0, window_size=10, minimum_calls=4, failure_rate_threshold=50.0
    )
    b.record_success(now_ms=0)
    b.record_failure(now_ms=0)
    b.record_success(now_ms=0)
    assert b.failure_rate is None
    b.record_success(now_ms=0)
    assert b.failure_rate == 25.0
    b.record_failure(now_ms=0)
    assert b.state == BreakerState.closed
    b.record_failure(now_ms=0)
    assert b.state == BreakerState.open


def test_default_clock_is_used_without_now() -> None:
    b = CircuitBreaker(failure_threshold=1, reset_timeout_ms=60_000)
    assert b.allow_request()
    b.record_failure()
    assert not b.allow_request()
    assert b.state_at() == BreakerState.open


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="half_open_max_calls"):
        CircuitBreaker(half_open_max_calls=0)
    with pytest.raises(ValueError, match="percentage"):
        CircuitBreaker(failure_rate_threshold=150.0)


def test_one_breaker_hammered_by_threads() -> None:
    b = CircuitBreaker(failure_threshold=1_000_000, reset_timeout_ms=1_000)
    threads_n, calls = 8, 2_000
    barrier = threading.Barrier(threads_n)

    def hammer() -> None:
        barrier.wait()
        for _ in range(calls):
            assert b.allow_request(now_ms=0)
            b.record_failure(now_ms=0)

    threads = [threading.Thread(target=hammer) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.consecutive_failures == threads_n * calls
    assert b.state == BreakerState.closed
