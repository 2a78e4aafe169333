"""The request state machine as Python sees it."""

from __future__ import annotations

import pytest

from automatosx._core import (
    AutomatosxError,
    Event,
    InvalidTransitionError,
    ProviderStateMachine,
    State,
)


def _machine(max_retries: int = 3) -> ProviderStateMachine:
    return ProviderStateMachine(
        "req-1", max_retries=max_retries, fallback_providers=["gemini", "openai"]
    )


def _initiate(stream: bool) -> Event:
    return Event.initiate_request(
        provider="claude",
        model="claude-sonnet-4-5",
        message_count=1,
        max_tokens=100,
        temperature=1.0,
        stream=stream,
    )


def _requesting(stream: bool = False, max_retries: int = 3) -> ProviderStateMachine:
    m = _machine(max_retries)
    m.transition(_initiate(stream))
    m.transition(Event.validation_passed())
    return m


def test_full_lifecycle_records_history() -> None:
    m = _machine()
    assert m.state == State.idle
    m.transition(_initiate(stream=False))
    assert str(m.state) == "validating"
    assert m.state is State.validating
    m.transition(Event.validation_passed())
    m.transition(
        Event.receive_response(
            content="Hi!", input_tokens=10, output_tokens=5, total_tokens=15, duration_ms=120
        )
    )
    assert m.state == State.completed
    assert m.is_terminal
    assert m.history == ["idle", "validating", "requesting", "completed"]
    ctx = m.context
    assert (ctx.request_id, ctx.provider, ctx.model) == ("req-1", "claude", "claude-sonnet-4-5")
    assert (ctx.response, ctx.total_tokens, ctx.duration_ms) == ("Hi!", 15, 120)
    assert (ctx.max_tokens, ctx.temperature, ctx.stream, ctx.attempt) == (100, 1.0, False, 1)
    assert (ctx.error, ctx.error_code) == (None, None)


def test_streaming_joins_chunks() -> None:
    m = _requesting(stream=True)
    m.transition(Event.receive_stream_chunk(chunk="Hello", index=0))
    m.transition(Event.receive_stream_chunk(chunk=" World", index=1))
    assert m.state == State.streaming
    assert m.context.chunk_count == 2
    m.transition(Event.stream_complete(input_tokens=3, output_tokens=2, total_tokens=5))
    assert m.state == State.completed
    assert m.context.response == "Hello World"
    assert m.history == ["idle", "validating", "requesting", "streaming", "completed"]


def test_rate_limit_then_retry_then_success() -> None:
    m = _requesting()
    m.transition(Event.rate_limit_hit(retry_after_ms=1000))
    assert m.state == State.rate_limited
    assert m.context.retry_after_ms == 1000
    m.transition(Event.retry_request())
    assert m.state == State.retrying
    assert m.context.retry_count == 1
    m.transition(Event.send_request())
    assert m.state == State.requesting
    m.transition(Event.receive_response(content="ok"))
    assert m.state == State.completed
    assert m.history == [
        "idle",
        "validating",
        "requesting",
        "rate_limited",
        "retrying",
        "requesting",
        "completed",
    ]


def test_rate_limit_without_retries_left_fails() -> None:
    m = _requesting(max_retries=0)
    m.transition(Event.rate_limit_hit())
    m.transition(Event.retry_request())
    assert m.state == State.failed
    assert m.context.error_code == "RATE_LIMITED"


def test_fallback_changes_provider_and_resets_retries() -> None:
    m = _requesting()
    m.transition(Event.request_failed(error="boom", code="SERVER_ERROR", retryable=True))
    assert m.context.retryable
    m.transition(Event.retry_request())
    m.transition(Event.send_request())
    m.transition(Event.request_failed(error="boom again", code="SERVER_ERROR", retryable=True))
    assert m.context.retry_count == 1
    m.transition(Event.fallback_to_provider(provider="gemini"))
    ctx = m.context
    assert m.state == State.requesting
    assert (ctx.provider, ctx.retry_count, ctx.error, ctx.error_code) == ("gemini", 0, None, None)
    assert ctx.remaining_fallbacks == ["openai"]
    assert ctx.fallback_providers == ["gemini", "openai"]
    assert ctx.attempt == 3


def test_fallback_with_model_and_retries() -> None:
    m = _requesting()
    m.transition(Event.request_failed(error="no", code="AUTHENTICATION_ERROR"))
    m.transition(Event.fallback_to_provider(provider="openai", model="gpt-4o", max_retries=1))
    ctx = m.context
    assert (ctx.provider, ctx.model, ctx.max_retries) == ("openai", "gpt-4o", 1)
    assert ctx.remaining_fallbacks == []


