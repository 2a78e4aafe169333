"""Every integer the extension accepts is range-checked: out of range is a ValueError that
names the argument and the range, never an OverflowError."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from automatosx._core import (
    Backoff,
    CircuitBreaker,
    Event,
    ProviderStateMachine,
    RateLimiter,
    parse_retry_after,
)

U32 = "from 0 to 4294967295"
U64 = "from 0 to 18446744073709551615"

_breaker = CircuitBreaker()
_limiter = RateLimiter()
_backoff = Backoff(seed=1)

# (argument name, its range, a call that passes the value as that argument)
ARGUMENTS: list[tuple[str, str, Callable[[int], object]]] = [
    ("max_retries", U32, lambda v: ProviderStateMachine("r", max_retries=v)),
    ("message_count", U32, lambda v: Event.initiate_request("c", "m", message_count=v)),
    ("max_tokens", U32, lambda v: Event.initiate_request("c", "m", 1, max_tokens=v)),
    ("input_tokens", U64, lambda v: Event.receive_response("x", input_tokens=v)),
    ("output_tokens", U64, lambda v: Event.receive_response("x", output_tokens=v)),
    ("total_tokens", U64, lambda v: Event.receive_response("x", total_tokens=v)),
    ("duration_ms", U64, lambda v: Event.receive_response("x", duration_ms=v)),
    ("input_tokens", U64, lambda v: Event.stream_complete(input_tokens=v)),
    ("output_tokens", U64, lambda v: Event.stream_complete(output_tokens=v)),
    ("total_tokens", U64, lambda v: Event.stream_complete(total_tokens=v)),
    ("duration_ms", U64, lambda v: Event.stream_complete(duration_ms=v)),
    ("index", U32, lambda v: Event.receive_stream_chunk("x", index=v)),
    ("retry_after_ms", U64, lambda v: Event.rate_limit_hit(retry_after_ms=v)),
    ("attempt", U32, lambda v: Event.retry_request(attempt=v)),
    ("max_retries", U32, lambda v: Event.fallback_to_provider("p", max_retries=v)),
    ("failure_threshold", U32, lambda v: CircuitBreaker(failure_threshold=v)),
    ("reset_timeout_ms", U64, lambda v: CircuitBreaker(reset_timeout_ms=v)),
    ("half_open_max_calls", U32, lambda v: CircuitBreaker(half_open_max_calls=v)),
    ("window_size", U32, lambda v: CircuitBreaker(window_size=v)),
    ("minimum_calls", U32, lambda v: CircuitBreaker(minimum_calls=v)),
    ("now_ms", U64, lambda v: _breaker.allow_request(now_ms=v)),
    ("now_ms", U64, lambda v: _breaker.record_success(now_ms=v)),
    ("now_ms", U64, lambda v: _breaker.record_failure(now_ms=v)),
    ("now_ms", U64, lambda v: _breaker.record_neutral(now_ms=v)),
    ("now_ms", U64, lambda v: _breaker.state_at(now_ms=v)),
    ("requests_per_minute", U32, lambda v: RateLimiter(requests_per_minute=v)),
    ("tokens_per_minute", U32, lambda v: RateLimiter(tokens_per_minute=v)),
    ("request_burst", U32, lambda v: RateLimiter(request_burst=v)),
    ("token_burst", U32, lambda v: RateLimiter(token_burst=v)),
    ("tokens", U64, lambda v: _limiter.try_acquire(tokens=v)),
    ("now_ms", U64, lambda v: _limiter.try_acquire(now_ms=v)),
    ("estimated", U64, lambda v: _limiter.settle(estimated=v, actual=0)),
    ("actual", U64, lambda v: _limiter.settle(estimated=0, actual=v)),
    ("now_ms", U64, lambda v: _limiter.settle(0, 0, now_ms=v)),
    ("base_ms", U64, lambda v: Backoff(base_ms=v)),
    ("cap_ms", U64, lambda v: Backoff(cap_ms=v)),
    ("max_wait_ms", U64, lambda v: Backoff(max_wait_ms=v)),
    ("seed", U64, lambda v: Backoff(seed=v)),
    ("attempt", U32, lambda v: _backoff.delay_ms(attempt=v)),
    ("retry_after_ms", U64, lambda v: _backoff.delay_ms(0, retry_after_ms=v)),
    ("now_unix_ms", U64, lambda v: parse_retry_after(retry_after="1", now_unix_ms=v)),
]

IDS = [f"{call.__code__.co_firstlineno}-{name}" for name, _, call in ARGUMENTS]


@pytest.mark.parametrize("value", [2**64, -1, 2**200])
@pytest.mark.parametrize(("name", "allowed", "call"), ARGUMENTS, ids=IDS)
def test_out_of_range_integer_is_a_value_error_naming_argument_and_range(
    name: str, allowed: str, call: Callable[[int], object], value: int
) -> None:
    expected = f"{name} must be an integer {allowed}, got {value}"
    with pytest.raises(ValueError, match=re.escape(expected)) as info:
        call(value)
    assert str(info.value) == expected


@pytest.mark.parametrize(("name", "allowed", "call"), ARGUMENTS, ids=IDS)
def test_largest_integer_of_the_range_is_accepted(
    name: str, allowed: str, call: Callable[[int], object]
) -> None:
    call(int(allowed.rsplit(" ", 1)[1]))


def test_u32_boundary_is_exact() -> None:
    assert Event.receive_stream_chunk("x", index=2**32 - 1).name == "receive_stream_chunk"
    with pytest.raises(ValueError, match=r"^index must be an integer from 0 to 4294967295,"):
        Event.receive_stream_chunk("x", index=2**32)


def test_a_non_integer_is_a_type_error_naming_the_argument() -> None:
    with pytest.raises(TypeError, match=r"^base_ms must be an int, got float"):
        Backoff(base_ms=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^now_ms must be an int, got str"):
        _breaker.allow_request(now_ms="0")  # type: ignore[arg-type]
