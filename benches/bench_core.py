"""The Rust core from Python, each call against a pure-Python equivalent (``_pure.py``;
pybreaker for the breaker). Every figure is pytest-benchmark's median per call, the
benchmark loop's own call overhead included on both sides."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pybreaker
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from _budget import info, report
from _pure import PureBackoff, PureEvent, PureLimiter, PureMachine
from automatosx import Backoff, CircuitBreaker, Event, ProviderStateMachine, RateLimiter

IMPLS = ["rust", "python"]
LIMIT = 4_000_000_000  # per minute and burst, for the limiter: within u32, never reached
RID = "6f1c1f5e-0a6b-4d5e-9a7b-2c3d4e5f6a7b"
REQUEST = {
    "provider": "claude",
    "model": "claude-sonnet-4-5",
    "message_count": 2,
    "max_tokens": 64,
    "temperature": 0.7,
}


def _median_ns(benchmark: BenchmarkFixture) -> float:
    assert benchmark.stats is not None
    return float(benchmark.stats.stats.median) * 1e9


def _machine_kit(impl: str) -> tuple[Callable[..., Any], Any]:
    return (ProviderStateMachine, Event) if impl == "rust" else (PureMachine, PureEvent)


@pytest.mark.benchmark(group="core")
@pytest.mark.parametrize("impl", IMPLS)
def test_transition(benchmark: BenchmarkFixture, impl: str) -> None:
    """One transition as the router makes it per streamed chunk: build the event, apply it."""
    machine_cls, event = _machine_kit(impl)
    m = machine_cls(RID, max_retries=3, fallback_providers=["gemini"])
    m.transition(event.initiate_request(**REQUEST, stream=True))
    m.transition(event.validation_passed())
    index = itertools.count()
    chunk_event, transition = event.receive_stream_chunk, m.transition

    benchmark(lambda: transition(chunk_event(chunk="tok ", index=next(index))))
    info(f"core: one transition ({impl})", _median_ns(benchmark), "ns")


@pytest.mark.benchmark(group="core")
@pytest.mark.parametrize("impl", IMPLS)
def test_lifecycle(benchmark: BenchmarkFixture, impl: str) -> None:
    """A new machine through initiate_request -> validation_passed -> receive_response."""
    machine_cls, event = _machine_kit(impl)

    def lifecycle() -> None:
        m = machine_cls(RID, max_retries=3, fallback_providers=["gemini"])
        m.transition(event.initiate_request(**REQUEST, stream=False))
        m.transition(event.validation_passed())
        m.transition(
            event.receive_response(
                content="Hello there, nice to meet.",
                input_tokens=12,
                output_tokens=6,
                total_tokens=18,
                duration_ms=420,
            )
        )

    benchmark(lifecycle)
    info(f"core: whole lifecycle ({impl})", _median_ns(benchmark), "ns")


@pytest.mark.benchmark(group="core")
def test_breaker_allow_request(benchmark: BenchmarkFixture) -> None:
    """What the router asks per attempt: ``allow_request()`` on the monotonic clock."""
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout_ms=60_000)
    benchmark(breaker.allow_request)
    report("core: CircuitBreaker.allow_request (rust)", _median_ns(benchmark), 300, "ns")


def _noop() -> None:
    return None


@pytest.mark.benchmark(group="core")
@pytest.mark.parametrize("impl", ["rust", "pybreaker"])
def test_breaker_guarded_call(benchmark: BenchmarkFixture, impl: str) -> None:
    """A no-op call through a closed breaker: admission plus recording the success.
    pybreaker has no separate admission check, so this is the like-for-like comparison."""
    if impl == "rust":
        breaker = CircuitBreaker(failure_threshold=5, reset_timeout_ms=60_000)
        allow, success = breaker.allow_request, breaker.record_success

        def guarded() -> None:
            if allow():
                _noop()
                success()

        benchmark(guarded)
    else:
        cb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
        benchmark(cb.call, _noop)
    info(f"core: breaker-guarded no-op call ({impl})", _median_ns(benchmark), "ns")


@pytest.mark.benchmark(group="core")
@pytest.mark.parametrize("impl", IMPLS)
def test_limiter_try_acquire(benchmark: BenchmarkFixture, impl: str) -> None:
    """A request of 100 estimated tokens admitted by RPM and TPM limits (never waits).

    The bursts are as large as the Rust limiter takes (u32): with the default bursts (one
    second's share of the rate) a few hundred thousand calls in a row use up the token
    burst, and the median would time the refusal path instead. Both sides get the same
    limits, and both must still admit a request once the benchmark is done."""
    cls = RateLimiter if impl == "rust" else PureLimiter
    limiter = cls(
        requests_per_minute=LIMIT,
        tokens_per_minute=LIMIT,
        request_burst=LIMIT,
        token_burst=LIMIT,
    )
    benchmark(limiter.try_acquire, 100)
    assert limiter.try_acquire(100) == 0, "the limiter refused: the median timed refusals"
    info(f"core: RateLimiter.try_acquire ({impl})", _median_ns(benchmark), "ns")


@pytest.mark.benchmark(group="core")
@pytest.mark.parametrize("impl", IMPLS)
def test_backoff_delay(benchmark: BenchmarkFixture, impl: str) -> None:
    """The full-jitter delay before retry number 3."""
    backoff = (Backoff if impl == "rust" else PureBackoff)(
        base_ms=250, cap_ms=8_000, max_wait_ms=30_000
    )
    benchmark(backoff.delay_ms, 3)
    info(f"core: Backoff.delay_ms ({impl})", _median_ns(benchmark), "ns")