def test_invalid_transition_raises_and_changes_nothing() -> None:
    m = _requesting()
    m.transition(Event.receive_response(content="done"))
    history = m.history
    with pytest.raises(InvalidTransitionError) as info:
        m.transition(Event.retry_request())
    assert issubclass(InvalidTransitionError, AutomatosxError)
    assert str(info.value) == "cannot apply event 'retry_request' in state 'completed'"
    assert (info.value.state, info.value.event) == ("completed", "retry_request")
    assert m.state == State.completed
    assert m.history == history
    assert m.context.response == "done"


@pytest.mark.parametrize("code", ["SERVER_ERROR", "TIMEOUT", "OVERLOADED"])
def test_retry_follows_the_routers_retryable_decision_not_the_code(code: str) -> None:
    m = _requesting()
    m.transition(Event.request_failed(error="x", code=code))
    assert not m.context.retryable
    with pytest.raises(InvalidTransitionError):
        m.transition(Event.retry_request())
    other = _requesting()
    other.transition(Event.request_failed("x", "AUTHENTICATION_ERROR", retryable=True))
    other.transition(Event.retry_request())
    assert other.state == State.retrying


@pytest.mark.parametrize("code", ["INVALID_REQUEST", "CANCELLED"])
def test_fallback_is_not_judged_by_the_error_code(code: str) -> None:
    m = _requesting()
    m.transition(Event.request_failed(error="x", code=code))
    m.transition(Event.fallback_to_provider(provider="gemini"))
    assert (m.state, m.context.provider) == (State.requesting, "gemini")


def test_fallback_labels_are_opaque_and_used_once() -> None:
    m = ProviderStateMachine("r", fallback_providers=["claude", "openai/gpt-4o-mini"])
    m.transition(_initiate(stream=False))
    m.transition(Event.validation_passed())
    m.transition(Event.request_failed("boom", "SERVER_ERROR"))
    m.transition(Event.fallback_to_provider("claude"))
    m.transition(Event.request_failed("boom", "SERVER_ERROR"))
    with pytest.raises(InvalidTransitionError):
        m.transition(Event.fallback_to_provider("claude"))
    m.transition(Event.fallback_to_provider("openai/gpt-4o-mini", model="gpt-4o-mini"))
    assert (m.context.provider, m.context.model) == ("openai/gpt-4o-mini", "gpt-4o-mini")
    assert m.context.remaining_fallbacks == []


def test_streamed_chunk_forbids_retry_and_fallback() -> None:
    m = _requesting(stream=True)
    m.transition(Event.receive_stream_chunk(chunk="partial", index=0))
    m.transition(Event.request_failed(error="reset", code="CONNECTION_ERROR", retryable=True))
    with pytest.raises(InvalidTransitionError):
        m.transition(Event.retry_request())
    with pytest.raises(InvalidTransitionError):
        m.transition(Event.fallback_to_provider(provider="gemini"))
    assert m.context.response == "partial"


def test_out_of_order_chunk_is_invalid() -> None:
    m = _requesting(stream=True)
    with pytest.raises(InvalidTransitionError):
        m.transition(Event.receive_stream_chunk(chunk="x", index=1))


def test_reset_starts_over_with_the_same_request_id() -> None:
    m = _requesting()
    m.transition(Event.request_failed(error="x", code="NOT_FOUND", retryable=False))
    m.transition(Event.reset())
    assert m.state == State.idle
    assert m.context.request_id == "req-1"
    assert m.context.provider == ""
    assert m.history[-1] == "idle"


def test_restart_retry_discards_the_streamed_chunks_and_counts_a_restart() -> None:
    m = _requesting(stream=True)
    m.transition(Event.receive_stream_chunk(chunk="Hel", index=0))
    m.transition(Event.request_failed("reset", "CONNECTION_ERROR", retryable=True))
    m.transition(Event.retry_request(restart=True))
    ctx = m.context
    assert m.state == State.retrying
    assert (ctx.response, ctx.chunk_count, ctx.restarts, ctx.retry_count) == ("", 0, 1, 1)
    m.transition(Event.send_request())
    m.transition(Event.receive_stream_chunk(chunk="Hello", index=0))
    m.transition(Event.stream_complete())
    assert (m.state, ctx.response, ctx.restarts) == (State.completed, "Hello", 1)


def test_restart_after_a_rate_limit_mid_stream() -> None:
    m = _requesting(stream=True)
    m.transition(Event.receive_stream_chunk(chunk="a", index=0))
    m.transition(Event.rate_limit_hit(retry_after_ms=10))
    m.transition(Event.retry_request(restart=True))
    assert (m.state, m.context.restarts, m.context.response) == (State.retrying, 1, "")


def test_restart_fallback_discards_the_streamed_chunks() -> None:
    m = _requesting(stream=True)
    m.transition(Event.receive_stream_chunk(chunk="a", index=0))
    m.transition(Event.request_failed("reset", "CONNECTION_ERROR"))
    m.transition(Event.fallback_to_provider("gemini", restart=True))
    ctx = m.context
    assert (m.state, ctx.provider, ctx.restarts, ctx.response) == (
        State.requesting,
        "gemini",
        1,
        "",
    )


def test_retry_request_with_the_seeds_attempt_number() -> None:
    m = _requesting()
    m.transition(Event.request_failed("boom", "SERVER_ERROR", retryable=True))
    with pytest.raises(InvalidTransitionError, match=r"attempt=2 .* number 1") as info:
        m.transition(Event.retry_request(attempt=2))
    assert (info.value.state, info.value.event) == ("failed", "retry_request")
    assert m.state == State.failed
    m.transition(Event.retry_request(attempt=1))
    assert m.context.retry_count == 1


def test_request_failed_takes_the_error_positionally_and_no_code() -> None:
    m = _requesting()
    m.transition(Event.request_failed("boom"))
    ctx = m.context
    assert (m.state, ctx.error, ctx.error_code, ctx.retryable) == (
        State.failed,
        "boom",
        None,
        False,
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Event.validation_failed(reason="no messages"), "no messages"),
        (Event.validation_failed(error="no messages"), "no messages"),
        (Event.validation_failed("no messages"), "no messages"),
        (Event.validation_failed(), "request validation failed"),
    ],
)
def test_validation_failed_accepts_reason_or_error(event: Event, message: str) -> None:
    m = _machine()
    m.transition(_initiate(stream=False))
    m.transition(event)
    assert (m.state, m.context.error, m.context.error_code) == (
        State.failed,
        message,
        "VALIDATION_ERROR",
    )


def test_validation_failed_refuses_both_reason_and_error() -> None:
    with pytest.raises(ValueError, match="reason or error"):
        Event.validation_failed(reason="a", error="b")


def test_context_is_a_live_view() -> None:
    m = _requesting()
    ctx = m.context
    m.transition(Event.request_failed(error="slow", code="TIMEOUT", retryable=True))
    assert (ctx.error, ctx.error_code, ctx.retryable) == ("slow", "TIMEOUT", True)


def test_events_are_reusable_values() -> None:
    event = Event.receive_stream_chunk(chunk="Hello", index=0)
    assert event.name == "receive_stream_chunk"
    assert repr(event) == "Event.receive_stream_chunk(chunk='Hello', index=0)"
    assert event == Event.receive_stream_chunk(chunk="Hello", index=0)
    assert Event.reset() != Event.complete()
    assert repr(Event.retry_request(attempt=2, restart=True)) == (
        "Event.retry_request(attempt=2, restart=True)"
    )
    assert repr(Event.request_failed("boom")) == (
        "Event.request_failed(error='boom', code=None, retryable=False)"
    )
    assert repr(Event.fallback_to_provider("openai/gpt-4o-mini", restart=True)) == (
        "Event.fallback_to_provider(provider='openai/gpt-4o-mini', model=None, "
        "max_retries=None, restart=True)"
    )
    names = {
        Event.validate_request().name,
        Event.validation_failed(error="e").name,
        Event.complete().name,
        Event.rate_limit_hit(retry_after_ms=1000).name,
    }
    assert names == {"validate_request", "validation_failed", "complete", "rate_limit_hit"}


def test_states_are_hashable_and_print_snake_case() -> None:
    assert {State.rate_limited: 1}[State.rate_limited] == 1
    assert str(State.rate_limited) == "rate_limited"
    assert State.failed.is_terminal
    assert not State.streaming.is_terminal


def test_bad_arguments_raise_type_errors() -> None:
    with pytest.raises(TypeError):
        ProviderStateMachine("r", fallback_providers="gemini")
    with pytest.raises(TypeError, match="index must be an int"):
        Event.receive_stream_chunk(chunk="x", index="0")  # type: ignore[arg-type]
